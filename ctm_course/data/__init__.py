"""Data for the course: MNIST-like data sets as tensors, batches and augmentation.

* :func:`load_mnist`, :func:`load_fashion_mnist` -> :class:`ImageData` (images ``(N, 1, 28, 28)``
  float32 in [0, 1], labels ``(N,)`` int64), found in ``root``, ``$CTM_COURSE_DATA``, ``./data``,
  a torchvision download, or the small sample shipped with the package (in that order);
  ``ImageData.source`` says which kind was used.
* :func:`batches` (one epoch) and :class:`InfiniteBatches` (endless, resumable) for training.
* :func:`random_shift`, :func:`random_affine`: batch-wise train-time augmentation.
* :func:`read_idx_images`, :func:`read_idx_labels`, :func:`write_idx`: the idx file format.
"""
from __future__ import annotations

from .augment import random_affine, random_shift, shift_images
from .idx import read_idx, read_idx_images, read_idx_labels, write_idx
from .loader import (
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    MNIST_MEAN,
    MNIST_STD,
    InfiniteBatches,
    batches,
    normalise,
)
from .mnist import ENV_VAR, SOURCES, ImageData, load_fashion_mnist, load_mnist

__all__ = [
    "ENV_VAR",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "MNIST_MEAN",
    "MNIST_STD",
    "SOURCES",
    "ImageData",
    "InfiniteBatches",
    "batches",
    "load_fashion_mnist",
    "load_mnist",
    "normalise",
    "random_affine",
    "random_shift",
    "read_idx",
    "read_idx_images",
    "read_idx_labels",
    "shift_images",
    "write_idx",
]
