"""Linear probes (diagnostic read-outs): what can a linear classifier read from each layer at each step?

As in the paper, a ``sklearn.svm.LinearSVC`` with default settings is fit on the flattened
activations of one layer at one timestep (800 training / 200 test images of 1,000 in the paper)
and scored on held-out images, for each variable: category (20-way, chance 0.05), location
(``pos_x`` and ``pos_y``, averaged as "Location"), scale and orientation (binary, chance 0.5).

The recurrent **flows** can be decoded the same way. A flow is a linear image of the previous
step's activations, so it inherits whatever they carry; :func:`random_feedback` gives the
control: flows computed from the same activations by untrained recurrent modules.
Map-shaped flows are average-pooled by 3 before decoding (input: 100 -> 33, conv1: 96 -> 32, conv2: 28 -> 9;
the paper decoded them whole: 10,000 to 73,728 dimensions for 800 images, where one 20-way ``LinearSVC`` on
the input flow took 13 s on a CPU core, against 1 s pooled).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..evaluate import batched
from .model import LAYERS, RecurrentCNN

#: The paper's groups of decoded variables (Figure 3); "Location" averages pos_x and pos_y.
PROBE_GROUPS = {
    "Category": ("category",),
    "Location": ("pos_x", "pos_y"),
    "Scale": ("scale",),
    "Orientation": ("orientation",),
}


def _pool_flow(flow: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(flow, 3) if flow.ndim == 4 else flow


def collect(
    model: RecurrentCNN,
    images: torch.Tensor,
    batch_size: int = 100,
    flows: str | None = None,
    flow_model: RecurrentCNN | None = None,
    device=None,
) -> dict[tuple[str, int], np.ndarray]:
    """Flattened features ``{(layer, t): (N, D) float32}`` for ``images`` ``(N, 1, 100, 100)``.

    Without ``flows``: the activations of the 4 layers at every step t = 0..T-1. With
    ``flows="g"`` or ``"b"``: the summed flows of that branch into each layer entering step
    t = 1..T-1, keyed by t; ``flow_model`` computes them from ``model``'s states (the random-feedback
    control), by default ``model`` itself.
    """
    device = device or next(model.parameters()).device
    source = flow_model or model
    if flows is not None and flows not in source.branches:
        raise ValueError(
            f"flows must be one of the model's branches {source.branches}, got {flows!r}"
        )
    out: dict[tuple[str, int], list[np.ndarray]] = {}

    def observe(t, state, readout):
        if flows is None:
            for layer in LAYERS:
                out.setdefault((layer, t), []).append(
                    state[layer].flatten(1).float().cpu().numpy()
                )
        elif t < model.t_steps - 1:
            for layer, flow in source.flows(state, flows).items():
                out.setdefault((layer, t + 1), []).append(
                    _pool_flow(flow).flatten(1).float().cpu().numpy()
                )

    # eval mode, no grad
    batched(model, images, lambda x: model(x.to(device), observer=observe), batch_size)
    return {key: np.concatenate(parts) for key, parts in out.items()}


def random_feedback(model: RecurrentCNN, seed: int = 0) -> RecurrentCNN:
    """A copy of ``model`` whose recurrent modules are re-initialised (feedforward weights kept)."""
    control = copy.deepcopy(model)
    torch.manual_seed(seed)
    for branch in control.branches:
        for name, *_ in control.connections:
            module = getattr(control, name + branch)
            if type(module) in (nn.Conv2d, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            else:
                module.reset_parameters()
    return control


def probe(
    features: np.ndarray,
    labels,
    n_train: int | None = None,
    seed: int = 0,
    max_iter: int = 1000,
) -> float:
    """Test accuracy of a ``LinearSVC`` fit on the first ``n_train`` rows (default 80%) of shuffled data."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    features = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    labels = np.asarray(labels)
    if len(features) != len(labels):
        raise ValueError(
            f"features ({len(features)}) and labels ({len(labels)}) must have the same length"
        )
    n_train = int(0.8 * len(labels)) if n_train is None else n_train
    if not 0 < n_train < len(labels):
        raise ValueError(
            f"n_train must be between 1 and {len(labels) - 1}, got {n_train}"
        )
    order = np.random.default_rng(seed).permutation(len(labels))
    train, test = order[:n_train], order[n_train:]
    if len(np.unique(labels[train])) < 2:
        return float(np.mean(labels[test] == labels[train][0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings(
            "ignore", message="The number of unique classes", category=UserWarning
        )
        svm = LinearSVC(max_iter=max_iter).fit(features[train], labels[train])
    return float(np.mean(svm.predict(features[test]) == labels[test]))


def decode_grid(
    features: dict[tuple[str, int], np.ndarray],
    labels: dict[str, torch.Tensor | np.ndarray],
    groups: dict[str, tuple[str, ...]] | None = None,
    seed: int = 0,
    n_jobs: int = 1,
) -> dict[str, np.ndarray]:
    """Probe accuracy per group, ``{group: (4 layers, n steps)}`` (NaN where a layer has no features).

    Steps are the sorted timesteps found in ``features``. ``n_jobs`` fits probes in parallel
    processes (joblib; -1: all cores).
    """
    from joblib import Parallel, delayed

    groups = groups or PROBE_GROUPS
    steps = sorted({t for _, t in features})
    tasks = [
        (group, i, j, v)
        for group, variables in groups.items()
        for i, layer in enumerate(LAYERS)
        for j, t in enumerate(steps)
        if (layer, t) in features
        for v in variables
    ]
    scores = Parallel(n_jobs=n_jobs)(
        delayed(probe)(
            features[(LAYERS[i], steps[j])], np.asarray(labels[v]), seed=seed
        )
        for _, i, j, v in tasks
    )
    out = {group: np.full((len(LAYERS), len(steps)), np.nan) for group in groups}
    sums: dict[tuple[str, int, int], list[float]] = {}
    for (group, i, j, _), score in zip(tasks, scores):
        sums.setdefault((group, i, j), []).append(score)
    for (group, i, j), values in sums.items():
        out[group][i, j] = float(np.mean(values))
    return out


def aux_summary(grid: dict[str, np.ndarray]) -> tuple[list[float], list[float]]:
    """The paper's two summaries: auxiliary decoding (location, scale, orientation) through time and depth."""
    # (3, layers, T)
    aux = np.stack([grid[g] for g in ("Location", "Scale", "Orientation")])
    return np.nanmean(aux, axis=(0, 1)).tolist(), np.nanmean(aux, axis=(0, 2)).tolist()
