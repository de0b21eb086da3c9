"""One internal tick of a CTM, drawn onto a matplotlib Figure.

:func:`tick_view` turns a :class:`~ctm_course.ctm.tracking.CTMTrack` and its input batch into a
:class:`TickView` (one example, NumPy arrays, every check done once); :func:`draw_tick` draws
tick ``t`` of that view onto a Figure. The GIF (:mod:`ctm_course.viz.animation`) and the slider
(:mod:`ctm_course.viz.scrubber`) both draw with these two functions.

Ticks are numbered ``0 .. T-1``, like the last axis of ``track.predictions``.

Panels of a frame::

    tick t / T-1                           target 7 . prediction 7 (p = 0.98) . certainty 0.93
    +---------+ +-----------+ +-----------------------------------------+
    |  input  | | attention | |  class probabilities (target green,      |
    |         | | over image| |  prediction marked with a triangle)      |
    +---------+ +-----------+ +-----------------------------------------+
    certainty = 1 - normalised entropy over all ticks, cursor at t, best tick starred
    n most dynamic neurons: post-activation z (colour), pre-activation a (grey dashed, own axis)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..metrics import most_certain_tick
from .common import (
    CURSOR,
    FONT,
    FONT_SMALL,
    FONT_TITLE,
    INK,
    NEUTRAL,
    PRE,
    TARGET,
    WRONG,
    frame_header,
    mark_most_certain,
    style_axes,
    to_numpy,
)

if TYPE_CHECKING:
    from ctm_course.ctm.tracking import CTMTrack

#: Size of one frame: 10 x 7 inches at 100 dpi = 1000 x 700 pixels.
FRAME_FIGSIZE: tuple[float, float] = (10.0, 7.0)
FRAME_DPI: int = 100


@dataclass(frozen=True)
class TickView:
    """Everything needed to draw one example tick by tick (NumPy, float32 unless stated).

    Attributes:
        image: (H, W) grey or (H, W, 3) colour input, min-max scaled to [0, 1].
        attention: (T, H, W) attention averaged over heads, upsampled (bilinear) to the image
            size and divided by its maximum at each tick (so each tick spans [0, 1]).
        probs: (T, C) softmax of the logits at each tick.
        certainty: (T,) certainty ``1 - normalised entropy`` at each tick.
        neurons: (n,) int64 indices of the drawn neurons, most dynamic first.
        post: (T, n) post-activations z of those neurons.
        pre: (T, n) pre-activations a of those neurons.
        target: the true class index.
        class_names: C names, one per class.
        token_grid: (h, w) grid of the attended tokens (h * w = N).
        heads: number of attention heads averaged.
        index: position of the example in its batch.
    """

    image: np.ndarray
    attention: np.ndarray
    probs: np.ndarray
    certainty: np.ndarray
    neurons: np.ndarray
    post: np.ndarray
    pre: np.ndarray
    target: int
    class_names: tuple[str, ...]
    token_grid: tuple[int, int]
    heads: int
    index: int

    @property
    def ticks(self) -> int:
        """Number of internal ticks T."""
        return int(self.probs.shape[0])

    @property
    def predicted(self) -> np.ndarray:
        """(T,) predicted class at each tick."""
        return self.probs.argmax(axis=1)

    @property
    def most_certain(self) -> int:
        """Index of the most certain tick (first one on ties), as ``CTMTrack.most_certain_tick``."""
        # the (2, T) rows [normalised entropy, certainty] that metrics.most_certain_tick reads
        return int(most_certain_tick(np.stack((1 - self.certainty, self.certainty))))


# ----------------------------------------------------------------------------------- checks
def _shape(x: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in x.shape)


def _check_track(track: "CTMTrack") -> tuple[int, int, int, int, int, int]:
    """Validate the track's shapes against each other; return (B, C, T, D, heads, N)."""
    pred = track.predictions
    if pred.ndim != 3:
        raise ValueError(
            f"track.predictions must be (B, C, T), got shape {_shape(pred)}"
        )
    B, C, T = _shape(pred)
    if _shape(track.certainties) != (B, 2, T):
        raise ValueError(
            f"track.certainties has shape {_shape(track.certainties)}, expected (B, 2, T) = {(B, 2, T)}"
        )
    post, pre = track.post_activations, track.pre_activations
    if post.ndim != 3 or _shape(post)[:2] != (T, B):
        raise ValueError(
            f"track.post_activations has shape {_shape(post)}, expected (T, B, D) with T={T}, B={B}"
        )
    if _shape(pre) != _shape(post):
        raise ValueError(
            f"track.pre_activations has shape {_shape(pre)}, expected the shape of "
            f"post_activations {_shape(post)}"
        )
    att = track.attention
    if att.ndim != 5 or _shape(att)[:2] != (T, B) or att.shape[3] != 1:
        raise ValueError(
            f"track.attention has shape {_shape(att)}, expected (T, B, heads, 1, N) with T={T}, B={B}"
        )
    return B, C, T, int(post.shape[2]), int(att.shape[2]), int(att.shape[4])


