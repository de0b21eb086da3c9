"""Data for the course: MNIST-like data sets as tensors, batches and augmentation.

* :func:`load_images` (``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``; :func:`load_mnist`,
  :func:`load_fashion_mnist` and :func:`load_cifar10` fill in the name) -> :class:`ImageData` (images ``(N, 1, 28, 28)``
  float32 in [0, 1], labels ``(N,)`` int64), found in ``root``, ``$CTM_COURSE_DATA``, ``./data``,
  a torchvision download, or the small sample shipped with the package (in that order);
  ``ImageData.source`` says which kind was used (:mod:`.sources` ranks the kinds, :mod:`.image_data` holds
  :class:`ImageData`).
* CIFAR-10 comes as :class:`ImageData` with uint8 images ``(N, 3, 32, 32)``, and its batched
  pipelines :func:`keras_train_transform` (training only) and :func:`test_transform`.
* :func:`batches` (one epoch) and :class:`InfiniteBatches` (endless, resumable) for training.
* :func:`random_shift`, :func:`random_affine`: batch-wise train-time augmentation.
* :func:`read_idx_images`, :func:`read_idx_labels`, :func:`write_idx`: the idx file format.
* :mod:`ctm_course.data.thorat2021`: the published results of Thorat et al. (2021) that lesson 5
  compares with (:func:`~ctm_course.data.thorat2021.paper_numbers`).
"""

from __future__ import annotations

from .augment import random_affine, random_shift, shift_images
from .cifar10 import keras_train_transform, test_transform
from .idx import read_idx, read_idx_images, read_idx_labels, write_idx
from .image_data import ImageData
from .images import DATASETS, load_cifar10, load_fashion_mnist, load_images, load_mnist
from .loader import (
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    MNIST_MEAN,
    MNIST_STD,
    InfiniteBatches,
    batches,
    normalise,
)
from .mnist import ENV_VAR
from .sources import DATA_SOURCES, SOURCES, worst_source

__all__ = [
    "DATASETS",
    "DATA_SOURCES",
    "ENV_VAR",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "MNIST_MEAN",
    "MNIST_STD",
    "SOURCES",
    "ImageData",
    "InfiniteBatches",
    "batches",
    "keras_train_transform",
    "load_cifar10",
    "load_fashion_mnist",
    "load_images",
    "load_mnist",
    "normalise",
    "random_affine",
    "random_shift",
    "read_idx",
    "read_idx_images",
    "read_idx_labels",
    "shift_images",
    "test_transform",
    "worst_source",
    "write_idx",
]
