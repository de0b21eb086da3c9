"""The figures of lesson 3: the series with its anomalies, reconstructions tick by tick, attention and
neurons over a window, scores over time."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..viz.common import FONT, FONT_SMALL, FONT_TITLE, WRONG, new_figure, style_axes
from .detect import _segments
from .generate import ANOMALY_KINDS, Series

KIND_COLOURS = dict(
    zip(ANOMALY_KINDS, ("#d62728", "#ff7f0e", "#9467bd", "#2ca02c", "#8c564b"))
)


def _shade(ax, series: Series, lo: int, hi: int) -> set[str]:
    """Shade every labelled anomaly between steps lo and hi in its kind's colour; return the kinds seen."""
    seen = set()
    for start, end in _segments(series.labels[lo:hi]):
        kind_id = int(series.kinds[lo + start])
        kind = (
            ANOMALY_KINDS[kind_id - 1]
            if 1 <= kind_id <= len(ANOMALY_KINDS)
            else "anomaly"
        )
        ax.axvspan(
            lo + start - 0.5,
            lo + end - 0.5,
            color=KIND_COLOURS.get(kind, "#d62728"),
            alpha=0.22,
            lw=0,
        )
        seen.add(kind)
    return seen


def _legend(fig: Figure, kinds: set[str]) -> None:
    if kinds:
        handles = [
            Patch(color=KIND_COLOURS.get(k, "#d62728"), alpha=0.4, label=k)
            for k in sorted(kinds)
        ]
        fig.legend(
            handles=handles,
            loc="upper center",
            ncol=len(handles),
            frameon=False,
            fontsize=FONT - 1,
            bbox_to_anchor=(0.5, 1.0),
        )


def plot_series(
    series: Series, start: int = 0, length: int | None = None, title: str | None = None
) -> Figure:
    """Every channel of ``series`` between ``start`` and ``start + length``, anomalies shaded by kind."""
    hi = len(series) if length is None else min(len(series), start + length)
    C = series.n_channels
    fig = new_figure((11, 1.3 * C + 0.8))
    axes = fig.subplots(C, 1, sharex=True)
    t = np.arange(start, hi)
    kinds: set[str] = set()
    for c, ax in enumerate(np.atleast_1d(axes)):
        ax.plot(t, series.values[start:hi, c], color="#1f4e79", lw=0.9)
        kinds |= _shade(ax, series, start, hi)
        ax.set_ylabel(
            series.channels[c], fontsize=FONT - 1, rotation=0, ha="right", va="center"
        )
        style_axes(ax)
    np.atleast_1d(axes)[-1].set_xlabel("time step (30 min)", fontsize=FONT)
    _legend(fig, kinds)
    if title:
        fig.suptitle(title, fontsize=FONT_TITLE, y=1.04)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def plot_reconstruction_ticks(
    target: np.ndarray,
    reconstructions: np.ndarray,
    ticks: Sequence[int],
    channels: Sequence[str],
    show: Sequence[int] = (0, 1, 2),
) -> Figure:
    """One window: ``target (C, W)`` against ``reconstructions (C, W, T)`` at the given ticks (0-based)."""
    fig = new_figure((min(3.6 * len(ticks), 11.0), 1.6 * len(show) + 0.8))
    axes = fig.subplots(len(show), len(ticks), sharex=True, sharey="row", squeeze=False)
    for j, tick in enumerate(ticks):
        for i, c in enumerate(show):
            ax = axes[i, j]
            ax.plot(target[c], color="#222222", lw=1.6, label="window")
            ax.plot(
                reconstructions[c, :, tick],
                color="#1f77b4",
                lw=1.6,
                ls="--",
                label="reconstruction",
            )
            error = float(np.mean((reconstructions[:, :, tick] - target) ** 2))
            if i == 0:
                ax.set_title(f"tick {tick + 1}: MSE {error:.3f}", fontsize=FONT_TITLE)
            if j == 0:
                ax.set_ylabel(channels[c], fontsize=FONT - 1)
            style_axes(ax)
    axes[0, 0].legend(fontsize=FONT - 2, frameon=False)
    for ax in axes[-1]:
        ax.set_xlabel("step in window", fontsize=FONT)
    fig.tight_layout()
    return fig


