"""Perturbation analysis: does the recurrent flow *use* what it carries?

For each test image and each variant (:mod:`ctm_course.rcnn.variants`), the network runs on the
**original** image, but at one step the flow into one layer is replaced

- ``perturbed``: by the flow the network computes for the variant image;
- ``control``: by the original flow plus the difference (variant - original) with its elements
  randomly permuted over channels and positions, per image: the same amount of change, without
  its structure.

All other flows of that step keep their original values (exact: every flow at a step depends only
on the states of the step before), and later steps run normally from the altered state. The
**functional importance** of the flow into a layer at a step, for a group of variants, is
``(accuracy_control - accuracy_perturbed) / accuracy_original``, averaged over the group's variants.
:func:`perturbation_correct` keeps every image's outcome, so that :func:`bootstrap_importance` can
resample the images for a confidence interval without running the network again.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .model import LAYERS, RecurrentCNN
from .stimuli import Stimuli
from .variants import GROUPS, VARIANTS

CONDITIONS = ("perturbed", "control")


def permuted(difference: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``difference`` ``(B, ...)`` with the elements of each image permuted at random (one permutation per image)."""
    flat = difference.flatten(1)
    order = torch.rand(flat.shape, generator=generator, device=flat.device).argsort(
        dim=1
    )
    return flat.gather(1, order).view_as(difference)


def _same(a: Stimuli, b: Stimuli) -> bool:
    return a is b or (
        a.images.shape == b.images.shape and torch.equal(a.images, b.images)
    )


@torch.no_grad()
def perturbation_correct(
    model: RecurrentCNN,
    variants: dict[str, Stimuli],
    batch_size: int = 100,
    seed: int = 0,
    device=None,
    reuse: dict | None = None,
) -> dict:
    """Which original images ``model`` names correctly with one flow replaced, image by image.

    Returns ``{"original": bool (N,), "correct": bool (6 variants, 2 conditions, 4 layers, T-1, N),
    "has_flow": bool (4 layers, T-1), "variants": variants}``: the per-image outcomes behind
    :func:`accuracies_from`, from which :func:`bootstrap_importance` resamples images.
    ``correct`` is False where a layer receives no flow (``has_flow``). ``reuse``: an earlier result
    of the same model; each variant whose images (and originals) equal that result's is copied
    from it instead of run again (the authors' and the fixed swaps share four of their six).
    """
    if "original" not in variants or any(v not in variants for v in VARIANTS):
        raise ValueError(f"variants must hold 'original' and {VARIANTS}")
    device = device or next(model.parameters()).device
    model.eval()
    steps = model.t_steps - 1
    if steps < 1 or not model.branches:
        raise ValueError(
            "the model has no recurrent flows to perturb (t_steps = 1 or no bias/gain branch)"
        )
    original = variants["original"]
    labels = original.labels["category"]
    n = len(labels)
    copied = set()
    if reuse is not None and _same(reuse["variants"]["original"], original):
        copied = {v for v in VARIANTS if _same(reuse["variants"][v], variants[v])}
    todo = [v for v, name in enumerate(VARIANTS) if name not in copied]
    correct = np.zeros((len(VARIANTS), 2, len(LAYERS), steps, n), bool)
    has_flow = np.zeros((len(LAYERS), steps), bool)
    correct_original = np.zeros(n, bool)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)

    def run_with_states(x):
        """The output, the state after each step t, and the flows ``{branch: {(layer, k): flow}}``
        into each step k + 1, as the pass computed them (its trace)."""
        states = {}

        def observe(t, state, readout):
            states[t] = (dict(state), list(readout))

        out, trace = model(x, trace=True, observer=observe)
        flows = {
            b: {
                (layer, k): flow
                for layer, per_step in trace.flows[b].items()
                for k, flow in enumerate(per_step)
            }
            for b in model.branches
        }
        return out, states, flows

    for start in range(0, n, batch_size):
        end = min(start + batch_size, n)
        x = original.images[start:end].to(device)
        y = labels[start:end].to(device)
        out, states, flows_o = run_with_states(x)
        correct_original[start:end] = (out.argmax(1) == y).cpu().numpy()
        for i, layer in enumerate(LAYERS):
            for k in range(steps):
                has_flow[i, k] = (layer, k) in flows_o[model.branches[0]]
        # every original flow into step k + 1: a resumed pass given all of them (one replaced)
        # computes none
        given = [
            {
                (b, target, step): flow
                for b in model.branches
                for (target, step), flow in flows_o[b].items()
                if step == k
            }
            for k in range(steps)
        ]
        for v in todo:
            images = variants[VARIANTS[v]].images[start:end].to(device)
            _, _, flows_v = run_with_states(images)
            for i, layer in enumerate(LAYERS):
                for k in range(steps):
                    if not has_flow[i, k]:
                        continue
                    for c, condition in enumerate(CONDITIONS):
                        replace = dict(given[k])
                        for b in model.branches:
                            fo, fv = flows_o[b][(layer, k)], flows_v[b][(layer, k)]
                            replace[(b, layer, k)] = (
                                fv
                                if condition == "perturbed"
                                else fo + permuted(fv - fo, generator)
                            )
                        state, readout = states[k]
                        pred = model(
                            x, replace=replace, resume=(k, state, readout[: k + 1])
                        ).argmax(1)
                        correct[v, c, i, k, start:end] = (pred == y).cpu().numpy()
    for v, name in enumerate(VARIANTS):
        if name in copied:
            correct[v] = reuse["correct"][v]
    return {
        "original": correct_original,
        "correct": correct,
        "has_flow": has_flow,
        "variants": variants,
    }