def _token_grid(grid: Sequence[int] | None, n_tokens: int) -> tuple[int, int]:
    if grid is None:
        side = math.isqrt(n_tokens)
        if side * side != n_tokens:
            raise ValueError(
                f"track.token_grid is None and the N={n_tokens} attended tokens do not form a square; "
                "the attention map can only be drawn for tokens that come from an image grid"
            )
        return side, side
    if len(grid) != 2 or int(grid[0]) * int(grid[1]) != n_tokens:
        raise ValueError(
            f"track.token_grid={tuple(grid)} is inconsistent with the attention: it has "
            f"{math.prod(int(g) for g in grid)} cells but attention has N={n_tokens} tokens"
        )
    return int(grid[0]), int(grid[1])


def _images_bchw(images: Any, batch: int) -> torch.Tensor:
    x = (
        torch.as_tensor(to_numpy(images))
        if not isinstance(images, torch.Tensor)
        else images
    )
    x = x.detach().cpu().float()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"images must be (B, 1, H, W), (B, 3, H, W) or (B, H, W), got shape {_shape(x)}"
        )
    if x.shape[0] != batch:
        raise ValueError(
            f"images has batch size {x.shape[0]} but the track has batch size {batch}; "
            "pass the same batch that produced the track"
        )
    return x


# ------------------------------------------------------------------------------- tick_view
def tick_view(
    track: "CTMTrack",
    images: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray | Sequence[int],
    index: int = 0,
    n_neurons: int = 16,
    class_names: Sequence[str] | None = None,
) -> TickView:
    """Check a track against its inputs and extract example ``index``, ready to draw.

    Args:
        track: the model's record for a batch of B examples (``model(x, track=True)``).
        images: (B, 1, H, W), (B, 3, H, W) or (B, H, W) inputs of that batch (any scaling).
        labels: (B,) true class indices.
        index: which example to show, ``0 <= index < B``.
        n_neurons: how many neurons to trace; the ``n_neurons`` with the largest variance of
            their post-activation over ticks are chosen (all D if D is smaller).
        class_names: C names for the classes (default ``"0" .. "C-1"``).

    Raises:
        ValueError: naming the argument, when a shape, the index or a count does not fit.
    """
    B, C, T, D, heads, N = _check_track(track)
    if (
        not isinstance(index, (int, np.integer))
        or isinstance(index, bool)
        or not 0 <= index < B
    ):
        raise ValueError(f"index must be an int with 0 <= index < B={B}, got {index!r}")
    index = int(index)
    if not isinstance(n_neurons, (int, np.integer)) or n_neurons < 1:
        raise ValueError(f"n_neurons must be a positive int, got {n_neurons!r}")
    x = _images_bchw(images, B)
    y = to_numpy(labels, dtype=np.int64).reshape(-1)
    if y.shape[0] != B:
        raise ValueError(
            f"labels has {y.shape[0]} entries but the track has batch size {B}"
        )
    target = int(y[index])
    if not 0 <= target < C:
        raise ValueError(f"labels[{index}]={target} is not a class index in 0..{C - 1}")
    if class_names is None:
        names = tuple(str(i) for i in range(C))
    else:
        names = tuple(str(n) for n in class_names)
        if len(names) != C:
            raise ValueError(
                f"class_names has {len(names)} names but the model has C={C} classes"
            )
    grid = _token_grid(track.token_grid, N)

    # Input image, scaled to [0, 1] for display.
    img = x[index]
    img = (img - img.min()) / (img.max() - img.min()).clamp_min(1e-8)
    H, W = int(img.shape[1]), int(img.shape[2])
    image = img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()

    # Attention: (T, heads, 1, N) -> mean over heads -> (T, 1, h, w) -> bilinear (T, H, W).
    att = (
        torch.as_tensor(to_numpy(track.attention[:, index]))
        .mean(dim=1)
        .reshape(T, 1, *grid)
    )
    att = F.interpolate(att, size=(H, W), mode="bilinear", align_corners=False)[:, 0]
    att = att.clamp_min(0)
    att = att / att.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)

    logits = torch.as_tensor(to_numpy(track.predictions[index]))  # (C, T)
    probs = torch.softmax(logits, dim=0).T.numpy()  # (T, C)
    certainty = to_numpy(track.certainties[index, 1])  # (T,)

    post_all = to_numpy(track.post_activations[:, index])  # (T, D)
    pre_all = to_numpy(track.pre_activations[:, index])
    n = min(int(n_neurons), D)
    variance = np.nan_to_num(post_all.var(axis=0), nan=-1.0)
    neurons = np.argsort(-variance, kind="stable")[:n].astype(np.int64)

    return TickView(
        image=image.astype(np.float32),
        attention=att.numpy().astype(np.float32),
        probs=probs.astype(np.float32),
        certainty=certainty,
        neurons=neurons,
        post=post_all[:, neurons],
        pre=pre_all[:, neurons],
        target=target,
        class_names=names,
        token_grid=grid,
        heads=heads,
        index=index,
    )


