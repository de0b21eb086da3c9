"""Seed studies: a lesson's comparison repeated from several training seeds.

One training run cannot tell an effect from luck: a different seed (initial weights, order or
draw of the batches) moves a small model's accuracy by a few hundredths. A seed study trains
every variant of a comparison from each of several seeds and records the accuracies under
``results/ablations/`` (:func:`record_name`); a lesson reads the record back
(:func:`recorded_study`) and shows its own run, one of those seeds, beside the others.
Lesson 4's study lives in :mod:`ctm_course.tlb.ablation`, lesson 5's in
:mod:`ctm_course.rcnn.seeds`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .paths import repo_root

RECORD_FOLDER = Path("results") / "ablations"
"""Where the seed studies are kept, under the repository (not a profile's folder of lesson records)."""


def spread(
    accuracies: dict[str, list[float]], reference: str = "reference"
) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation, minimum and maximum of each variant's accuracies, the
    difference of its mean from the ``reference`` variant's (which must be present), and
    ``separated``: 1.0 when every seed of the variant lies outside the reference's range of seeds
    (all above its highest or all below its lowest), else 0.0."""
    if reference not in accuracies:
        raise ValueError(f"spread needs the {reference!r} variant")
    low, high = min(accuracies[reference]), max(accuracies[reference])
    mean_reference = float(np.mean(accuracies[reference]))
    out = {}
    for name, values in accuracies.items():
        values_ = np.asarray(values, float)
        out[name] = {
            "mean": float(values_.mean()),
            "std": float(values_.std(ddof=1)) if len(values_) > 1 else float("nan"),
            "min": float(values_.min()),
            "max": float(values_.max()),
            "minus_reference": float(values_.mean() - mean_reference),
            "separated": float(
                name != reference and (values_.max() < low or values_.min() > high)
            ),
        }
    return out


def paired_differences(
    accuracies: dict[str, list[float]], variant: str, reference: str
) -> dict[str, Any]:
    """``variant`` minus ``reference``, seed by seed (both trained from the same seeds, in the same
    order): the differences, their mean, minimum and maximum, and how many are above 0."""
    a, b = accuracies[variant], accuracies[reference]
    if len(a) != len(b) or not a:
        raise ValueError(
            f"{variant!r} and {reference!r} need the same seeds: {len(a)} and {len(b)} runs"
        )
    diff = np.asarray(a, float) - np.asarray(b, float)
    return {
        "differences": diff.tolist(),
        "mean": float(diff.mean()),
        "min": float(diff.min()),
        "max": float(diff.max()),
        "positive": int((diff > 0).sum()),
    }


def record_name(lesson: str, profile_name: str, steps: int | None = None) -> str:
    """The file name of a seed study: ``<lesson>-<profile>.json`` at the budget the profile names for
    it, ``<lesson>-<profile>-<steps>-steps.json`` at another budget."""
    return f"{lesson}-{profile_name}" + (f"-{steps}-steps" if steps else "") + ".json"


def recorded_study(
    lesson: str,
    profile_name: str,
    folder: str | Path | None = None,
    steps: int | None = None,
) -> dict[str, Any] | None:
    """The seed study recorded for ``lesson`` and ``profile_name`` (:func:`record_name` in ``folder``,
    default ``results/ablations/`` of the repository), or ``None`` where there is none (e.g. on
    Colab, outside the repository)."""
    if folder is None:
        root = repo_root()
        if root is None:
            return None
        folder = root / RECORD_FOLDER
    path = Path(folder) / record_name(lesson, profile_name, steps)
    return json.loads(path.read_text()) if path.is_file() else None
