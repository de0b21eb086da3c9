"""Small static plots of lesson 1: accuracy and certainty per tick, early exit, example digits.

Each function returns a :class:`matplotlib.figure.Figure` that is not managed by pyplot: it is
shown when it is the last value of a notebook cell (or with ``display(fig)``), and saved with
``fig.savefig(...)``. Functions that take ``ax=`` draw into that Axes instead and return its
Figure. Ticks are numbered ``0 .. T-1``, like the last axis of ``predictions``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .common import (
    FONT,
    FONT_SMALL,
    FONT_TITLE,
    INK,
    TARGET,
    TEST,
    TRAIN,
    WRONG,
    axes_or_new,
    new_figure,
    style_axes,
    to_numpy,
)


def _tick_xaxis(ax: Axes, T: int) -> None:
    ax.set_xlim(-0.5, T - 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=min(T, 16), integer=True))
    ax.set_xlabel("internal tick", fontsize=FONT)


def _finish_tick_axes(ax: Axes, T: int, ylabel: str, title: str) -> None:
    """Ticks on the x axis, the y label, the title, the course's style and the legend."""
    _tick_xaxis(ax, T)
    ax.set_ylabel(ylabel, fontsize=FONT)
    ax.set_title(title, fontsize=FONT_TITLE)
    style_axes(ax)
    ax.legend(fontsize=FONT_SMALL, frameon=False, loc="lower right")


def plot_accuracy_per_tick(
    acc_per_tick: Sequence[float] | np.ndarray | torch.Tensor,
    ax: Axes | None = None,
    *,
    most_certain_accuracy: float | None = None,
    title: str = "Accuracy at each internal tick",
) -> Figure:
    """Accuracy of the prediction read out at each tick.

    Args:
        acc_per_tick: (T,) accuracy (fraction or percent) when every example is read at tick t.
        ax: draw into this Axes instead of a new figure.
        most_certain_accuracy: optional accuracy when each example is read at its own most
            certain tick, drawn as a horizontal line.
        title: the Axes title.

    Returns:
        The Figure (one Axes).
    """
    acc = to_numpy(acc_per_tick, dtype=np.float64).reshape(-1)
    if acc.size == 0:
        raise ValueError("acc_per_tick is empty; expected one accuracy per tick")
    fig, ax = axes_or_new(ax, (6.4, 3.8))
    T = acc.size
    ax.plot(
        np.arange(T),
        acc,
        "o-",
        color=TRAIN,
        linewidth=2,
        markersize=5,
        label="read out at tick t",
    )
    if most_certain_accuracy is not None:
        ax.axhline(
            most_certain_accuracy,
            color=TARGET,
            linestyle="--",
            linewidth=1.5,
            label=f"most certain tick: {most_certain_accuracy:.4g}",
        )
    _finish_tick_axes(ax, T, "accuracy", title)
    return fig


def plot_certainty_per_tick(
    certainties: np.ndarray | torch.Tensor,
    correct: np.ndarray | torch.Tensor | None = None,
    ax: Axes | None = None,
    *,
    quantiles: tuple[float, float] = (0.25, 0.75),
    title: str = "Certainty at each internal tick",
) -> Figure:
    """Mean certainty per tick, split into correct and wrong predictions, with a quantile band.

    Args:
        certainties: (B, 2, T) as returned by the CTM (``[:, 1]`` = 1 - normalised entropy is
            used), or (B, T) certainty values, or (T,) an already averaged curve (no band).
        correct: optional (B, T) bool, whether the prediction at tick t is right; when given,
            correct and wrong predictions get one curve each.
        ax: draw into this Axes instead of a new figure.
        quantiles: lower and upper quantile of the band around each mean.
        title: the Axes title.

    Returns:
        The Figure (one Axes).
    """
    c = to_numpy(certainties, dtype=np.float64)
    if c.ndim == 3:
        if c.shape[1] != 2:
            raise ValueError(
                f"certainties of 3 dims must be (B, 2, T), got shape {c.shape}"
            )
        c = c[:, 1]
    if c.ndim not in (1, 2):
        raise ValueError(
            f"certainties must be (B, 2, T), (B, T) or (T,), got shape {c.shape}"
        )
    fig, ax = axes_or_new(ax, (6.4, 3.8))
    T = c.shape[-1]
    x = np.arange(T)
    if c.ndim == 1:
        if correct is not None:
            raise ValueError(
                "correct needs per-example certainties (B, 2, T) or (B, T)"
            )
        ax.plot(x, c, "o-", color=INK, linewidth=2, markersize=4, label="mean")
    else:
        groups: list[tuple[str, str, np.ndarray]]
        if correct is None:
            groups = [("all predictions", INK, np.ones_like(c, dtype=bool))]
        else:
            mask = to_numpy(correct, dtype=bool)
            if mask.shape != c.shape:
                raise ValueError(
                    f"correct has shape {mask.shape}, expected (B, T) = {c.shape}"
                )
            groups = [("correct", TARGET, mask), ("wrong", WRONG, ~mask)]
        lo_q, hi_q = quantiles
        for name, colour, mask in groups:
            vals = np.where(mask, c, np.nan)
            seen = mask.any(axis=0)
            if not seen.any():
                continue
            mean = np.full(T, np.nan)
            lo = np.full(T, np.nan)
            hi = np.full(T, np.nan)
            mean[seen] = np.nanmean(vals[:, seen], axis=0)
            lo[seen] = np.nanquantile(vals[:, seen], lo_q, axis=0)
            hi[seen] = np.nanquantile(vals[:, seen], hi_q, axis=0)
            share = 100.0 * mask.mean()
            ax.plot(
                x,
                mean,
                "o-",
                color=colour,
                linewidth=2,
                markersize=4,
                label=f"{name} ({share:.0f}% of tick readings)",
            )
            ax.fill_between(x, lo, hi, color=colour, alpha=0.18, linewidth=0)
        ax.plot([], [], color="none", label=f"band: {lo_q:.0%}–{hi_q:.0%} quantiles")
    ax.set_ylim(-0.02, 1.02)
    _finish_tick_axes(ax, T, "certainty (1 − norm. entropy)", title)
    return fig


