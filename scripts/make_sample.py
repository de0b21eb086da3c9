"""Regenerate the small samples shipped in ``ctm_course/data/sample/``.

Usage::

    python scripts/make_sample.py SRC_DIR [--out DIR] [--train-per-class K]
                                  [--test-per-class K] [--seed 0]

``SRC_DIR`` holds ``mnist/`` and ``fashion-mnist/`` in the course's offline layout (or
torchvision's ``MNIST/raw``, ``FashionMNIST/raw``). For each data set it draws a class-balanced
random subset of the training split and of the official test split (by default MNIST
200 + 100 per class = 2,000 + 1,000 images, Fashion-MNIST 150 + 50 = 1,500 + 500, which keeps
both files together under 1.5 MB) and writes
``{mnist,fashion_mnist}_sample.npz`` (compressed, no pickles) with the uint8 arrays
``train_images (N, 28, 28)``, ``train_labels (N,)``, ``test_images``, ``test_labels``, plus
``classes`` (names) and ``provenance`` (a short text).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ctm_course.data.idx import read_idx_images, read_idx_labels
from ctm_course.data.mnist import FASHION_MNIST_SPEC, MNIST_SPEC, _find, _Spec

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "ctm_course" / "data" / "sample"

DEFAULT_PER_CLASS = {"mnist": (200, 100), "fashion-mnist": (150, 50)}
"""(train, test) images per class in the shipped samples; Fashion-MNIST compresses worse."""

PROVENANCE = {
    "mnist": "MNIST (Y. LeCun, C. Cortes, C. J. C. Burges), CC BY-SA 3.0.",
    "fashion-mnist": "Fashion-MNIST (H. Xiao, K. Rasul, R. Vollgraf, Zalando Research), MIT licence.",
}


def balanced_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of ``per_class`` random examples of every class in ``labels`` ``(N,)``."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        if len(members) < per_class:
            raise ValueError(
                f"class {k} has only {len(members)} examples, {per_class} requested"
            )
        parts.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(parts))


def make_sample(
    src: Path,
    spec: _Spec,
    out: Path,
    train_per_class: int = 200,
    test_per_class: int = 100,
    seed: int = 0,
) -> Path:
    """Write ``out/<spec.sample_file>`` from the data in ``src``; return its path."""
    arrays: dict[str, np.ndarray] = {}
    drawn_from = []
    for split, train, per_class in (
        ("train", True, train_per_class),
        ("test", False, test_per_class),
    ):
        found = _find(src, spec, train)
        if found is None:
            raise FileNotFoundError(f"{spec.name} {split} files not found under {src}")
        images, labels = read_idx_images(found.images), read_idx_labels(found.labels)
        index = balanced_indices(labels, per_class, seed)
        arrays[f"{split}_images"] = images[index]
        arrays[f"{split}_labels"] = labels[index]
        drawn_from.append(
            f"{len(index):,} of the {len(labels):,} images in {found.images.name}"
        )
    arrays["classes"] = np.array(spec.classes)
    arrays["provenance"] = np.array(
        f"{PROVENANCE[spec.offline_dir]} Class-balanced random draw (seed {seed}): {'; '.join(drawn_from)}."
    )
    out.mkdir(parents=True, exist_ok=True)
    path = out / spec.sample_file
    np.savez_compressed(path, **arrays)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "src", type=Path, help="folder holding mnist/ and fashion-mnist/"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=SAMPLE_DIR,
        help=f"output folder (default {SAMPLE_DIR})",
    )
    parser.add_argument(
        "--train-per-class", type=int, default=None, help="default: DEFAULT_PER_CLASS"
    )
    parser.add_argument(
        "--test-per-class", type=int, default=None, help="default: DEFAULT_PER_CLASS"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for spec in (MNIST_SPEC, FASHION_MNIST_SPEC):
        train_k, test_k = DEFAULT_PER_CLASS[spec.offline_dir]
        train_k = args.train_per_class or train_k
        test_k = args.test_per_class or test_k
        path = make_sample(args.src, spec, args.out, train_k, test_k, args.seed)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
