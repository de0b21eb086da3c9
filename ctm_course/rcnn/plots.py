"""Figures of lesson 5, in the style of the paper's Figures 3 and 4, with the paper's numbers beside ours.

Every function returns a :class:`matplotlib.figure.Figure` at most 11 inches wide (fonts >= 9 pt).
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..viz.common import FONT, FONT_SMALL, new_figure, style_axes, to_numpy
from .model import LAYERS
from .stimuli import CLASS_NAMES, Stimuli

LAYER_NAMES = ("Input", "Conv1", "Conv2", "FC")
LAYER_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
STEP_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c")


def _finish(
    fig: Figure, first_axis: Axes, ylabel: str, title: str, legend_columns: int
) -> Figure:
    """The shared finish of the panel figures: y label on the first panel, one legend below, a title."""
    first_axis.set_ylabel(ylabel, fontsize=FONT_SMALL)
    fig.legend(
        loc="lower center",
        ncol=legend_columns,
        fontsize=9,
        frameon=False,
        bbox_to_anchor=(0.5, -0.02),
    )
    fig.suptitle(title, fontsize=FONT)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def plot_stimuli(
    stimuli: Stimuli,
    n: int = 8,
    columns: int = 4,
    clean: bool = False,
    predictions=None,
    title: str | None = None,
) -> Figure:
    """A grid of ``n`` images with their category (and a prediction, if given); ``clean`` adds each twin."""
    n = min(n, len(stimuli))
    rows = int(np.ceil(n / columns)) * (2 if clean else 1)
    fig = new_figure((2.3 * columns, 2.5 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns)).reshape(rows, columns)
    labels = to_numpy(stimuli.labels["category"], np.int64)
    for k in range(n):
        r, c = divmod(k, columns)
        pairs = [(stimuli.images, "")] + (
            [(stimuli.clean, " (clean)")] if clean else []
        )
        for j, (images, suffix) in enumerate(pairs):
            ax = axes[r * (2 if clean else 1) + j, c]
            ax.imshow(to_numpy(images[k, 0]), cmap="gray", vmin=0, vmax=1)
            text = CLASS_NAMES[labels[k]] + suffix
            if predictions is not None and j == 0:
                guess = int(to_numpy(predictions, np.int64)[k])
                text += f"\npredicted: {CLASS_NAMES[guess]}"
                ax.set_title(
                    text,
                    fontsize=FONT_SMALL,
                    color="#2ca02c" if guess == labels[k] else "#e8590c",
                )
            else:
                ax.set_title(text, fontsize=FONT_SMALL)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for k in range(n, rows // (2 if clean else 1) * columns):
        r, c = divmod(k, columns)
        for j in range(2 if clean else 1):
            axes[r * (2 if clean else 1) + j, c].axis("off")
    if title:
        fig.suptitle(title, fontsize=FONT)
    fig.tight_layout()
    return fig


def plot_inputs_through_time(inputs: list, index: int, labels=None) -> Figure:
    """The network's modulated input x~_t of image ``index`` at each timestep (``inputs[t]``: ``(B, 1, 100, 100)``)."""
    T = len(inputs)
    fig = new_figure((2.4 * T, 2.6))
    axes = fig.subplots(1, T)
    for t, ax in enumerate(np.atleast_1d(axes)):
        ax.imshow(to_numpy(inputs[t][index, 0]), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"t = {t + 1}", fontsize=FONT_SMALL)
        ax.set_xticks([])
        ax.set_yticks([])
    if labels is not None:
        fig.suptitle(
            f"input after top-down modulation ({CLASS_NAMES[int(labels[index])]})",
            fontsize=FONT,
        )
    fig.tight_layout()
    return fig


def _paper_curve(
    ax, x: np.ndarray, mean: np.ndarray, ci: np.ndarray, colour, labelled: bool
) -> None:
    """The paper's values beside ours: a dashed line and its 95% band (labelled once per figure)."""
    ax.plot(
        x,
        mean,
        "--",
        color=colour,
        alpha=0.8,
        label="paper (dashed)" if labelled else None,
    )
    ax.fill_between(x, mean - ci, mean + ci, color=colour, alpha=0.12)


