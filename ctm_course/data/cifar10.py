"""CIFAR-10 as uint8 tensors, from wherever it can be found, and its batched train/test pipelines.

:func:`ctm_course.data.load_images` (``"cifar10"``) looks for a split in this order and uses the first one that holds it:

1. ``root``, when given (with ``download=True`` a torchvision download into it is tried when it is empty);
2. the folder named by ``$CTM_COURSE_DATA``: ``<folder>/cifar10/cifar10-jpeg.npz`` (the course's
   offline copy: all 60,000 images, JPEG-recompressed, so accuracies can differ a little from the
   original release) or torchvision's ``<folder>/cifar-10-batches-py/``;
3. torchvision's usual cache, ``./data/cifar-10-batches-py/``;
4. a download with torchvision into ``./data`` (``torchvision.datasets.CIFAR10``, which checks the
   archive's md5);
5. the small sample shipped inside this package (200 training and 100 test images).

The images stay **uint8** ``(N, 3, 32, 32)`` (50,000 training images are 150 MB as uint8, four
times that as float32): move them to the GPU once and convert each batch with
:func:`keras_train_transform` (training: resize, random crop, flip) or :func:`test_transform`
(resize only). Both work on whole batches on any device.
"""

from __future__ import annotations

import importlib.resources
import io
import pickle  # noqa: S403 - only for torchvision's own CIFAR-10 batches, whose md5 torchvision checked
import socket
from functools import lru_cache
from pathlib import Path
from pickle import UnpicklingError
from zipfile import BadZipFile

import numpy as np
import torch
import torch.nn.functional as F

from .image_data import ImageData
from .sources import DOWNLOAD_TIMEOUT_S, ENV_VAR, CopyFinder, short_error

CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""Class names in torchvision's order (label k is ``CLASSES[k]``)."""
OFFLINE_FILE = Path("cifar10") / "cifar10-jpeg.npz"
TV_FOLDER = "cifar-10-batches-py"
SAMPLE_FILE = "cifar10_sample.npz"
FULL = {"train": 50_000, "test": 10_000}


# --------------------------------------------------------------------------------------------
# Reading the two layouts
# --------------------------------------------------------------------------------------------
def decode_jpegs(
    blob: np.ndarray, offsets: np.ndarray, index: np.ndarray | None = None
) -> np.ndarray:
    """Decode JPEG images concatenated in ``blob`` (image i is ``blob[offsets[i]:offsets[i+1]]``).

    Args:
        blob: ``(bytes,)`` uint8.
        offsets: ``(n + 1,)`` int64.
        index: which images to decode (default all).

    Returns:
        ``(len(index), 3, H, W)`` uint8.
    """
    from PIL import Image

    index = np.arange(len(offsets) - 1) if index is None else np.asarray(index)
    out = None
    for row, i in enumerate(index):
        with Image.open(io.BytesIO(blob[offsets[i] : offsets[i + 1]].tobytes())) as im:
            pixels = np.asarray(im.convert("RGB"))
        if out is None:
            out = np.empty((len(index), 3, *pixels.shape[:2]), dtype=np.uint8)
        out[row] = pixels.transpose(2, 0, 1)
    return out if out is not None else np.empty((0, 3, 32, 32), dtype=np.uint8)


@lru_cache(maxsize=4)
def _read_npz(path: str, split: str, mtime: float) -> tuple[np.ndarray, np.ndarray]:
    """Decoded ``(images (N, 3, 32, 32) uint8, labels (N,) uint8)``; decoded once per process.

    The JPEG copies store each split class by class. They are returned in one fixed shuffled order
    (seed 0), so that a prefix is a fair sample of all ten classes, as in the original release: the
    Keras example trains on the *first* 40,000 training images, which in class order would be eight
    classes only.
    """
    with np.load(path, allow_pickle=False) as z:
        images = decode_jpegs(z[f"{split}_jpeg"], z[f"{split}_offsets"])
        labels = z[f"{split}_labels"].astype(np.uint8)
    if len(images) != len(labels):
        raise ValueError(
            f"{path}: {len(images)} {split} images but {len(labels)} labels"
        )
    order = np.random.default_rng(0).permutation(len(labels))
    return images[order], labels[order]