def plot_scores(
    series: Series,
    scores: Mapping[str, np.ndarray],
    start: int = 0,
    length: int | None = None,
    channel: int = 0,
) -> Figure:
    """One channel of the test series, then each detector's score (normalised to its own range), with the
    true anomalies shaded by kind."""
    hi = len(series) if length is None else min(len(series), start + length)
    rows = 1 + len(scores)
    fig = new_figure((11, 1.35 * rows + 0.8))
    axes = fig.subplots(rows, 1, sharex=True)
    t = np.arange(start, hi)
    kinds = _shade(axes[0], series, start, hi)
    axes[0].plot(t, series.values[start:hi, channel], color="#1f4e79", lw=0.9)
    axes[0].set_ylabel(
        series.channels[channel], fontsize=FONT - 1, rotation=0, ha="right", va="center"
    )
    for ax, (name, s) in zip(axes[1:], scores.items()):
        s = np.asarray(s[start:hi], dtype=float)
        span = np.percentile(s, 99.5) - s.min()
        ax.plot(t, (s - s.min()) / (span if span > 0 else 1.0), color="#333333", lw=0.9)
        ax.set_ylim(-0.05, 1.15)
        _shade(ax, series, start, hi)
        ax.set_ylabel(name, fontsize=FONT - 1, rotation=0, ha="right", va="center")
    for ax in axes:
        style_axes(ax)
    axes[-1].set_xlabel("time step (30 min)", fontsize=FONT)
    _legend(fig, kinds)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def plot_window_thinking(
    windows: np.ndarray,
    attention: np.ndarray,
    post_activations: np.ndarray,
    titles: Sequence[str],
    neurons: Sequence[int],
    labels: np.ndarray | None = None,
    channels: Sequence[str] | None = None,
) -> Figure:
    """What the CTM does over a few windows: one column per window, three rows.

    1. the window itself, every channel over its W steps, labelled anomalous steps shaded;
    2. the attention of the CTM's query over the window's steps at every tick: a heat map with
       the ticks as rows (tick 1 on top) and the steps as columns, on one colour scale for all
       windows; anomalous steps are outlined;
    3. the post-activations of a few ``neurons`` over the ticks (same colour = same neuron).

    Args:
        windows: (K, C, W) the windows, as the model read them.
        attention: (K, T, W) attention weights over the steps, averaged over the heads
            (``reconstruct(..., track=True)``).
        post_activations: (K, T, D) the neurons' post-activations z^t.
        titles: K column titles.
        neurons: indices (< D) of the neurons whose traces are drawn.
        labels: optional (K, W) 0/1 anomaly labels of the windows' steps.
        channels: optional C channel names for the legend.
    """
    windows = np.asarray(windows, dtype=float)
    attention = np.asarray(attention, dtype=float)
    post = np.asarray(post_activations, dtype=float)
    if windows.ndim != 3:
        raise ValueError(f"windows must be (K, C, W), got shape {windows.shape}")
    K, C, W = windows.shape
    if attention.ndim != 3 or attention.shape[0] != K or attention.shape[2] != W:
        raise ValueError(
            f"attention must be (K, T, W) = ({K}, T, {W}), got shape {attention.shape}"
        )
    T = attention.shape[1]
    if post.ndim != 3 or post.shape[:2] != (K, T):
        raise ValueError(
            f"post_activations must be (K, T, D) = ({K}, {T}, D), got shape {post.shape}"
        )
    if len(titles) != K:
        raise ValueError(
            f"titles must have one entry per window ({K}), got {len(titles)}"
        )
    if not neurons or not all(0 <= n < post.shape[2] for n in neurons):
        raise ValueError(
            f"neurons must be indices in [0, {post.shape[2]}), got {list(neurons)}"
        )
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (K, W):
            raise ValueError(f"labels must be (K, W) = ({K}, {W}), got {labels.shape}")

    fig = new_figure((min(5.0 * K + 1.2, 11.0), 8.2))
    axes = fig.subplots(
        3, K, squeeze=False, gridspec_kw={"height_ratios": (1.0, 1.3, 1.1)}
    )
    steps, ticks = np.arange(W), np.arange(1, T + 1)
    vmax = max(float(attention.max()), 1e-6)
    neuron_colours = [f"C{i % 10}" for i in range(len(neurons))]
    for k in range(K):
        ax_window, ax_att, ax_neurons = axes[:, k]
        segments = _segments(labels[k]) if labels is not None else []
        for c in range(C):
            name = channels[c] if channels is not None else f"channel {c + 1}"
            ax_window.plot(steps, windows[k, c], lw=1.1, label=name)
        for start, end in segments:
            ax_window.axvspan(start - 0.5, end - 0.5, color=WRONG, alpha=0.2, lw=0)
        ax_window.set_xlim(-0.5, W - 0.5)
        ax_window.set_title(titles[k], fontsize=FONT_TITLE)
        ax_window.set_xlabel("step in window", fontsize=FONT_SMALL)
        ax_window.set_ylabel("value (std)", fontsize=FONT_SMALL)
        style_axes(ax_window)

        image = ax_att.imshow(
            attention[k],
            aspect="auto",
            origin="upper",
            cmap="Blues",
            vmin=0,
            vmax=vmax,
            extent=(-0.5, W - 0.5, T + 0.5, 0.5),
            interpolation="nearest",
        )
        for start, end in segments:
            ax_att.axvspan(
                start - 0.5, end - 0.5, fill=False, edgecolor=WRONG, lw=1.4, ls="--"
            )
        ax_att.set_xlabel("step in window", fontsize=FONT_SMALL)
        ax_att.set_ylabel("tick", fontsize=FONT_SMALL)
        ax_att.set_title("attention over the window's steps", fontsize=FONT)
        ax_att.yaxis.set_major_locator(MaxNLocator(nbins=min(T, 6), integer=True))
        style_axes(ax_att, grid=False)

        for n, colour in zip(neurons, neuron_colours):
            ax_neurons.plot(
                ticks, post[k, :, n], "o-", ms=3, lw=1.3, color=colour, label=f"{n}"
            )
        ax_neurons.set_xlabel("tick", fontsize=FONT_SMALL)
        ax_neurons.set_ylabel("post-activation", fontsize=FONT_SMALL)
        ax_neurons.set_title("neuron traces", fontsize=FONT)
        ax_neurons.xaxis.set_major_locator(MaxNLocator(nbins=min(T, 8), integer=True))
        style_axes(ax_neurons)
    low = float(post[:, :, list(neurons)].min())
    high = float(post[:, :, list(neurons)].max())
    pad = 0.05 * (high - low if high > low else 1.0)
    for ax in axes[2]:
        ax.set_ylim(low - pad, high + pad)
    axes[0, -1].legend(
        fontsize=FONT_SMALL - 1, frameon=False, loc="upper left", bbox_to_anchor=(1, 1)
    )
    axes[2, -1].legend(
        title="neuron",
        fontsize=FONT_SMALL - 1,
        title_fontsize=FONT_SMALL - 1,
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1, 1),
    )
    # the colour bar in an inset right of the last heat map keeps the rows aligned
    cax = axes[1, -1].inset_axes((1.03, 0.0, 0.035, 1.0))
    bar = fig.colorbar(image, cax=cax)
    bar.set_label("attention weight", fontsize=FONT_SMALL)
    bar.ax.tick_params(labelsize=FONT_SMALL - 1)
    fig.tight_layout()
    return fig