def plot_early_exit(
    thresholds: Sequence[float] | np.ndarray,
    accuracy: Sequence[float] | np.ndarray,
    mean_ticks: Sequence[float] | np.ndarray,
    full_accuracy: float,
    T: int,
    ax: Axes | None = None,
    *,
    title: str = "Early exit: stop at the first tick with certainty ≥ threshold",
) -> Figure:
    """Accuracy and mean number of ticks used against the certainty threshold of an early exit.

    Args:
        thresholds: (K,) certainty thresholds.
        accuracy: (K,) accuracy of the early-exit prediction at each threshold.
        mean_ticks: (K,) mean number of ticks used at each threshold (between 1 and T).
        full_accuracy: accuracy of the full run (read at the most certain tick), drawn as a
            horizontal line on the accuracy axis.
        T: number of ticks of the full run (top of the ticks axis).
        ax: draw into this Axes (its twin gets the ticks) instead of a new figure.
        title: the Axes title.

    Returns:
        The Figure (two Axes: accuracy on the left, ticks used on a twin axis on the right).
    """
    th = to_numpy(thresholds, dtype=np.float64).reshape(-1)
    acc = to_numpy(accuracy, dtype=np.float64).reshape(-1)
    ticks = to_numpy(mean_ticks, dtype=np.float64).reshape(-1)
    if not (th.size == acc.size == ticks.size) or th.size == 0:
        raise ValueError(
            f"thresholds, accuracy and mean_ticks must have one (same) non-zero length; got "
            f"{th.size}, {acc.size}, {ticks.size}"
        )
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    fig, ax = axes_or_new(ax, (7.0, 4.0))
    ax.plot(
        th,
        acc,
        "o-",
        color=TRAIN,
        linewidth=2,
        markersize=4,
        label="early-exit accuracy",
    )
    ax.axhline(
        full_accuracy,
        color=TRAIN,
        linestyle="--",
        linewidth=1.3,
        label=f"full run (most certain tick): {full_accuracy:.4g}",
    )
    ax.set_xlabel("certainty threshold", fontsize=FONT)
    ax.set_ylabel("accuracy", fontsize=FONT, color=TRAIN)
    ax.tick_params(axis="y", colors=TRAIN)
    style_axes(ax)
    ax.spines["right"].set_visible(True)
    twin = ax.twinx()
    twin.plot(
        th, ticks, "s-", color=TEST, linewidth=2, markersize=4, label="mean ticks used"
    )
    twin.axhline(T, color=TEST, linestyle=":", linewidth=1.3, label=f"all {T} ticks")
    twin.set_ylim(0, T * 1.08)
    twin.set_ylabel("mean ticks used", fontsize=FONT, color=TEST)
    twin.tick_params(axis="y", colors=TEST, labelsize=FONT_SMALL)
    twin.spines["top"].set_visible(False)
    ax.set_title(title, fontsize=FONT_TITLE)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    twin.legend(
        handles=handles,
        fontsize=FONT_SMALL,
        frameon=True,
        framealpha=0.9,
        loc="center left",
    )
    return fig


