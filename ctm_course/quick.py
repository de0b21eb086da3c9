"""The quick mode of ``make gpu-check``: a profile row cut to a few hundred training steps.

``quick(row)`` keeps what decides whether a row *runs* on a device (its models, batch sizes,
data, dtypes and code paths) and cuts what only decides how well it *learns*: training steps,
wall-clock budgets, the other step counts of a row (ablations, tick sweeps, the clutter
curriculum, lesson 5's phase of B alone) and the sizes of the heavy analyses (test sets,
probes, perturbations) where a row sets them. :func:`ctm_course.notebook.start` applies it when ``$CTM_COURSE_QUICK`` is set
(:func:`ctm_course.profile.quick_mode`), so that every ``gpu`` row can be proven to run end to
end on a lent GPU in minutes. A quick run does not learn enough for a lesson's thresholds.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, TypeVar

from .config import Training

Row = TypeVar("Row")

#: Training steps of a quick run (each run of a lesson: the main model and its baselines).
QUICK_STEPS = 200
#: A wall-clock budget of a quick run, in seconds (only where a row has a budget).
QUICK_SECONDS = 60.0
#: Steps of each of a lesson's further runs (exercise ablations).
QUICK_EXTRA_STEPS = {"ablation_steps": 50}
#: The largest analysis sizes of a quick run; ``None`` in a row (the whole split) stays ``None``.
QUICK_SIZES = {
    "test_images": 2000,
    "eval_sequences": 1000,
    "test_sequences": 2000,
    "probe_images": 500,
    "flow_probe_images": 200,
    "perturb_images": 50,
}
#: Fields that quick mode keeps as they are: the model, the data and the code paths.
KEPT_FIELDS = frozenset(
    {
        "cpu_threads",
        "model",
        "max_shift",
        "train_images",
        "length",
        "data",
        "ctm",
        "d_backbone",
        "window",
        "eval_stride",
        "pca_components",
        "zscore_windows",
        "ae_bottleneck",
        "viz_images",
        "n_feats",
        "t_steps",
        "probe_jobs",
        # the budget of a recorded seed study: the notebook reads the record, it trains no study
        "seed_study_steps",
    }
)
#: The number of CIFAR-10 training images, for a TLB recipe given in epochs without ``train_images``.
_CIFAR10_TRAIN = 50_000


def _interval(every: int | None, steps: int, log_every: int) -> int | None:
    """An evaluation or checkpoint interval for ``steps``: at most half the run (so that one falls
    inside it), a multiple of ``log_every`` (as :class:`~ctm_course.train.TrainConfig` requires)."""
    if every is None:
        return None
    half = max(log_every, (steps // 2) // log_every * log_every)
    return min(every, half)


def quick_training(train: Training, steps: int = QUICK_STEPS) -> Training:
    """``train`` with at most ``steps`` steps, a budget of at most :data:`QUICK_SECONDS` and
    evaluation and checkpoint intervals that fall inside the run; batch size and recipe kept."""
    steps = min(train.steps, steps)
    log_every = min(train.log_every, steps)
    return dataclasses.replace(
        train,
        steps=steps,
        log_every=log_every,
        eval_every=_interval(train.eval_every, steps, log_every),
        checkpoint_every=_interval(train.checkpoint_every, steps, log_every),
        max_seconds=None
        if train.max_seconds is None
        else min(train.max_seconds, QUICK_SECONDS),
    )


def quick_recipe(recipe: dict[str, Any], steps: int = QUICK_STEPS) -> dict[str, Any]:
    """A copy of a TLB ``train`` recipe (:mod:`ctm_course.tlb.presets`) cut like :func:`quick_training`:
    ``steps`` replaces ``epochs``; batch size, ``train_images`` and the rest of the recipe are kept."""
    from .tlb.presets import steps_of

    out = copy.deepcopy(recipe)
    full = steps_of(recipe, int(recipe.get("train_images") or _CIFAR10_TRAIN))
    out.pop("epochs", None)
    out["steps"] = min(full, steps)
    log_every = min(int(out.get("log_every", 10)), out["steps"])
    if "log_every" in out:
        out["log_every"] = log_every
    out["eval_every"] = _interval(
        int(out.get("eval_every", out["steps"])), out["steps"], log_every
    )
    if out.get("max_seconds") is not None:
        out["max_seconds"] = min(float(out["max_seconds"]), QUICK_SECONDS)
    return out


def _quick_field(name: str, value: Any, steps: int) -> Any:
    if isinstance(value, Training):
        return quick_training(value)
    if isinstance(value, dict) and isinstance(value.get("train"), dict):
        return {**copy.deepcopy(value), "train": quick_recipe(value["train"])}
    if name in QUICK_EXTRA_STEPS:
        return min(value, QUICK_EXTRA_STEPS[name])
    if name == "curriculum_steps":
        return min(value, steps // 2)
    # phase one of lesson 5 (B alone): as many steps as the run, within the quick budget
    if name == "feedforward_first_steps":
        return min(value, steps)
    if name == "feedforward_first_seconds":
        return None if value is None else min(value, QUICK_SECONDS)
    if name in QUICK_SIZES:
        return None if value is None else min(value, QUICK_SIZES[name])
    if name in KEPT_FIELDS:
        return value
    raise ValueError(
        f"quick: the field {name!r} of {type(value).__name__} is neither cut nor kept; "
        "add it to QUICK_EXTRA_STEPS, QUICK_SIZES or KEPT_FIELDS in ctm_course/quick.py"
    )


def quick(row: Row) -> Row:
    """A copy of the lesson ``row`` (:mod:`ctm_course.config`) for a quick run of a few hundred steps.

    Models, batch sizes and data are the row's; training steps are capped at :data:`QUICK_STEPS`
    (``max_seconds`` at :data:`QUICK_SECONDS`, evaluations and checkpoints fall inside the run),
    the row's further step counts at :data:`QUICK_EXTRA_STEPS`, the clutter curriculum at half the
    run and the analysis sizes at :data:`QUICK_SIZES`. A field that the module does not know raises
    a ``ValueError``, so that a new row field is cut or kept on purpose.
    """
    if not dataclasses.is_dataclass(row) or isinstance(row, type):
        raise ValueError(
            f"quick: row must be a profile row (a dataclass), got {type(row).__name__}"
        )
    steps = min(getattr(getattr(row, "train", None), "steps", QUICK_STEPS), QUICK_STEPS)
    changes = {
        f.name: _quick_field(f.name, getattr(row, f.name), steps)
        for f in dataclasses.fields(row)
    }
    return dataclasses.replace(row, **changes)


__all__ = [
    "KEPT_FIELDS",
    "QUICK_EXTRA_STEPS",
    "QUICK_SECONDS",
    "QUICK_SIZES",
    "QUICK_STEPS",
    "quick",
    "quick_recipe",
    "quick_training",
]
