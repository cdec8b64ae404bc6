"""Datasets: CIFAR pickles, ImageNet folders, Fashion-MNIST idx files, synthetic; batched augmentation."""
from .datasets import DataSettings, FolderData, TensorData, load

__all__ = ["DataSettings", "FolderData", "TensorData", "load"]