def _class_ids(predictions: Any, batch: int) -> np.ndarray:
    p = to_numpy(predictions, dtype=None)
    if p.ndim == 2:
        p = p.argmax(axis=1)
    if p.ndim != 1 or p.shape[0] != batch:
        raise ValueError(
            f"predictions must be (B,) class indices or (B, C) logits with B={batch}, "
            f"got shape {p.shape}"
        )
    return p.astype(np.int64)


def plot_examples(
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor | Sequence[int],
    predictions: np.ndarray | torch.Tensor | None = None,
    n: int = 16,
    *,
    class_names: Sequence[str] | None = None,
    ncols: int = 8,
    title: str | None = None,
) -> Figure:
    """A grid of the first ``n`` images with their label (and prediction, coloured by success).

    Args:
        images: (B, 1, H, W), (B, 3, H, W) or (B, H, W), any scaling (each image is min-max
            scaled for display).
        labels: (B,) true classes.
        predictions: optional (B,) predicted classes or (B, C) logits/probabilities; a panel
            then reads "label → prediction", green when right and orange when wrong.
        n: number of examples to show (at most B).
        class_names: names for the class indices (default: the indices).
        ncols: panels per row.
        title: figure title (a default one says what the panel titles mean).

    Returns:
        The Figure (``min(n, B)`` Axes).
    """
    x = to_numpy(images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"images must be (B, 1, H, W), (B, 3, H, W) or (B, H, W), got {x.shape}"
        )
    B = x.shape[0]
    y = to_numpy(labels, dtype=np.int64).reshape(-1)
    if y.shape[0] != B:
        raise ValueError(
            f"labels has {y.shape[0]} entries but images has batch size {B}"
        )
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    pred = None if predictions is None else _class_ids(predictions, B)
    n = min(int(n), B)
    cols = max(1, min(ncols, n))
    rows = math.ceil(n / cols)

    def name(k: int) -> str:
        return str(class_names[k]) if class_names is not None else str(k)

    fig = new_figure((1.25 * cols, 1.45 * rows + 0.5))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        img = x[i]
        img = (img - img.min()) / max(float(img.max() - img.min()), 1e-8)
        if img.shape[0] == 1:
            ax.imshow(img[0], cmap="gray_r", vmin=0, vmax=1)
        else:
            ax.imshow(np.transpose(img, (1, 2, 0)))
        ax.set_xticks([])
        ax.set_yticks([])
        if pred is None:
            ax.set_title(name(int(y[i])), fontsize=FONT)
        else:
            ok = pred[i] == y[i]
            ax.set_title(
                f"{name(int(y[i]))} → {name(int(pred[i]))}",
                fontsize=FONT,
                color=TARGET if ok else WRONG,
                fontweight="normal" if ok else "bold",
            )
    if title is None:
        title = "label → prediction (orange: wrong)" if pred is not None else "label"
    fig.suptitle(title, fontsize=FONT_TITLE)
    fig.tight_layout()
    return fig


def plot_reliability(
    reliability: Any, ax: Axes | None = None, title: str = "Reliability diagram"
) -> Figure:
    """Accuracy against confidence per bin (``ctm_course.calibration.Reliability``), with the
    diagonal a calibrated model would follow and the share of answers in each bin."""
    edges = to_numpy(reliability.edges, dtype=np.float64)
    accuracy = to_numpy(reliability.accuracy, dtype=np.float64)
    counts = to_numpy(reliability.counts, dtype=np.float64)
    fig, ax = axes_or_new(ax, (4.6, 4.0))
    width = np.diff(edges)
    filled = counts > 0
    ax.bar(
        edges[:-1][filled],
        accuracy[filled],
        width=width[filled],
        align="edge",
        color=TRAIN,
        alpha=0.8,
        edgecolor="white",
        label="accuracy in the bin",
    )
    ax.plot([0, 1], [0, 1], "--", color=INK, linewidth=1, label="calibrated")
    share = counts / max(counts.sum(), 1)
    ax.step(edges[:-1], share, where="post", color=WRONG, label="share of answers")
    ax.set(xlim=(0, 1), ylim=(0, 1.02))
    ax.set_xlabel("confidence", fontsize=FONT)
    ax.set_ylabel("accuracy", fontsize=FONT)
    ax.set_title(f"{title} (ECE {reliability.ece:.3f})", fontsize=FONT_TITLE)
    ax.legend(fontsize=FONT_SMALL, frameon=False, loc="upper left")
    style_axes(ax)
    return fig
