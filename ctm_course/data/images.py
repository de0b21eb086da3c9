"""One loader for the course's image data sets: ``load_images(name, train)``.

``name`` is ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"``. Where each set's files are looked
for (``root``, ``$CTM_COURSE_DATA``, ``./data``, a torchvision download, the sample shipped with
the package) is in :mod:`.mnist` and :mod:`.cifar10`; :mod:`.sources` ranks the kinds of copy.
``load_mnist``, ``load_fashion_mnist`` and ``load_cifar10`` are the same loader with the name
filled in.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from . import cifar10, mnist
from .image_data import ImageData

DATASETS = ("mnist", "fashion-mnist", "cifar10")


def load_images(
    name: str,
    train: bool = True,
    root: str | Path | None = None,
    download: bool = True,
    verbose: bool = True,
) -> ImageData:
    """Load the training (``train=True``) or the official test split of data set ``name``.

    Args:
        name: ``"mnist"`` (60,000 training images; 5,000 in the offline subset), ``"fashion-mnist"``
            (60,000) or ``"cifar10"`` (50,000); each has a 10,000-image test split.
        train: the training split or the test split.
        root: a folder to use instead of the search; with ``download=True`` the data are
            downloaded into it when it holds nothing.
        download: allow a download (into ``root``, or ``./data``) when no copy is found.
        verbose: print the one-line note about which copy was used (kept in ``ImageData.note``).

    Returns:
        :class:`ImageData` with labels ``(N,)`` int64 and the class names. MNIST-like images are
        ``(N, 1, 28, 28)`` float32 in [0, 1]; CIFAR-10 images stay **uint8** ``(N, 3, 32, 32)``
        (convert them batch by batch with :func:`ctm_course.data.test_transform`).
        ``ImageData.source`` says which kind of copy was used.

    Raises:
        ValueError: an unknown ``name``, or a corrupt file under an explicit ``root``.
        FileNotFoundError: ``root`` is given and holds no usable copy.
    """
    if name == "cifar10":
        return cifar10.load_split(train, root, download, verbose)
    specs = {"mnist": mnist.MNIST_SPEC, "fashion-mnist": mnist.FASHION_MNIST_SPEC}
    if name not in specs:
        raise ValueError(
            f"load_images: unknown data set {name!r}; choose one of {DATASETS}"
        )
    return mnist.load_split(specs[name], train, root, download, verbose)


# The same loader with the data set's name filled in: ``load_mnist(train=False)``.
load_mnist = partial(load_images, "mnist")
load_fashion_mnist = partial(load_images, "fashion-mnist")
load_cifar10 = partial(load_images, "cifar10")
