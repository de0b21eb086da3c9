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
"""

from __future__ import annotations

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


@torch.no_grad()
def perturbation_accuracies(
    model: RecurrentCNN,
    variants: dict[str, Stimuli],
    batch_size: int = 100,
    seed: int = 0,
    device=None,
) -> dict:
    """Accuracies of ``model`` on the original images with one flow replaced.

    Returns ``{"original": float, "accuracy": array (6 variants, 2 conditions, 4 layers, T-1)}`` in the
    layout of the authors' ``perturbed_accuracies`` (NaN where a layer receives no flow).
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
    correct = np.zeros((len(VARIANTS), 2, len(LAYERS), steps))
    has_flow = np.zeros((len(LAYERS), steps), bool)
    correct_original = 0
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)

    def run_with_states(x):
        states = {}
        flows = {b: {} for b in model.branches}

        def observe(t, state, readout):
            states[t] = (dict(state), list(readout))
            if t < model.t_steps - 1:
                for b in model.branches:
                    for layer, flow in model.flows(state, b).items():
                        flows[b][(layer, t)] = flow

        out = model(x, observer=observe)
        return out, states, flows

    for start in range(0, len(labels), batch_size):
        x = original.images[start : start + batch_size].to(device)
        y = labels[start : start + batch_size].to(device)
        out, states, flows_o = run_with_states(x)
        correct_original += (out.argmax(1) == y).sum().item()
        for v, name in enumerate(VARIANTS):
            _, _, flows_v = run_with_states(
                variants[name].images[start : start + batch_size].to(device)
            )
            for i, layer in enumerate(LAYERS):
                for k in range(steps):
                    if (layer, k) not in flows_o[model.branches[0]]:
                        continue
                    has_flow[i, k] = True
                    for c, condition in enumerate(CONDITIONS):
                        replace = {}
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
                        correct[v, c, i, k] += (pred == y).sum().item()
    accuracy = correct / len(labels)
    accuracy[:, :, ~has_flow] = np.nan
    return {"original": correct_original / len(labels), "accuracy": accuracy}


def functional_importance(result: dict) -> dict[str, np.ndarray]:
    """``{group: (4 layers, T-1)}``: (control - perturbed) / original, averaged over the group's variants.

    NaN where a layer receives no flow, and everywhere when the original accuracy is 0 (undefined).
    """
    acc = result["accuracy"]
    if result["original"] == 0:
        return {group: np.full(acc.shape[2:], np.nan) for group in GROUPS}
    out = {}
    for group, names in GROUPS.items():
        rows = [VARIANTS.index(n) for n in names]
        out[group] = np.mean(acc[rows, 1] - acc[rows, 0], axis=0) / result["original"]
    return out
