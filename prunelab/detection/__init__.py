"""Transfer to object detection (the paper's last task): detection data (a small set built from
Fashion-MNIST, PASCAL VOC 2007 from a local folder), Faster R-CNN on a prunelab classifier's
feature extractor, and mAP by pycocotools (COCO's AP@[.5:.95], AP50 and VOC07's 11-point AP)."""
