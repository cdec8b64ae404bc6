"""Training throughput of a re-creation of the reference code's training loop, on this machine.

    python benchmarks/reference_style.py --arch vgg19 --data DIR --iters 20 --json

Issue 5's reference figures come from another CPU, and the reference scripts cannot be run here
(they need a network download of CIFAR and an old torch). To compare on the same machine, this
script trains the same architecture the way the reference scripts do (facts from the paper's
public code, written fresh here):

- data: one PIL image per sample through torchvision transforms (Pad 4, RandomCrop 32, flip,
  ToTensor, Normalize) in a DataLoader with batch 64, shuffle and no worker processes (the
  reference passes ``num_workers`` only when CUDA is used);
- channel selection: after every selection point, a numpy ``argwhere`` over an all-ones
  parameter vector and a fancy-index gather of the selected channels, even when all are kept;
- step: fp32, NCHW, SGD (momentum 0.9, weight decay 1e-4) over all parameters, the loss read to
  the host every step (``loss.data[0]`` in the reference) and the batch accuracy summed on the
  host every step.

The network itself is prunelab's (same layer shapes and MACs as the reference's); only the
selection layers are swapped for the reference-style ones. Prints images/s of the measured steps.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision import transforms

from prunelab.arch import build, resolve
from prunelab.arch.layers import ChannelSelection
from prunelab.data.sources import load_cifar

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


class ArgwhereSelection(nn.Module):
    """Reference-style selection: host-side index lookup and gather on every forward."""

    def __init__(self, num_channels: int):
        super().__init__()
        self.indexes = nn.Parameter(torch.ones(num_channels))

    def forward(self, x):
        idx = np.squeeze(np.argwhere(self.indexes.data.cpu().numpy()))
        if idx.size == 1:
            idx = np.resize(idx, (1,))
        return x[:, idx, :, :]


class PILImages(torch.utils.data.Dataset):
    """A torchvision-CIFAR-style dataset: HWC uint8 array -> PIL image -> transform, per sample."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def reference_style(model: nn.Module) -> nn.Module:
    for m in list(model.modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, ChannelSelection):
                setattr(m, child_name, ArgwhereSelection(child.num_channels))
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--data", required=True, help="folder holding cifar-10-batches-py/")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    x_all, y_all = load_cifar(args.dataset, args.data)["train"]
    n = args.batch_size * (args.iters + args.warmup)
    images = x_all[:n].permute(0, 2, 3, 1).contiguous().numpy()  # NCHW uint8 -> HWC, as PIL wants
    labels = y_all[:n].numpy()
    tf = transforms.Compose([transforms.Pad(4), transforms.RandomCrop(32), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    loader = torch.utils.data.DataLoader(PILImages(images, labels, tf), batch_size=args.batch_size, shuffle=True)
    spec = resolve(args.arch, args.dataset)
    model = reference_style(build(spec, seed=0, device="cpu"))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    model.train()
    seen, avg_loss, correct, t0 = 0, 0.0, 0, None
    for step, (x, y) in enumerate(loader):
        if step == args.warmup:
            t0 = time.perf_counter()
        opt.zero_grad()
        out = model(x)
        loss = F.cross_entropy(out, y)
        avg_loss += loss.item()
        pred = out.data.max(1, keepdim=True)[1]
        correct += int(pred.eq(y.view_as(pred)).cpu().sum())
        loss.backward()
        opt.step()
        if t0 is not None:
            seen += len(y)
    img_s = seen / (time.perf_counter() - t0)
    result = {"arch": spec.name, "loop": "reference-style", "batch_size": args.batch_size, "iters": args.iters,
              "threads": torch.get_num_threads(), "img_s": round(img_s, 1), "torch": torch.__version__}
    print(json.dumps(result) if args.json else f"{spec.name} reference-style: {result['img_s']} img/s")


if __name__ == "__main__":
    main()