def _decoding_panel(ax: Axes, group: str, steps: np.ndarray) -> None:
    """A decoding panel's frame: chance (dotted), the y range of the variable, its title, the steps."""
    chance = 0.05 if group == "Category" else 0.5
    ax.axhline(chance, color="k", ls=":", lw=1)
    ax.set_ylim(0 if group == "Category" else 0.45, 1.0)
    ax.set_title(group, fontsize=FONT)
    ax.set_xlabel("timestep", fontsize=FONT_SMALL)
    ax.set_xticks(steps)
    style_axes(ax)


def plot_decoding(
    ours: dict[str, np.ndarray],
    paper: dict | None = None,
    groups=None,
    title: str = "Linear probes: decoding accuracy by layer and timestep",
) -> Figure:
    """Figure 3 style: one panel per variable, accuracy over timesteps, one line per layer.

    ``ours[group]``: ``(4 layers, T)``. ``paper`` (from :func:`ctm_course.data.thorat2021.paper_numbers`) adds the
    paper's curves, dashed, with their 95% bands over 5 seeds.
    """
    groups = groups or list(ours)
    fig = new_figure((min(11, 2.75 * len(groups)), 3.3))
    axes = np.atleast_1d(fig.subplots(1, len(groups), sharex=True))
    for ax, group in zip(axes, groups):
        grid = np.asarray(ours[group])
        steps = np.arange(1, grid.shape[1] + 1)
        for i, (name, colour) in enumerate(zip(LAYER_NAMES, LAYER_COLOURS)):
            ax.plot(
                steps,
                grid[i],
                "o-",
                color=colour,
                label=f"{name} (ours)" if ax is axes[0] else None,
            )
            if paper is not None and group in paper["decoding"]:
                mean = np.asarray(paper["decoding"][group]["mean"][i])
                ci = np.asarray(paper["decoding"][group]["ci"][i])
                _paper_curve(
                    ax,
                    np.arange(1, len(mean) + 1),
                    mean,
                    ci,
                    colour,
                    i == 0 and ax is axes[0],
                )
        _decoding_panel(ax, group, steps)
    return _finish(fig, axes[0], "decoding accuracy", title, legend_columns=5)


def plot_published_decoding(
    gain: dict,
    additive: dict,
    groups=("Category", "Location", "Scale", "Orientation"),
) -> Figure:
    """The authors' two published networks side by side: decoding accuracy by layer and timestep of the
    gain network 0111 (solid) and the additive network 1011 (dashed), each with its 95% band over the
    five seeds; ``gain`` and ``additive`` from :func:`ctm_course.data.thorat2021.paper_numbers`.
    """
    fig = new_figure((min(11, 2.75 * len(groups)), 3.3))
    axes = np.atleast_1d(fig.subplots(1, len(groups), sharex=True))
    for ax, group in zip(axes, groups):
        for numbers, style, kind in (
            (gain, "o-", "gain 0111"),
            (additive, "s--", "additive 1011"),
        ):
            for i, (name, colour) in enumerate(zip(LAYER_NAMES, LAYER_COLOURS)):
                mean = np.asarray(numbers["decoding"][group]["mean"][i])
                ci = np.asarray(numbers["decoding"][group]["ci"][i])
                steps = np.arange(1, len(mean) + 1)
                ax.plot(
                    steps,
                    mean,
                    style,
                    color=colour,
                    ms=4,
                    label=f"{name}, {kind}" if ax is axes[0] else None,
                )
                ax.fill_between(steps, mean - ci, mean + ci, color=colour, alpha=0.1)
        _decoding_panel(ax, group, steps)
    fig = _finish(
        fig,
        axes[0],
        "decoding accuracy",
        "The published networks: gain 0111 (solid) and additive 1011 (dashed)",
        legend_columns=4,
    )
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    return fig


