"""Small vision transformers for CIFAR-style inputs (family ``vit``), and the attention layer whose
heads prunelab prunes (shared with ``torchvision:vit_*``).

A ViT as in Dosovitskiy et al. 2021 (pre-norm blocks, learned position embeddings, GELU MLPs): a
patch-embedding conv (kernel = stride = ``patch``), ``depth`` blocks, a LayerNorm and a linear head
on the mean of the tokens (global average pooling, the paper's alternative to a class token);
linear layers start Xavier-uniform (``init_own_weights``). Prunable per block: its attention *heads* (each head owns
``head_dim`` query, key and value rows and the output projection's columns that read them: removing
a head removes all four, as Michel et al. 2019 prune heads) and its MLP's hidden width (the first
linear layer's outputs and the second's inputs, coupled through Torch-Pruning). The embedding width
``dim`` (the residual stream) and ``head_dim`` stay.

Layout: ``{"patch": 4, "dim": 64, "head_dim": 16, "blocks": [{"heads": 4, "mlp": 128}, ...]}``;
names ``vit<depth>`` (``vit6``: 6 blocks of 4 heads of 32, MLP 256, ``dim`` 128; patch 4 for
inputs divisible by 4, else 2 or 1).
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import PrunelabError
from .family import Family
from .units import Unit

DIM, HEADS, HEAD_DIM, MLP = 128, 4, 32, 256


class HeadAttention(nn.Module):
    """Multi-head self-attention whose heads can be removed: ``qkv`` holds the query, key and value
    rows of every head (``[q; k; v]``, head h's rows h*d .. h*d+d-1 within each, as
    ``nn.MultiheadAttention``'s ``in_proj_weight``), ``proj`` reads the heads' outputs."""

    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        self.num_heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(dim, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, dim)

    @property
    def out_units(self) -> int:
        return self.num_heads

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        h, d = self.num_heads, self.head_dim
        q, k, v = self.qkv(x).reshape(b, n, 3, h, d).permute(2, 0, 3, 1, 4)
        # explicit matmuls (not F.scaled_dot_product_attention): torch's FLOP counter sees them on any device
        attn = ((q @ k.transpose(-2, -1)) * d ** -0.5).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, h * d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attend(x)

    def unit_weights(self) -> torch.Tensor:
        """Each head's own weights as one row (heads x (4 * head_dim * dim)): its query, key and value
        rows and the output projection's columns that read it — a head's "filter"."""
        h, d = self.num_heads, self.head_dim
        dim = self.qkv.in_features
        qkv = self.qkv.weight.detach().reshape(3, h, d, dim).transpose(0, 1).reshape(h, -1)
        proj = self.proj.weight.detach().reshape(dim, h, d).permute(1, 2, 0).reshape(h, -1)
        return torch.cat([qkv, proj], dim=1)

    @torch.no_grad()
    def keep_heads(self, keep: list[int]) -> None:
        """Remove every head not in ``keep`` (Torch-Pruning's linear-layer cuts)."""
        import torch_pruning as tp

        h, d = self.num_heads, self.head_dim
        drop = sorted(set(range(h)) - set(keep))
        cols = [i * d + j for i in drop for j in range(d)]
        if cols:
            tp.prune_linear_out_channels(self.qkv, [s * h * d + c for s in range(3) for c in cols])
            tp.prune_linear_in_channels(self.proj, cols)
        self.num_heads = h - len(drop)


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, mlp: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = HeadAttention(dim, heads, head_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential()
        self.mlp.add_module("fc1", nn.Linear(dim, mlp))
        self.mlp.add_module("act", nn.GELU())
        self.mlp.add_module("fc2", nn.Linear(mlp, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, spec):
        super().__init__()
        L = spec.layout
        dim, p = L["dim"], L["patch"]
        self.patch = nn.Conv2d(spec.in_channels, dim, p, p)
        tokens = (spec.input_size // p) ** 2
        # N(0, 0.02) as the ViT paper's code; prunelab's init_weights leaves this parameter alone
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, b["heads"], L["head_dim"], b["mlp"]) for b in L["blocks"]])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, spec.num_classes)

    @torch.no_grad()
    def init_own_weights(self) -> None:
        """After prunelab's one initialisation (``layers.init_weights``): Xavier-uniform linear layers
        with zero biases, as the ViT paper's code (N(0, 0.01) leaves every block's branch ~10x too weak
        to move under SGD: 21-34% top-1 after one epoch on Fashion-MNIST, measured)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2) + self.pos_embed
        return self.head(self.norm(self.blocks(x)).mean(dim=1))


def layout(depth: int, input_size: int) -> dict:
    patch = next(p for p in (4, 2, 1) if input_size % p == 0)
    return {"patch": patch, "dim": DIM, "head_dim": HEAD_DIM, "blocks": [{"heads": HEADS, "mlp": MLP}] * depth}


def _positive(spec, v, what):
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise PrunelabError(f"{spec.name}: {what} {v!r} must be a positive integer")


def validate(spec) -> None:
    L = spec.layout
    if set(L) != {"patch", "dim", "head_dim", "blocks"}:
        raise PrunelabError(f"{spec.name}: a vit layout has exactly the keys 'patch', 'dim', 'head_dim' and 'blocks'")
    for key in ("patch", "dim", "head_dim"):
        _positive(spec, L[key], key)
    if spec.input_size % L["patch"]:
        raise PrunelabError(f"{spec.name}: patch {L['patch']} does not divide the {spec.input_size}px input")
    if not isinstance(L["blocks"], list) or not L["blocks"]:
        raise PrunelabError(f"{spec.name}: 'blocks' must list at least one {{heads, mlp}} block")
    for b in L["blocks"]:
        if not isinstance(b, dict) or set(b) != {"heads", "mlp"}:
            raise PrunelabError(f"{spec.name}: each block is {{heads: H, mlp: M}}, not {b!r}")
        _positive(spec, b["heads"], "heads")
        _positive(spec, b["mlp"], "mlp width")


def widths(spec) -> dict[str, int]:
    out = {}
    for i, b in enumerate(spec.layout["blocks"]):
        out[f"blocks.{i}.attn"] = b["heads"]
        out[f"blocks.{i}.mlp.fc1"] = b["mlp"]
    return out


def set_widths(layout: dict, new: dict[str, int]) -> None:
    for name, k in new.items():
        i = int(name.split(".")[1])
        layout["blocks"][i] = {**layout["blocks"][i], "heads" if name.endswith(".attn") else "mlp": k}


def estimate(spec) -> tuple[int, int]:
    L, c = spec.layout, spec.in_channels
    dim, d = L["dim"], L["head_dim"]
    tokens = (spec.input_size // L["patch"]) ** 2
    params = c * L["patch"] ** 2 * dim + dim + dim * tokens + 2 * dim + dim * spec.num_classes + spec.num_classes
    for b in L["blocks"]:
        a, m = b["heads"] * d, b["mlp"]
        params += 4 * dim + (dim * 3 * a + 3 * a) + (a * dim + dim) + (dim * m + m) + (m * dim + dim)
    return 2 + 4 * len(L["blocks"]), params


def units(spec):
    for i in range(len(spec.layout["blocks"])):
        yield Unit(f"blocks.{i}.attn", ("blocks", i, "heads"), 0, i, "heads")
        yield Unit(f"blocks.{i}.mlp.fc1", ("blocks", i, "mlp"), 0, i, "mlp")


def scale(spec, sc, clamp: bool) -> dict:
    """Heads, MLP widths and the embedding width ``dim`` scaled (head_dim stays)."""
    L = spec.to_dict()["layout"]
    L["dim"] = sc(L["dim"])
    L["blocks"] = [{"heads": sc(b["heads"]), "mlp": sc(b["mlp"])} for b in L["blocks"]]
    return L


FAMILY = Family("vit", ViT, validate, widths, set_widths, estimate, units=units, scale=scale)
