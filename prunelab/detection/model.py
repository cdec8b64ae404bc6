"""Faster R-CNN (torchvision's) on a prunelab classifier's convolutional part: the backbone shares
the classifier's modules and weights (pruned or not), as the paper transfers ImageNet classifiers
to detection. The family must offer ``features`` (arch/family.py)."""
from __future__ import annotations

from torch import nn

from ..arch.families import require


def detector(classifier: nn.Module, num_classes: int, min_size: int, max_size: int,
             anchor_sizes: tuple[int, ...] = (16, 32, 64), aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0),
             image_mean: list[float] | None = None, image_std: list[float] | None = None, representation: int = 1024,
             proposals: int = 2000, rois_per_image: int = 512) -> nn.Module:
    """A Faster R-CNN whose backbone is ``classifier``'s feature extractor (one feature map, no FPN).
    ``num_classes`` counts the background; images are normalised by ``image_mean``/``image_std``
    (default: none, as prunelab's data comes normalised) and resized to ``min_size``..``max_size``.
    ``representation``: the box head's two fully connected layers' width; ``proposals``: the RPN's
    proposals kept per image in training (half of it in evaluation); ``rois_per_image``: the
    proposals sampled per image for the box head's loss (torchvision's defaults: 1024, 2000, 512)."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    spec = classifier.arch_spec
    features, channels = require(spec, ("features",), "a detector").features(classifier)
    backbone = nn.Sequential(features)
    backbone.out_channels = channels
    anchors = AnchorGenerator(sizes=(tuple(anchor_sizes),), aspect_ratios=(tuple(aspect_ratios),))
    mean = image_mean if image_mean is not None else [0.0] * spec.in_channels
    std = image_std if image_std is not None else [1.0] * spec.in_channels
    model = FasterRCNN(backbone, rpn_anchor_generator=anchors,
                       box_roi_pool=MultiScaleRoIAlign(["0"], output_size=7, sampling_ratio=2),
                       box_head=TwoMLPHead(channels * 7 * 7, representation),
                       box_predictor=FastRCNNPredictor(representation, num_classes),
                       rpn_pre_nms_top_n_train=proposals, rpn_post_nms_top_n_train=proposals,
                       rpn_pre_nms_top_n_test=max(1, proposals // 2), rpn_post_nms_top_n_test=max(1, proposals // 2),
                       box_batch_size_per_image=rois_per_image,
                       min_size=min_size, max_size=max_size, image_mean=mean, image_std=std)
    model.backbone_spec = spec  # the architecture the backbone comes from (pruned or not)
    return model
