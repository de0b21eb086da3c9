"""Pictures of lesson 2 (parity): sequences on a grid, a tick-by-tick animation, attention order, comparisons.

A parity sequence of length L is drawn on a ``sqrt(L) x sqrt(L)`` grid when L is a square (row by
row: position l sits at row ``l // side``, column ``l % side``), else on one row.

- :func:`plot_parity_examples`: inputs and their cumulative parities.
- :func:`parity_frames`: one frame per tick (input, target, prediction and attention grids,
  certainty and accuracy over the ticks); save or show with :func:`~ctm_course.viz.save_animation`
  / :func:`~ctm_course.viz.show_animation`.
- :func:`plot_attention_mass`: mean attention on each position at each tick, one map per head.
- :func:`plot_per_tick`, :func:`plot_by_position`: curves and bars of several models side by side.

Every function returns a :class:`matplotlib.figure.Figure` that pyplot does not manage (shown as a
cell's value, saved with ``fig.savefig``); functions with ``ax=`` draw into that Axes instead.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from ..metrics import most_certain_tick
from .common import (
    CURSOR,
    FONT,
    FONT_SMALL,
    FONT_TITLE,
    HIGHLIGHT,
    INK,
    TARGET,
    WRONG,
    axes_or_new,
    figure_to_rgb,
    frame_header,
    mark_most_certain,
    new_figure,
    style_axes,
    to_numpy,
)

#: Size of one animation frame: 10 x 5.2 inches at 100 dpi = 1000 x 520 pixels.
PARITY_FRAME_FIGSIZE: tuple[float, float] = (10.0, 5.2)
_MODEL_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b")


def grid_shape(length: int) -> tuple[int, int]:
    """(rows, cols) used to draw a sequence of ``length``: a square when possible, else one row."""
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    side = math.isqrt(length)
    return (side, side) if side * side == length else (1, length)


def _as_grid(values: np.ndarray) -> np.ndarray:
    return values.reshape(grid_shape(values.shape[-1]))


def _grid_axes(ax: Axes, title: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=FONT_TITLE)


def _annotate(
    ax: Axes, grid: np.ndarray, fmt: str, colours: np.ndarray | None = None
) -> list:
    texts = []
    for (r, c), v in np.ndenumerate(grid):
        colour = "white" if colours is None else colours[r, c]
        texts.append(
            ax.text(
                c,
                r,
                fmt.format(v),
                ha="center",
                va="center",
                fontsize=FONT,
                color=colour,
                fontweight="bold",
            )
        )
    return texts


def plot_parity_examples(
    x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, n: int = 4
) -> Figure:
    """The first ``n`` sequences and their cumulative parities, each on a grid.

    Args:
        x: (B, L) values in {-1, +1}.
        y: (B, L) targets in {0, 1} (1 = an odd number of -1 so far).
        n: how many examples (at most B).
    """
    xs, ys = to_numpy(x), to_numpy(y)
    if xs.ndim != 2 or xs.shape != ys.shape:
        raise ValueError(f"x and y must both be (B, L), got {xs.shape} and {ys.shape}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    n = min(n, xs.shape[0])
    rows, cols = grid_shape(xs.shape[1])
    fig = new_figure((min(2.6 * n, 11.0), 2 * (0.9 + 0.45 * rows)))
    for i in range(n):
        for k, (values, cmap, title, fmt) in enumerate(
            (
                (xs[i], "gray", "input x", "{:+.0f}"),
                (ys[i], "Purples", "target y", "{:.0f}"),
            )
        ):
            ax = fig.add_subplot(2, n, k * n + i + 1)
            grid = _as_grid(values)
            ax.imshow(
                grid, cmap=cmap, vmin=-1 if k == 0 else -0.3, vmax=1 if k == 0 else 1.3
            )
            colours = (
                np.where(grid > 0.5, INK, "white")
                if k == 0
                else np.where(grid > 0.5, "white", INK)
            )
            _annotate(ax, grid, fmt, colours)
            _grid_axes(ax, f"{title} #{i}")
    fig.suptitle(
        "Parity: y at a position = number of -1 up to there, mod 2 (read row by row)",
        fontsize=FONT_TITLE,
    )
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------- animation
class _ParityArtists:
    def __init__(
        self,
        fig: Figure,
        x: np.ndarray,
        y: np.ndarray,
        probs: np.ndarray,
        certainty: np.ndarray,
        best: int,
        attention: np.ndarray,
        model_name: str,
    ) -> None:
        self.x, self.y, self.probs, self.certainty, self.attention = (
            x,
            y,
            probs,
            certainty,
            attention,
        )
        T = probs.shape[0]
        self.correct = (probs > 0.5).astype(int) == y[None, :]  # (T, L)
        fig.clear()
        fig.set_facecolor("white")
        outer = fig.add_gridspec(
            2,
            1,
            height_ratios=[2.4, 1.0],
            left=0.06,
            right=0.975,
            top=0.84,
            bottom=0.09,
            hspace=0.42,
        )
        top = outer[0].subgridspec(1, 4, wspace=0.18)
        self.header, self.verdict = frame_header(fig)
        fig.text(
            0.5,
            0.915,
            f"{model_name}: positions read row by row",
            fontsize=FONT_SMALL,
            ha="center",
            va="center",
            color=CURSOR,
        )

        ax = self.ax_input = fig.add_subplot(top[0])
        gx = _as_grid(x)
        ax.imshow(gx, cmap="gray", vmin=-1, vmax=1)
        _annotate(ax, gx, "{:+.0f}", np.where(gx > 0, INK, "white"))
        _grid_axes(ax, "input x (□ = most attended)")
        self.box = Rectangle(
            (-0.5, -0.5), 1, 1, fill=False, edgecolor=HIGHLIGHT, linewidth=3.5
        )
        ax.add_patch(self.box)

        ax = fig.add_subplot(top[1])
        gy = _as_grid(y)
        ax.imshow(gy, cmap="Purples", vmin=-0.3, vmax=1.3)
        _annotate(ax, gy, "{:.0f}", np.where(gy > 0.5, "white", INK))
        _grid_axes(ax, "target parity y")

        ax = self.ax_pred = fig.add_subplot(top[2])
        self.pred_image = ax.imshow(
            _as_grid(probs[0]), cmap="Purples", vmin=-0.3, vmax=1.3
        )
        rows, cols = grid_shape(len(y))
        self.pred_texts = _annotate(ax, np.zeros((rows, cols)), "{:.0f}")
        _grid_axes(ax, "prediction (✗ = wrong)")

        ax = fig.add_subplot(top[3])
        self.att_image = ax.imshow(
            _as_grid(attention[0]), cmap="inferno", vmin=0, vmax=1
        )
        _grid_axes(ax, "attention (mean of heads)")

        ax = self.ax_curve = fig.add_subplot(outer[1])
        ticks = np.arange(T)
        frac = self.correct.mean(1)
        ax.plot(ticks, certainty, color=INK, linewidth=1.2, alpha=0.3)
        ax.plot(ticks, frac, color=TARGET, linewidth=1.2, alpha=0.3)
        (self.cert_line,) = ax.plot(
            ticks[:1], certainty[:1], color=INK, linewidth=2.2, label="certainty"
        )
        (self.frac_line,) = ax.plot(
            ticks[:1],
            frac[:1],
            color=TARGET,
            linewidth=2.2,
            label="fraction of positions right",
        )
        mark_most_certain(ax, best, certainty[best], size=14)
        self.cursor = ax.axvline(0, color=CURSOR, linewidth=1.2, alpha=0.6)
        ax.set_xlim(-0.5, T - 0.5)
        ax.set_ylim(-0.03, 1.08)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=min(T, 16), integer=True))
        ax.set_xlabel("internal tick", fontsize=FONT)
        style_axes(ax)
        ax.legend(
            fontsize=FONT_SMALL,
            frameon=False,
            loc="lower right",
            ncol=3,
            bbox_to_anchor=(1.0, 1.0),
            borderaxespad=0.1,
        )

    def update(self, t: int) -> None:
        T, L = self.probs.shape
        rows, cols = grid_shape(L)
        p = self.probs[t]
        pred = (p > 0.5).astype(int)
        ok = self.correct[t]
        self.header.set_text(f"tick {t} / {T - 1}")
        self.verdict.set_text(
            f"{ok.sum()} of {L} positions right  ·  certainty {self.certainty[t]:.2f}"
        )
        self.verdict.set_color(TARGET if ok.all() else WRONG)
        self.pred_image.set_data(_as_grid(p))
        for i, text in enumerate(self.pred_texts):
            text.set_text(f"{pred[i]}" if ok[i] else f"{pred[i]}✗")
            text.set_color(("white" if p[i] > 0.5 else INK) if ok[i] else WRONG)
        att = self.attention[t]
        self.att_image.set_data(_as_grid(att / max(float(att.max()), 1e-12)))
        focus = int(att.argmax())
        self.box.set_xy((focus % cols - 0.5, focus // cols - 0.5))
        ticks = np.arange(t + 1)
        self.cert_line.set_data(ticks, self.certainty[: t + 1])
        self.frac_line.set_data(ticks, self.correct[: t + 1].mean(1))
        self.cursor.set_xdata([t, t])


def parity_frames(
    x: torch.Tensor,
    y: torch.Tensor,
    predictions: torch.Tensor,
    certainties: torch.Tensor,
    attention: torch.Tensor,
    index: int = 0,
    model_name: str = "CTM",
) -> list[np.ndarray]:
    """One frame per tick for sequence ``index`` of a batch: what the model sees, says and looks at.

    Args:
        x: (B, L) inputs in {-1, +1}.
        y: (B, L) target parities.
        predictions: (B, 2L, T) logits (read as (B, L, 2, T)).
        certainties: (B, 2, T).
        attention: (T, B, heads, 1, L) attention weights (``CTMTrack.attention``).
        index: which sequence, ``0 <= index < B``.
        model_name: shown above the grids.

    Returns:
        T frames, each a (520, 1000, 3) uint8 RGB array.
    """
    xs, ys = to_numpy(x), to_numpy(y, dtype=np.int64)
    pred = torch.as_tensor(to_numpy(predictions))
    cert, att = to_numpy(certainties), to_numpy(attention)
    if xs.ndim != 2 or ys.shape != xs.shape:
        raise ValueError(f"x and y must both be (B, L), got {xs.shape} and {ys.shape}")
    B, L = xs.shape
    if pred.dim() != 3 or pred.shape[:2] != (B, 2 * L):
        raise ValueError(
            f"predictions must be (B, 2L, T) = ({B}, {2 * L}, T), got {tuple(pred.shape)}"
        )
    T = pred.shape[2]
    if cert.shape != (B, 2, T):
        raise ValueError(
            f"certainties must be (B, 2, T) = {(B, 2, T)}, got {cert.shape}"
        )
    if (
        att.ndim != 5
        or att.shape[:2] != (T, B)
        or att.shape[3] != 1
        or att.shape[4] != L
    ):
        raise ValueError(
            f"attention must be (T, B, heads, 1, L) with T={T}, B={B}, L={L}, got {att.shape}"
        )
    if (
        isinstance(index, bool)
        or not isinstance(index, (int, np.integer))
        or not 0 <= index < B
    ):
        raise ValueError(f"index must be an int with 0 <= index < B={B}, got {index!r}")
    probs = torch.softmax(pred[index].reshape(L, 2, T), dim=1)[
        :, 1
    ].T.numpy()  # (T, L): P(parity = 1)
    fig = new_figure(PARITY_FRAME_FIGSIZE)
    artists = _ParityArtists(
        fig,
        xs[index],
        ys[index],
        probs,
        cert[index, 1],
        int(most_certain_tick(cert[index])),
        att[:, index, :, 0].mean(1),
        model_name,
    )
    frames = []
    for t in range(T):
        artists.update(t)
        frames.append(figure_to_rgb(fig))
    fig.clear()
    return frames


# ----------------------------------------------------------------------------- analysis plots
def plot_per_tick(
    curves: Mapping[str, Sequence[float] | np.ndarray | torch.Tensor],
    ax: Axes | None = None,
    ylabel: str = "per-position accuracy",
    title: str = "Accuracy at each tick",
    chance: float | None = 0.5,
) -> Figure:
    """One curve per model: a value (e.g. accuracy) read out at every tick.

    Args:
        curves: ``{name: (T,) values}``; models may have different T.
        chance: draw this level as a dotted line (None: no line).
    """
    if not curves:
        raise ValueError("curves is empty")
    fig, ax = axes_or_new(ax, (6.4, 3.8))
    T = 1
    for k, (name, values) in enumerate(curves.items()):
        v = to_numpy(values, dtype=np.float64).reshape(-1)
        T = max(T, v.size)
        ax.plot(
            np.arange(v.size),
            v,
            "o-",
            color=_MODEL_COLOURS[k % len(_MODEL_COLOURS)],
            linewidth=2,
            markersize=4,
            label=name,
        )
    if chance is not None:
        ax.axhline(chance, color=CURSOR, linestyle=":", linewidth=1.2, label="chance")
    ax.set_xlim(-0.5, T - 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=min(T, 16), integer=True))
    ax.set_xlabel("internal tick", fontsize=FONT)
    ax.set_ylabel(ylabel, fontsize=FONT)
    ax.set_title(title, fontsize=FONT_TITLE)
    style_axes(ax)
    ax.legend(fontsize=FONT_SMALL, frameon=False)
    return fig


def plot_by_position(
    bars: Mapping[str, Sequence[float] | np.ndarray | torch.Tensor],
    ax: Axes | None = None,
    title: str = "Accuracy by position (most certain tick)",
    chance: float | None = 0.5,
) -> Figure:
    """Grouped bars: one value per sequence position for each model, e.g. accuracy by position.

    Args:
        bars: ``{name: (L,) values}``, all the same L.
    """
    if not bars:
        raise ValueError("bars is empty")
    values = {
        name: to_numpy(v, dtype=np.float64).reshape(-1) for name, v in bars.items()
    }
    lengths = {v.size for v in values.values()}
    if len(lengths) != 1:
        raise ValueError(
            f"every model needs the same number of positions, got {sorted(lengths)}"
        )
    L = lengths.pop()
    fig, ax = axes_or_new(ax, (7.0, 3.8))
    width = 0.8 / len(values)
    for k, (name, v) in enumerate(values.items()):
        ax.bar(
            np.arange(L) + (k - (len(values) - 1) / 2) * width,
            v,
            width=width,
            color=_MODEL_COLOURS[k % len(_MODEL_COLOURS)],
            label=name,
        )
    if chance is not None:
        ax.axhline(chance, color=CURSOR, linestyle=":", linewidth=1.2, label="chance")
    ax.set_xticks(np.arange(L))
    ax.set_xlabel("position in the sequence", fontsize=FONT)
    ax.set_ylabel("accuracy", fontsize=FONT)
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=FONT_TITLE)
    style_axes(ax)
    ax.grid(False, axis="x")
    ax.legend(fontsize=FONT_SMALL, frameon=True, framealpha=0.9, loc="upper right")
    return fig


__all__ = [
    "PARITY_FRAME_FIGSIZE",
    "grid_shape",
    "parity_frames",
    "plot_attention_mass",
    "plot_by_position",
    "plot_comparison",
    "plot_parity_examples",
    "plot_per_tick",
]


def plot_attention_mass(
    mass: torch.Tensor | np.ndarray,
    peak_tick: torch.Tensor | np.ndarray | None = None,
    title: str = "Attention on each position, tick by tick",
) -> Figure:
    """One heat map per head: mean attention on each position (rows) at each tick (columns).

    Args:
        mass: (heads, T, N) mean attention, as from ``ctm_course.parity.attention_mass``.
        peak_tick: optional (N,) tick of peak attention per position (``reading_order``),
            drawn as dots on every panel.
    """
    m = to_numpy(mass)
    if m.ndim != 3:
        raise ValueError(f"mass must be (heads, T, N), got shape {m.shape}")
    heads, T, N = m.shape
    fig = new_figure((min(3.2 * heads + 1.0, 11.0), 3.6))
    axes = fig.subplots(1, heads, squeeze=False)[0]
    for h, ax in enumerate(axes):
        image = ax.imshow(
            m[h].T,
            aspect="auto",
            origin="lower",
            cmap="Blues",
            vmin=0,
            vmax=max(float(m.max()), 1e-6),  # one scale for all heads
            extent=(-0.5, T - 0.5, -0.5, N - 0.5),
        )
        if peak_tick is not None:
            ax.plot(
                to_numpy(peak_tick),
                np.arange(N),
                "o",
                color=WRONG,
                markersize=3.5,
                label="peak tick (all heads)",
            )
        ax.set_title(f"head {h + 1}", fontsize=FONT)
        ax.set_xlabel("internal tick", fontsize=FONT_SMALL)
        if h == 0:
            ax.set_ylabel("position", fontsize=FONT_SMALL)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=min(T, 8), integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=min(N, 8), integer=True))
        style_axes(ax, grid=False)
    fig.colorbar(image, ax=list(axes), fraction=0.03, pad=0.02, label="mean attention")
    if peak_tick is not None:
        axes[0].legend(fontsize=FONT_SMALL, frameon=False, loc="lower right")
    fig.suptitle(title, fontsize=FONT_TITLE)
    return fig


def plot_comparison(results: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Models side by side: per-position accuracy at each tick (left) and by position (right).

    Args:
        results: ``{name: evaluate_parity(...) result}`` (its ``per_position_per_tick`` (T,)
            and ``by_position`` (L,) are drawn); models may have different numbers of ticks.
    """
    if not results:
        raise ValueError("results is empty")
    fig = new_figure((11, 3.6))
    left, right = fig.subplots(1, 2)
    plot_per_tick(
        {name: r["per_position_per_tick"] for name, r in results.items()},
        ax=left,
        title="Per-position accuracy at each tick",
    )
    plot_by_position({name: r["by_position"] for name, r in results.items()}, ax=right)
    fig.tight_layout()
    return fig