# ------------------------------------------------------------------------------- drawing
def attention_overlay(
    image: np.ndarray, attention: np.ndarray, alpha: float = 0.6, cmap: str = "inferno"
) -> np.ndarray:
    """Alpha-blend a heat map over an image.

    Args:
        image: (H, W) or (H, W, 3) in [0, 1].
        attention: (H, W) in [0, 1].
        alpha: weight of the heat map.
        cmap: matplotlib colour map of the heat map.

    Returns:
        (H, W, 3) float RGB in [0, 1].
    """
    base = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image
    heat = matplotlib.colormaps[cmap](attention)[..., :3]
    return np.clip((1.0 - alpha) * base + alpha * heat, 0.0, 1.0)


def _tick_axis(ax: Axes, T: int, nbins: int, labels: bool) -> None:
    ax.set_xlim(-0.5, T - 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=min(T, nbins), integer=True))
    ax.tick_params(labelbottom=labels)


def _no_spines(ax: Axes, keep_bottom: bool = True) -> None:
    for side in ("top", "right", "left") + (() if keep_bottom else ("bottom",)):
        ax.spines[side].set_visible(False)


class _TickArtists:
    """The figure of one :class:`TickView`: static parts drawn once, moving parts kept here.

    Drawing a tick then only moves the cursors and changes a few data arrays, which is much
    cheaper than rebuilding 30-odd axes per frame.
    """

    def __init__(self, fig: Figure, view: TickView) -> None:
        self.view = view
        T, C = view.probs.shape
        fig.clear()
        fig.set_facecolor("white")
        outer = fig.add_gridspec(
            3,
            1,
            height_ratios=[2.5, 1.0, 3.1],
            left=0.07,
            right=0.975,
            top=0.875,
            bottom=0.045,
            hspace=0.5,
        )
        top = outer[0].subgridspec(1, 3, width_ratios=[1.0, 1.0, 2.6], wspace=0.22)

        # Header: tick counter (left) and the verdict at this tick (right).
        self.header, self.verdict = frame_header(fig)

        # Input and attention overlay.
        self.ax_input = fig.add_subplot(top[0])
        self.ax_input.imshow(
            view.image,
            cmap="gray" if view.image.ndim == 2 else None,
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
        self.ax_input.set_title("input", fontsize=FONT_TITLE)
        self.ax_input.axis("off")
        self.ax_att = fig.add_subplot(top[1])
        self.att_image = self.ax_att.imshow(
            attention_overlay(view.image, view.attention[0]), interpolation="bilinear"
        )
        h, w = view.token_grid
        self.ax_att.set_title(
            f"attention ({h}×{w} tokens,\nmean of {view.heads} heads)",
            fontsize=FONT_SMALL,
        )
        self.ax_att.axis("off")

        # Class probabilities.
        ax = self.ax_probs = fig.add_subplot(top[2])
        x = np.arange(C)
        self.bars = ax.bar(x, view.probs[0], color=NEUTRAL, width=0.8, edgecolor="none")
        (self.pred_marker,) = ax.plot(
            [0], [0], marker="v", color=INK, markersize=9, linestyle="none"
        )
        ax.set_ylim(0, 1.15)
        ax.set_yticks([0, 0.5, 1.0])
        step = max(1, math.ceil(C / 20))
        ax.set_xticks(x[::step])
        ax.set_xticklabels(view.class_names[::step], fontsize=FONT_SMALL)
        for label, k in zip(ax.get_xticklabels(), x[::step]):
            if k == view.target:
                label.set_color(TARGET)
                label.set_fontweight("bold")
        ax.set_xlim(-0.6, C - 0.4)
        style_axes(ax)
        ax.grid(False, axis="x")
        ax.set_ylabel("probability", fontsize=FONT)
        ax.set_title("probabilities", fontsize=FONT_TITLE, loc="left")
        handles = [
            Patch(color=TARGET, label="target"),
            Patch(color=WRONG, label="wrong"),
            Line2D(
                [],
                [],
                marker="v",
                color=INK,
                linestyle="none",
                markersize=8,
                label="prediction",
            ),
        ]
        ax.legend(
            handles=handles,
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncol=3,
            fontsize=FONT_SMALL,
            frameon=False,
            handlelength=1.0,
            columnspacing=1.0,
            borderaxespad=0.1,
        )

        # Certainty over all ticks: faint whole run, solid up to the cursor, best tick starred.
        ax = self.ax_cert = fig.add_subplot(outer[1])
        ticks = np.arange(T)
        c = view.certainty
        best = view.most_certain
        ax.plot(ticks, c, color=INK, linewidth=1.2, alpha=0.3)
        (self.cert_past,) = ax.plot(ticks[:1], c[:1], color=INK, linewidth=2.2)
        self.cert_cursor = ax.axvline(0, color=CURSOR, linewidth=1.2, alpha=0.6)
        (self.cert_dot,) = ax.plot([0], [c[0]], "o", color=INK, markersize=6)
        mark_most_certain(ax, best, c[best])
        ax.set_ylim(-0.03, 1.1)
        ax.set_yticks([0, 0.5, 1])
        _tick_axis(ax, T, nbins=16, labels=True)
        style_axes(ax)
        ax.set_ylabel("certainty", fontsize=FONT)
        ax.set_title(
            "certainty = 1 − normalised entropy", fontsize=FONT_TITLE, loc="left"
        )
        ax.legend(
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            fontsize=FONT_SMALL,
            frameon=False,
            borderaxespad=0.1,
        )

        # Neuron traces: post-activation z in colour, pre-activation a grey dashed (twin axis).
        self.traces: list[Axes] = []
        self.trace_past: list[Line2D] = []
        self.trace_dots: list[Line2D] = []
        self.trace_cursors: list[Line2D] = []
        n = int(view.neurons.shape[0])
        cols = min(4, n)
        rows = math.ceil(n / cols)
        grid = outer[2].subgridspec(rows, cols, hspace=0.2, wspace=0.08)
        palette = matplotlib.colormaps["tab10"]
        for i in range(n):
            r, k = divmod(i, cols)
            ax = fig.add_subplot(grid[r, k])
            twin = ax.twinx()
            twin.plot(ticks, view.pre[:, i], color=PRE, linestyle="--", linewidth=1.0)
            twin.axis("off")
            ax.set_zorder(twin.get_zorder() + 1)  # the coloured post-activation on top
            ax.patch.set_visible(False)
            colour = palette(i % 10)
            post = view.post[:, i]
            ax.plot(ticks, post, color=colour, linewidth=1.0, alpha=0.35)
            (past,) = ax.plot(ticks[:1], post[:1], color=colour, linewidth=2.0)
            (dot,) = ax.plot([0], [post[0]], "o", color=colour, markersize=4)
            cursor = ax.axvline(0, color=CURSOR, linewidth=1.0, alpha=0.6)
            _tick_axis(ax, T, nbins=6, labels=r == rows - 1 or i + cols >= n)
            ax.set_yticks([])
            _no_spines(ax)
            ax.tick_params(labelsize=FONT_SMALL, length=2, pad=1)
            ax.text(
                0.01,
                0.97,
                f"#{int(view.neurons[i])}",
                transform=ax.transAxes,
                ha="left",
                va="top",
                fontsize=FONT_SMALL,
                color=INK,
                bbox=dict(facecolor="white", edgecolor="none", alpha=0.7, pad=0.5),
            )
            self.traces.append(ax)
            self.trace_past.append(past)
            self.trace_dots.append(dot)
            self.trace_cursors.append(cursor)
        if self.traces:
            top_y = max(a.get_position().y1 for a in self.traces)
            left_x = min(a.get_position().x0 for a in self.traces)
            fig.text(
                left_x,
                top_y + 0.012,
                f"{n} most dynamic neurons: post-activation z (colour), "
                "pre-activation a (grey dashed, own scale)",
                fontsize=FONT_TITLE,
                ha="left",
                va="bottom",
            )

    def update(self, t: int) -> None:
        """Move every cursor to tick ``t`` and show the state of the model at that tick."""
        view = self.view
        T = view.ticks
        ticks = np.arange(T)
        probs = view.probs[t]
        pred = int(probs.argmax())
        ok = pred == view.target

        self.header.set_text(f"tick {t} / {T - 1}")
        self.verdict.set_text(
            f"target {view.class_names[view.target]}  ·  prediction {view.class_names[pred]} "
            f"(p = {probs[pred]:.2f}) {'✓' if ok else '✗'}  ·  certainty {view.certainty[t]:.2f}"
        )
        self.verdict.set_color(TARGET if ok else WRONG)
        self.att_image.set_data(attention_overlay(view.image, view.attention[t]))
        for k, bar in enumerate(self.bars):
            bar.set_height(float(probs[k]))
            bar.set_color(
                TARGET if k == view.target else WRONG if k == pred else NEUTRAL
            )
        self.pred_marker.set_data([pred], [min(float(probs[pred]) + 0.07, 1.1)])
        c = view.certainty
        self.cert_past.set_data(ticks[: t + 1], c[: t + 1])
        self.cert_cursor.set_xdata([t, t])
        self.cert_dot.set_data([t], [c[t]])
        for i, (past, dot, cursor) in enumerate(
            zip(self.trace_past, self.trace_dots, self.trace_cursors)
        ):
            post = view.post[:, i]
            past.set_data(ticks[: t + 1], post[: t + 1])
            dot.set_data([t], [post[t]])
            cursor.set_xdata([t, t])

    def axes(self) -> dict[str, Any]:
        return {
            "input": self.ax_input,
            "attention": self.ax_att,
            "probs": self.ax_probs,
            "certainty": self.ax_cert,
            "traces": list(self.traces),
        }


_STATE_ATTR = "_ctm_course_tick_artists"


def draw_tick(fig: Figure, view: TickView, t: int) -> dict[str, Any]:
    """Draw tick ``t`` (``0 <= t < T``) of ``view`` onto ``fig``.

    The first call for a (figure, view) pair clears the figure and lays it out; later calls
    with the same view only move the cursors and update the tick's data, so rendering all T
    ticks stays cheap. The layout uses fixed positions (no tight layout): every panel stays at
    the same place from tick to tick and an animation does not jitter. Meant for a 10 x 7 inch
    figure (:data:`FRAME_FIGSIZE`).

    Returns:
        The axes drawn: ``{"input", "attention", "probs", "certainty": Axes, "traces": [Axes]}``.
    """
    T = view.ticks
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < T:
        raise ValueError(f"t must be an int with 0 <= t < T={T}, got {t!r}")
    state = getattr(fig, _STATE_ATTR, None)
    if state is None or state.view is not view or state.ax_cert not in fig.axes:
        state = _TickArtists(fig, view)
        setattr(fig, _STATE_ATTR, state)
    state.update(int(t))
    return state.axes()