def accuracies_from(result: dict) -> dict:
    """The accuracies of a :func:`perturbation_correct` result: ``{"original": float, "accuracy":
    array (6 variants, 2 conditions, 4 layers, T-1)}``, NaN where a layer receives no flow."""
    accuracy = result["correct"].mean(-1)
    accuracy[:, :, ~result["has_flow"]] = np.nan
    return {"original": float(result["original"].mean()), "accuracy": accuracy}


def _importance(accuracy: np.ndarray, original: np.ndarray) -> dict[str, np.ndarray]:
    """``{group: (..., 4 layers, T-1)}`` from accuracies ``(..., 6, 2, 4, T-1)`` and originals ``(...)``."""
    original = np.asarray(original, float)[..., None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(original > 0, 1 / np.where(original > 0, original, 1), np.nan)
    out = {}
    for group, names in GROUPS.items():
        rows = [VARIANTS.index(n) for n in names]
        gap = accuracy[..., rows, 1, :, :] - accuracy[..., rows, 0, :, :]
        out[group] = gap.mean(-3) * scale
    return out


def functional_importance(result: dict) -> dict[str, np.ndarray]:
    """``{group: (4 layers, T-1)}``: (control - perturbed) / original, averaged over the group's variants.

    NaN where a layer receives no flow, and everywhere when the original accuracy is 0 (undefined).
    """
    return _importance(result["accuracy"], np.asarray(result["original"]))


def bootstrap_importance(
    result: dict, samples: int = 2000, level: float = 0.95, seed: int = 0
) -> dict[str, dict[str, np.ndarray]]:
    """The functional importance of a :func:`perturbation_correct` result with a bootstrap interval.

    The images are resampled with replacement ``samples`` times (the network is not run again);
    returns ``{group: {"importance": (4 layers, T-1), "low": ..., "high": ...}}``, the interval
    holding the central ``level`` of the resampled importances (percentiles). NaN where a layer
    receives no flow or the importance is undefined (no image named correctly).
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    correct = result["correct"].astype(np.float64)
    n = correct.shape[-1]
    # how often each image is drawn in each sample: (samples, N)
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), samples)
    # (samples, 6 variants, 2 conditions, 4 layers, T-1)
    accuracy = np.tensordot(counts, correct, axes=([1], [-1])) / n
    accuracy[..., ~result["has_flow"]] = np.nan
    original = counts @ result["original"].astype(np.float64) / n
    point = functional_importance(accuracies_from(result))
    resampled = _importance(accuracy, original)
    tail = 100 * (1 - level) / 2
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
        for group, values in resampled.items():
            low, high = np.nanpercentile(values, [tail, 100 - tail], axis=0)
            undefined = np.isnan(point[group])
            low[undefined] = high[undefined] = np.nan
            out[group] = {"importance": point[group], "low": low, "high": high}
    return out


def importance_record(
    result: dict, intervals: dict[str, dict[str, np.ndarray]], **context
) -> dict:
    """A JSON-ready summary of a perturbation analysis for ``results/``: the images, the original
    accuracy and, per group and layer, the importance at T = 2.. with its interval (NaN as None)."""

    def clean(values: np.ndarray) -> list:
        return [None if not np.isfinite(v) else round(float(v), 4) for v in values]

    return {
        **context,
        "images": int(result["original"].shape[0]),
        "original_accuracy": round(float(result["original"].mean()), 4),
        "importance": {
            group: {
                layer: {
                    key: clean(parts[key][i]) for key in ("importance", "low", "high")
                }
                for i, layer in enumerate(LAYERS)
            }
            for group, parts in intervals.items()
        },
    }
