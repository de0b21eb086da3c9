"""A seed study at a glance: the accuracy of every seed of every variant, and the reader's own run.

Lessons 4 and 5 repeat a comparison over seeds (:mod:`ctm_course.studies`) and draw the recorded
seeds beside the notebook's run with :func:`plot_seed_spread`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .common import FONT, FONT_SMALL, new_figure, style_axes


def plot_seed_spread(
    seed_runs: Mapping[str, Sequence[float]],
    ours: Mapping[str, float] | None = None,
    title: str = "Ablations: seed-to-seed spread",
) -> Figure:
    """One column per variant: the accuracies of its seeds (circles) with their mean (a bar), and
    ``ours[variant]`` (a star: this notebook's run). Variants with no seeds show only the star."""
    names = list(seed_runs) or list(ours or {})
    fig = new_figure((max(5.0, 1.6 * len(names)), 3.4))
    ax = fig.add_subplot(1, 1, 1)
    labelled = set()

    def label(kind: str) -> str | None:
        return None if kind in labelled else labelled.add(kind) or kind

    for i, name in enumerate(names):
        values = np.asarray(seed_runs.get(name, []), float)
        if values.size:
            jitter = np.linspace(-0.12, 0.12, values.size) if values.size > 1 else [0.0]
            ax.scatter(
                i + np.asarray(jitter),
                values,
                s=28,
                facecolors="none",
                edgecolors="#1f77b4",
                label=label(f"recorded seeds ({values.size})"),
            )
            ax.hlines(
                values.mean(),
                i - 0.25,
                i + 0.25,
                color="#1f77b4",
                lw=2,
                label=label("mean of the seeds"),
            )
        if ours is not None and name in ours:
            ax.scatter(
                [i],
                [ours[name]],
                marker="*",
                s=120,
                color="#d62728",
                zorder=3,
                label=label("this notebook's run"),
            )
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=FONT_SMALL)
    ax.set_ylabel("test accuracy", fontsize=FONT_SMALL)
    ax.set_title(title, fontsize=FONT)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.legend(fontsize=9, frameon=False, loc="best")
    style_axes(ax)
    fig.tight_layout()
    return fig