def plot_training_lengths(
    runs: dict[str, list[dict]],
    metrics: dict[str, str] | None = None,
) -> Figure:
    """Test accuracy against training steps (log axis) for several runs of the gain network and its
    feedforward control: ``runs`` maps a run's name to its evaluation history (rows with
    ``step`` and the keys of ``metrics``, which maps a key to its network's name; by default
    ``accuracy`` → gain network, ``feedforward_accuracy`` → feedforward B). One colour per run,
    one line style per network; chance (0.05) dotted."""
    metrics = metrics or {
        "accuracy": "gain 0111",
        "feedforward_accuracy": "feedforward B",
    }
    fig = new_figure((7.5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    styles = ("o-", "s--", "^:")
    for colour, (run, history) in zip(STEP_COLOURS, runs.items()):
        rows = [row for row in history if row.get("step", 0) > 0]
        if not rows:
            continue
        steps = np.array([row["step"] for row in rows])
        for style, (key, network) in zip(styles, metrics.items()):
            values = np.array([row.get(key, np.nan) for row in rows], float)
            ax.plot(steps, values, style, color=colour, ms=4, label=f"{run}: {network}")
    ax.axhline(0.05, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set(xlabel="training step", ylim=(0, None))
    style_axes(ax)
    ax.legend(fontsize=9, frameon=False, loc="upper left")
    ax.set_ylabel("cluttered test accuracy", fontsize=FONT_SMALL)
    ax.set_title("Longer training, gain network and feedforward control", fontsize=FONT)
    fig.tight_layout()
    return fig


def plot_aux_summary(ours_time, ours_depth, paper: dict | None = None) -> Figure:
    """Auxiliary-variable decoding (mean of location, scale, orientation) through time and through depth."""
    fig = new_figure((8, 3.2))
    ax_t, ax_d = fig.subplots(1, 2, sharey=True)
    ax_t.plot(np.arange(1, len(ours_time) + 1), ours_time, "o-", label="ours")
    ax_d.plot(np.arange(4), ours_depth, "o-", label="ours")
    if paper is not None:
        ax_t.plot(
            np.arange(1, 5),
            paper["aux_decoding_through_time"],
            "s--",
            color="grey",
            label="paper",
        )
        ax_d.plot(
            np.arange(4),
            paper["aux_decoding_through_depth"],
            "s--",
            color="grey",
            label="paper",
        )
    ax_t.set(
        xlabel="timestep",
        ylabel="decoding accuracy",
        title="through time",
        xticks=range(1, 5),
    )
    ax_d.set(xlabel="layer", title="through depth", xticks=range(4))
    ax_d.set_xticklabels(LAYER_NAMES)
    for ax in (ax_t, ax_d):
        ax.axhline(0.5, color="k", ls=":", lw=1)
        ax.legend(fontsize=9)
        style_axes(ax)
    fig.tight_layout()
    return fig


def plot_importance(
    ours: dict[str, np.ndarray],
    paper: dict | None = None,
    title: str = "Functional importance of the recurrent flow into each layer",
    intervals: dict[str, dict[str, np.ndarray]] | None = None,
) -> Figure:
    """Figure 4 style: one panel per layer; x: the perturbed variable; one line per step T = 2..4.

    ``ours[group]``: ``(4 layers, T-1)``; ``paper`` adds the paper's values (dashed, with 95% bands);
    ``intervals`` (from :func:`~ctm_course.rcnn.perturb.bootstrap_importance`) adds ours as error
    bars, ``{group: {"low": (4, T-1), "high": (4, T-1)}}``.
    """
    groups = list(ours)
    short = {
        "Location": "Loc.",
        "Orientation": "Ori.",
        "Scale": "Scl.",
        "Category": "Cat.",
    }
    fig = new_figure((11, 3.4))
    axes = fig.subplots(1, len(LAYERS), sharey=True)
    x = np.arange(len(groups))
    for i, ax in enumerate(axes):
        n_steps = np.asarray(ours[groups[0]]).shape[1]
        for k in range(n_steps):
            values = np.array([np.asarray(ours[g])[i, k] for g in groups])
            ax.plot(
                x,
                values,
                "o-",
                color=STEP_COLOURS[k % 3],
                label=f"T = {k + 2} (ours)" if i == 0 else None,
            )
            if intervals is not None:
                low = np.array([np.asarray(intervals[g]["low"])[i, k] for g in groups])
                high = np.array(
                    [np.asarray(intervals[g]["high"])[i, k] for g in groups]
                )
                shift = 0.08 * (k - (n_steps - 1) / 2)  # side by side, not on top
                ax.errorbar(
                    x + shift,
                    values,
                    yerr=np.abs(np.stack([values - low, high - values])),
                    fmt="none",
                    ecolor=STEP_COLOURS[k % 3],
                    elinewidth=1,
                    capsize=2,
                    label="95% interval over images (ours)"
                    if i == 0 and k == 0
                    else None,
                )
            if paper is not None:
                mean = np.array(
                    [paper["functional_importance"][g]["mean"][i][k] for g in groups]
                )
                ci = np.array(
                    [paper["functional_importance"][g]["ci"][i][k] for g in groups]
                )
                _paper_curve(ax, x, mean, ci, STEP_COLOURS[k % 3], i == 0 and k == 0)
        ax.axhline(0, color="k", lw=1)
        ax.set_xticks(x)
        ax.set_xticklabels([short.get(g, g) for g in groups], fontsize=FONT_SMALL)
        ax.set_title(f"flow into {LAYER_NAMES[i]}", fontsize=FONT)
        style_axes(ax)
    return _finish(fig, axes[0], "functional importance", title, legend_columns=4)


def plot_variants(
    sets: dict[str, dict[str, Stimuli]], index: int = 0, size: float = 1.9
) -> Figure:
    """Image ``index`` of :func:`~ctm_course.rcnn.variants.generate_variant_sets` and its variants:
    the first row the original and the variants every set shares, the second the rotation and
    scale swaps of each set (e.g. the authors' and the fixed ones), titled with the set's name."""
    first = next(iter(sets.values()))
    shared = ("original", "x_swap", "y_swap", "category_within", "category_between")
    panels = [(0, first[name], name.replace("_", " ")) for name in shared]
    panels += [
        (1, variants[name], f"{name} ({swaps})")
        for name in ("rotation", "scale")
        for swaps, variants in sets.items()
    ]
    columns = max(len(shared), len(panels) - len(shared))
    fig = new_figure((min(11, size * columns), 2 * size + 0.4))
    axes = fig.subplots(2, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    filled = [0, 0]
    for row, stimuli, text in panels:
        ax = axes[row, filled[row]]
        filled[row] += 1
        ax.axis("on")
        ax.imshow(to_numpy(stimuli.images[index, 0]), cmap="gray", vmin=0, vmax=1)
        ax.set_title(text, fontsize=FONT_SMALL)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


# the architecture diagram: (fill, edge) of the blocks, and the colours of the flows
_BLOCK = ("#dcebf7", "#1f5f99")
_READOUT = ("#ece2f4", "#6a3d9a")
_LATERAL = "#2b7a2b"
_TOPDOWN = "#b35806"
ARCHITECTURE_FIGSIZE = (10.0, 6.55)


def plot_architecture(
    n_feats: int = 8, t_steps: int = 4, lateral: bool = True, topdown: bool = True
) -> Figure:
    """The recurrent CNN as a diagram: its layers with their shapes (for ``n_feats`` conv1
    channels), the bottom-up sweep, the lateral and top-down flows (each arrow's ``gid`` is its
    module's name without the branch letter, e.g. ``"fc1c1"``), the readout of every step, and
    how a flow acts as a gain or as a bias. Drawn on a white, opaque background."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path

    from ..viz.common import INK
    from .model import CONNECTIONS

    n = n_feats
    fig = new_figure(ARCHITECTURE_FIGSIZE)
    fig.patch.set_facecolor("white")
    fig.patch.set_alpha(1.0)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6.55)
    ax.axis("off")
    left, width, height = 1.5, 3.0, 0.72
    rows = {  # layer: (bottom y, title, shapes)
        "input": (0.35, "input $\\tilde x_t$", "1 × 100 × 100"),
        "conv1": (1.65, "conv1: 5×5 conv, ReLU, max-pool 3", f"{n}×96×96 → {n}×32×32"),
        "conv2": (
            2.95,
            "conv2: 5×5 conv, ReLU, max-pool 3",
            f"{2 * n}×28×28 → {2 * n}×9×9",
        ),
        "fc": (4.25, "fc1: linear, ReLU", f"{16 * n} units"),
    }
    for y, title, shape in rows.values():
        ax.add_patch(
            FancyBboxPatch(
                (left, y),
                width,
                height,
                boxstyle="round,pad=0,rounding_size=0.08",
                facecolor=_BLOCK[0],
                edgecolor=_BLOCK[1],
                linewidth=1.4,
            )
        )
        ax.text(left + width / 2, y + 0.49, title, ha="center", va="center",
                fontsize=FONT_SMALL, color=INK)  # fmt: skip
        ax.text(left + width / 2, y + 0.2, shape, ha="center", va="center",
                fontsize=FONT_SMALL, color=INK)  # fmt: skip
    top = 5.35
    ax.add_patch(
        FancyBboxPatch(
            (left, top),
            width,
            0.6,
            boxstyle="round,pad=0,rounding_size=0.08",
            facecolor=_READOUT[0],
            edgecolor=_READOUT[1],
            linewidth=1.4,
        )
    )
    ax.text(
        left + width / 2,
        top + 0.3,
        f"readout fc2: fc1 at t = 1..{t_steps} → 20 classes",
        ha="center",
        va="center",
        fontsize=FONT_SMALL,
        color=INK,
    )

    def arrow(start, end, colour, gid, rad=0.0, style="-|>"):
        patch = FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=12,
            linewidth=1.4,
            color=colour,
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=0,
            shrinkB=0,
        )
        patch.set_gid(gid)
        ax.add_patch(patch)

    order = ("input", "conv1", "conv2", "fc")
    centre = left + width / 2
    for lower, upper in zip(order, order[1:]):
        arrow((centre, rows[lower][0] + height), (centre, rows[upper][0]), INK,
              f"bottom-up:{upper}")  # fmt: skip
    arrow((centre, rows["fc"][0] + height), (centre, top), INK, "bottom-up:readout")
    kinds = {k for k, on in (("lateral", lateral), ("topdown", topdown)) if on}
    # top-down arrows run right of the blocks in vertical lanes: (lane, y out, y in) as
    # offsets from the blocks' bottoms, chosen so that nested arrows do not cross
    routes = {
        "c1x": (0, 0.14, 0.58),
        "c2c1": (0, 0.12, 0.58),
        "fc1c2": (0, 0.14, 0.58),
        "fc1c1": (1, 0.36, 0.36),
        "c2x": (2, 0.30, 0.36),
        "fc1x": (3, 0.58, 0.14),
    }
    edge = left + width
    for name, source, target, kind in CONNECTIONS:
        if kind not in kinds:
            continue
        if kind == "lateral":
            y = rows[target][0]
            arrow((left, y + 0.58), (left, y + 0.14), _LATERAL, name, rad=1.4)
            ax.text(left - 0.5, y + 0.36, name, fontsize=FONT_SMALL - 1,
                    color=_LATERAL, ha="right", va="center")  # fmt: skip
            continue
        lane, out, into = routes[name]
        x = edge + 0.3 * (lane + 1)
        y0, y1 = rows[source][0] + out, rows[target][0] + into
        path = Path([(edge, y0), (x, y0), (x, y1), (edge, y1)])
        patch = FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=12,
                                linewidth=1.4, color=_TOPDOWN)  # fmt: skip
        patch.set_gid(name)
        ax.add_patch(patch)
        middle = (y0 + y1) / 2 if lane else (rows[target][0] + height + y0) / 2
        ax.text(x, middle, name, fontsize=FONT_SMALL - 1, color=_TOPDOWN,
                rotation=90, ha="center", va="center",
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "white",
                      "edgecolor": "none"})  # fmt: skip
    legend = [
        (INK, "bottom-up: the layer below, step t"),
        (_LATERAL, "lateral: the same layer, step t − 1"),
        (_TOPDOWN, "top-down: higher layers, step t − 1"),
    ]
    for k, (colour, text) in enumerate(legend):
        y = 5.9 - 0.36 * k
        ax.plot([6.3, 6.7], [y, y], color=colour, linewidth=2)
        ax.text(6.8, y, text, fontsize=FONT_SMALL, color=INK, va="center")
    ax.text(
        6.3,
        4.1,
        "A layer's flows (lateral + top-down)\n"
        "add up to one map F, which acts as\n\n"
        "a gain G (model 0111):\n"
        "   $h = \\mathrm{ReLU}(Wx)\\,(1 + G)$\n"
        "a bias B (model 1011):\n"
        "   $h = \\mathrm{ReLU}(Wx + B)$\n\n"
        "the input: $\\tilde x = \\mathrm{clamp}((x + B)(1 + G), 0, 1)$",
        fontsize=FONT_SMALL,
        color=INK,
        va="top",
        ha="left",
        linespacing=1.35,
        bbox={
            "boxstyle": "round,pad=0.4",
            "facecolor": "#f7f7f7",
            "edgecolor": "#999999",
        },
    )
    ax.text(
        0.15,
        6.3,
        f"Recurrent CNN (Thorat et al. 2021), n_feats = {n}, T = {t_steps} steps",
        fontsize=FONT,
        color=INK,
        va="center",
    )
    return fig
