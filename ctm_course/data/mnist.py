"""MNIST and Fashion-MNIST as in-memory tensors, from wherever they can be found.

:func:`ctm_course.data.load_images` (``"mnist"`` or ``"fashion-mnist"``) looks for a split
in this order and uses the first one that holds it:

1. ``root``, when given (with ``download=True`` a download into it is tried when it is empty);
2. the folder named by the environment variable ``CTM_COURSE_DATA``;
3. torchvision's usual cache, ``./data``;
4. a download with torchvision into ``./data``, its files checked against the md5 sums in
   torchvision's own resource list (``torchvision.datasets.MNIST.resources``);
5. the small sample shipped inside this package (2,000 training and 1,000 test images).

Each folder may use either layout::

    <root>/mnist/t10k-images-idx3-ubyte.gz           the course's offline layout
    <root>/mnist/train-images-idx3-ubyte.gz          (full training set: "offline-full")
    <root>/mnist/train-5k-images-idx3-ubyte.gz       (5,000-image subset: "offline-subset")
    <root>/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
    <root>/MNIST/raw/train-images-idx3-ubyte[.gz]    torchvision's layout ("download")
    <root>/FashionMNIST/raw/...

One printed note says which copy was used and what that means for the numbers; the same text is
kept in :attr:`ImageData.note` and the kind of copy in :attr:`ImageData.source`.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .idx import read_idx_images, read_idx_labels
from .image_data import ImageData  # re-exported: ctm_course.data.mnist.ImageData
from .sources import (
    DOWNLOAD_TIMEOUT_S,
    ENV_VAR,
    SOURCES,  # noqa: F401 - re-exported: ctm_course.data.mnist.SOURCES
    CopyFinder,
    short_error,
)


# --------------------------------------------------------------------------------------------
# Data sets and where their files live
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Spec:
    name: str  # for messages
    offline_dir: str  # folder in the course's offline layout
    tv_name: str  # torchvision class name = folder in torchvision's layout
    classes: tuple[str, ...]
    sample_file: str
    full_train: int = 60_000
    full_test: int = 10_000


MNIST_SPEC = _Spec(
    "MNIST", "mnist", "MNIST", tuple(str(d) for d in range(10)), "mnist_sample.npz"
)
FASHION_MNIST_SPEC = _Spec(
    "Fashion-MNIST",
    "fashion-mnist",
    "FashionMNIST",
    (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "fashion_mnist_sample.npz",
)


@dataclass(frozen=True)
class _Found:
    images: Path
    labels: Path
    source: str


def _existing(folder: Path, stem: str) -> Path | None:
    """``folder/stem`` or ``folder/stem.gz``, whichever exists first (plain is faster to read)."""
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _find(root: Path, spec: _Spec, train: bool) -> _Found | None:
    """The files of one split under ``root`` in either layout, or ``None``."""
    prefix = "train" if train else "t10k"
    offline = root / spec.offline_dir
    candidates = [(offline, prefix, "offline-full")]
    if train:
        candidates.append((offline, "train-5k", "offline-subset"))
    candidates.append((root / spec.tv_name / "raw", prefix, "download"))
    for folder, stem, source in candidates:
        images = _existing(folder, f"{stem}-images-idx3-ubyte")
        labels = _existing(folder, f"{stem}-labels-idx1-ubyte")
        if images is not None and labels is not None:
            return _Found(images, labels, source)
    return None


def _to_image_data(
    images: np.ndarray,
    labels: np.ndarray,
    spec: _Spec,
    train: bool,
    source: str,
    root: str,
) -> ImageData:
    """uint8 ``(N, H, W)`` images and ``(N,)`` labels -> :class:`ImageData` (float32 in [0, 1])."""
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(
            f"{spec.name}: {len(images)} images of shape {images.shape[1:]} do not match {len(labels)} labels"
        )
    if labels.size and int(labels.max()) >= len(spec.classes):
        raise ValueError(
            f"{spec.name}: label {int(labels.max())} out of range 0..{len(spec.classes) - 1}"
        )
    x = torch.from_numpy(images).unsqueeze(1).to(torch.float32).div_(255.0)
    y = torch.from_numpy(labels).to(torch.int64)
    return ImageData(
        x, y, list(spec.classes), source, root, spec.name, "train" if train else "test"
    )


def _read_found(found: _Found, spec: _Spec, train: bool, root: Path) -> ImageData:
    images = read_idx_images(found.images)
    labels = read_idx_labels(found.labels)
    source = found.source
    full = spec.full_train if train else spec.full_test
    if source == "download" and len(images) != full:
        source = "offline-subset"  # torchvision's layout, but not its full set
    return _to_image_data(images, labels, spec, train, source, str(root))


# --------------------------------------------------------------------------------------------
# Download (torchvision's mirrors and checksums)
# --------------------------------------------------------------------------------------------
def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _download(spec: _Spec, root: Path) -> None:
    """Download all four files of ``spec`` into ``root/<TorchvisionName>/raw`` (torchvision's layout).

    Uses torchvision's mirrors and its ``download_and_extract_archive`` (which checks each file's
    md5), then checks every ``.gz`` again against ``torchvision.datasets.<Name>.resources``.

    Raises:
        RuntimeError: a file could not be downloaded or has the wrong checksum.
    """
    import torchvision.datasets as tvd
    from torchvision.datasets.utils import download_and_extract_archive

    cls = getattr(tvd, spec.tv_name)
    raw = root / spec.tv_name / "raw"
    created = [p for p in (raw, raw.parent, root) if not p.exists()]
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        for filename, md5 in cls.resources:
            errors = []
            for mirror in cls.mirrors:
                try:
                    download_and_extract_archive(
                        mirror + filename, download_root=raw, filename=filename, md5=md5
                    )
                    break
                # URLError, RuntimeError (bad md5), OSError, timeout
                except Exception as err:
                    errors.append(err)
            else:
                others = (
                    f" and {len(errors) - 1} other mirror(s)" if len(errors) > 1 else ""
                )
                raise RuntimeError(
                    f"{filename} from {cls.mirrors[0]}{others}: {short_error(errors[0], 80)}"
                )
        for filename, md5 in cls.resources:
            got = _md5(raw / filename)
            if got != md5:
                raise RuntimeError(
                    f"{raw / filename}: md5 {got} differs from torchvision's {md5}"
                )
    except BaseException:
        for p in created:  # leave no empty folders behind after a failed download
            try:
                p.rmdir()
            except OSError:
                pass
        raise
    finally:
        socket.setdefaulttimeout(old_timeout)


# --------------------------------------------------------------------------------------------
# The shipped sample
# --------------------------------------------------------------------------------------------
def _load_sample(spec: _Spec, train: bool) -> ImageData:
    resource = importlib.resources.files("ctm_course.data").joinpath(
        "sample", spec.sample_file
    )
    split = "train" if train else "test"
    with importlib.resources.as_file(resource) as path:
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"{spec.name}: the package's sample {path} is missing; regenerate it with "
                "`python scripts/make_sample.py SRC_DIR` in the course repository"
            )
        with np.load(path, allow_pickle=False) as z:
            images, labels = z[f"{split}_images"], z[f"{split}_labels"]
        return _to_image_data(images, labels, spec, train, "sample", str(path))


# --------------------------------------------------------------------------------------------
# The note that tells the reader what the numbers mean
# --------------------------------------------------------------------------------------------
def _note(data: ImageData, spec: _Spec, where: str, reason: str = "") -> str:
    n, split = len(data), data.split
    full = spec.full_train if split == "train" else spec.full_test
    head = f"{spec.name} {split}:"
    if data.source == "sample":
        meaning = (
            f"accuracies will be clearly lower than with the full {full:,} images"
            if split == "train"
            else f"test accuracy on {n:,} images (not the official {full:,}) is noisier"
        )
        return (
            f"WARNING: {head} only the {n:,}-image sample shipped with ctm_course ({reason}) - "
            f"{meaning}; good for a smoke test only. For the real data, allow the download or set "
            f"${ENV_VAR} to a folder holding {spec.offline_dir}/."
        )
    if data.source == "offline-subset":
        return (
            f"{head} {n:,}-image offline subset from {where} - accuracies are lower than with "
            f"the full {full:,}."
        )
    if data.source == "download":
        return f"{head} torchvision's full {n:,} images from {where}{reason}."
    # offline-full
    if n == full:
        what = (
            "official 10,000-image test set"
            if split == "test"
            else f"full {n:,}-image training set"
        )
        return f"{head} {what} (offline copy) from {where} - same data as the download."
    return (
        f"{head} {n:,} images (offline copy) from {where}; the full set has {full:,}."
    )


# --------------------------------------------------------------------------------------------
# The loader behind ``load_images("mnist" | "fashion-mnist", ...)``
# --------------------------------------------------------------------------------------------
def load_split(
    spec: _Spec, train: bool, root: str | Path | None, download: bool, verbose: bool
) -> ImageData:
    def expected(folder: Path) -> str:
        return (
            f"{folder / spec.offline_dir}/<split>-images-idx3-ubyte.gz and "
            "-labels-idx1-ubyte.gz (split 'train', 'train-5k' or 't10k') or torchvision's "
            f"layout {folder / spec.tv_name / 'raw'}/"
        )

    def sample() -> tuple[ImageData, str]:
        data = _load_sample(spec, train)
        return data, data.root

    finder = CopyFinder(
        name=spec.name,
        find=lambda folder: _find(folder, spec, train),
        read=lambda found, folder: _read_found(found, spec, train, folder),
        download=lambda folder: _download(spec, folder),
        sample=sample,
        expected=expected,
        verified="checksums verified",
    )
    found = finder.locate(root, download, verbose)
    data = found.data
    data.note = _note(data, spec, found.where, found.reason)
    if verbose:
        print(data.note)
    return data
