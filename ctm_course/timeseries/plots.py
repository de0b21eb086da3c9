"""The figures of lesson 3: the series with its anomalies, reconstructions tick by tick, scores over time."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..viz.common import FONT, FONT_TITLE, new_figure, style_axes
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