def _read_torchvision(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    names = (
        [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    )
    images, labels = [], []
    for name in names:
        with open(folder / name, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")  # noqa: S301 - torchvision's own files
        images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(
            np.asarray(entry.get("labels", entry.get("fine_labels")), dtype=np.uint8)
        )
    return np.concatenate(images), np.concatenate(labels)


def _find(folder: Path, split: str) -> tuple[str, Path] | None:
    """``("npz", file)`` or ``("torchvision", folder)`` for the copy of ``split`` under ``folder``."""
    if (folder / OFFLINE_FILE).is_file():
        return "npz", folder / OFFLINE_FILE
    tv = folder / TV_FOLDER
    names = (
        [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    )
    if all((tv / n).is_file() for n in names):
        return "torchvision", tv
    return None


def _read(found: tuple[str, Path], split: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Images, labels and source kind of a found copy; a damaged copy raises ``ValueError``."""
    kind, path = found
    try:
        if kind == "npz":
            images, labels = _read_npz(str(path), split, path.stat().st_mtime)
            source = "offline-full" if len(images) == FULL[split] else "offline-subset"
        else:
            images, labels = _read_torchvision(path, split)
            source = "download" if len(images) == FULL[split] else "offline-subset"
    except (
        OSError,
        EOFError,
        KeyError,
        ValueError,
        BadZipFile,
        UnpicklingError,
    ) as err:
        raise ValueError(
            f"{path}: corrupt or truncated CIFAR-10 copy ({short_error(err)})"
        ) from err
    return images, labels, source


def _download(root: Path) -> None:
    """torchvision's CIFAR-10 download into ``root`` (md5 of the archive checked by torchvision)."""
    import torchvision

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        torchvision.datasets.CIFAR10(str(root), train=True, download=True)
    finally:
        socket.setdefaulttimeout(old)


def _sample(split: str) -> tuple[np.ndarray, np.ndarray, str]:
    resource = importlib.resources.files("ctm_course.data").joinpath(
        "sample", SAMPLE_FILE
    )
    with importlib.resources.as_file(resource) as path:
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"CIFAR-10: the package's sample {path} is missing; regenerate it with "
                "`python scripts/make_cifar10_sample.py SRC_DIR` in the course repository"
            )
        images, labels = _read_npz(str(path), split, Path(path).stat().st_mtime)
        return images, labels, str(path)


def _note(data: ImageData, where: str, reason: str) -> str:
    n, split, full = len(data), data.split, FULL[data.split]
    head = f"CIFAR-10 {split}:"
    if data.source == "sample":
        return (
            f"WARNING: {head} only the {n:,}-image sample shipped with ctm_course ({reason}) - the numbers "
            f"mean little (the full split has {full:,}); good for a smoke test only. For the real data, "
            f"allow the download or set ${ENV_VAR} to a folder holding {OFFLINE_FILE}."
        )
    if data.source == "offline-full":
        return (
            f"{head} all {n:,} images (offline JPEG copy) from {where} - JPEG recompression makes "
            "accuracies differ slightly from the original release."
        )
    if data.source == "download":
        return f"{head} torchvision's {n:,} images from {where}{reason}."
    return f"{head} {n:,} images from {where}; the full split has {full:,}."


# --------------------------------------------------------------------------------------------
# The loader behind ``load_images("cifar10", ...)``
# --------------------------------------------------------------------------------------------
def load_split(
    train: bool, root: str | Path | None, download: bool, verbose: bool
) -> ImageData:
    """The CIFAR-10 training (50,000) or test (10,000) split, images **uint8** ``(N, 3, 32, 32)``."""
    split = "train" if train else "test"

    def sample() -> tuple[tuple[np.ndarray, np.ndarray, str], str]:
        images, labels, where = _sample(split)
        return (images, labels, "sample"), where

    finder = CopyFinder(
        name="CIFAR-10",
        find=lambda folder: _find(folder, split),
        read=lambda found, folder: _read(found, split),
        download=_download,
        sample=sample,
        expected=lambda folder: (
            f"{folder / OFFLINE_FILE} or torchvision's {folder / TV_FOLDER}/"
        ),
        verified="md5 checked by torchvision",
    )
    found = finder.locate(root, download, verbose)
    (images, labels, source), where, reason = found.data, found.where, found.reason
    data = ImageData(
        torch.from_numpy(np.ascontiguousarray(images)),
        torch.from_numpy(labels).long(),
        list(CLASSES),
        source,
        where,
        "CIFAR-10",
        split,
    )
    data.note = _note(data, where, reason)
    if verbose:
        print(data.note)
    return data


# --------------------------------------------------------------------------------------------
# Batched pipelines (any device): uint8 in, float32 in [0, 1] out
# --------------------------------------------------------------------------------------------
def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, 3, H, W)`` -> float32 in [0, 1] (floating input is returned as float32 unchanged)."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of ``(B, C, H, W)`` to ``(B, C, size, size)`` (a no-op at the same size)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(
        images, size=(size, size), mode="bilinear", align_corners=False, antialias=False
    )


def random_crop(
    images: torch.Tensor, size: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A random ``size x size`` window of each image (its own offset per image), by one gather."""
    b, c, h, w = images.shape
    if size > min(h, w):
        raise ValueError(
            f"random_crop: size {size} is larger than the images ({h}x{w})"
        )
    gdev = generator.device if generator is not None else images.device
    top = torch.randint(0, h - size + 1, (b,), generator=generator, device=gdev).to(
        images.device
    )
    left = torch.randint(0, w - size + 1, (b,), generator=generator, device=gdev).to(
        images.device
    )
    ar = torch.arange(size, device=images.device)
    rows = (top[:, None] + ar)[:, None, :, None]  # (B, 1, size, 1)
    cols = (left[:, None] + ar)[:, None, None, :]  # (B, 1, 1, size)
    bi = torch.arange(b, device=images.device)[:, None, None, None]
    ci = torch.arange(c, device=images.device)[None, :, None, None]
    return images[bi, ci, rows, cols]


def random_flip(
    images: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    gdev = generator.device if generator is not None else images.device
    flip = (torch.rand(images.shape[0], generator=generator, device=gdev) < 0.5).to(
        images.device
    )
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def keras_train_transform(
    images: torch.Tensor,
    image_size: int,
    resize_to: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The Keras example's training pipeline on a batch: /255, resize to ``resize_to``, random crop
    ``image_size``, random horizontal flip. ``resize_to`` defaults to ``image_size + image_size // 12``
    (52 for 48, as in the example). Apply it to **training** batches only.

    Args:
        images: ``(B, 3, H, W)`` uint8 (or float in [0, 1]) on any device.

    Returns:
        ``(B, 3, image_size, image_size)`` float32 in [0, 1].
    """
    resize_to = resize_to or image_size + image_size // 12
    x = resize(to_float(images), resize_to)
    return random_flip(random_crop(x, image_size, generator), generator)


def test_transform(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """The evaluation pipeline: /255 and a plain resize to ``image_size`` (no randomness at all)."""
    return resize(to_float(images), image_size)


test_transform.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
