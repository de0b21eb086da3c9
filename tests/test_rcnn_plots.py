"""Lesson 5's figures added with the perturbation intervals and the architecture: what each draws."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from test_rcnn import synthetic_sources  # noqa: E402

from ctm_course.data.thorat2021 import paper_numbers  # noqa: E402
from ctm_course.rcnn import (  # noqa: E402
    GROUPS,
    generate_variant_sets,
    plots,
)


@pytest.fixture
def keep():
    """``keep(fig)`` returns ``fig`` and closes it after the test."""
    made = []
    yield lambda fig: made.append(fig) or fig
    for fig in made:
        plt.close(fig)


def rendered(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3]


def test_plot_variants_shows_the_shared_variants_then_each_sets_swaps(keep):
    sets = generate_variant_sets(2, synthetic_sources(), seed=0)
    fig = keep(plots.plot_variants(sets, index=1))
    shown = [ax for ax in fig.axes if ax.images]
    titles = [ax.get_title() for ax in shown]
    assert titles == [
        "original",
        "x swap",
        "y swap",
        "category within",
        "category between",
        "rotation (authors)",
        "rotation (fixed)",
        "scale (authors)",
        "scale (fixed)",
    ]
    np.testing.assert_allclose(
        shown[6].images[0].get_array(), sets["fixed"]["rotation"].images[1, 0].numpy()
    )
    assert fig.get_size_inches()[0] <= 11
    assert rendered(fig).std() > 0


def test_plot_importance_draws_our_intervals_as_error_bars(keep):
    rng = np.random.default_rng(0)
    ours = {g: rng.normal(0.1, 0.05, (4, 3)) for g in GROUPS}
    intervals = {
        g: {"low": v - 0.1, "high": v + 0.2, "importance": v} for g, v in ours.items()
    }
    fig = keep(plots.plot_importance(ours, paper_numbers(), intervals=intervals))
    panels = fig.axes
    assert len(panels) == 4
    for i, ax in enumerate(panels):
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == 3  # one per step T = 2, 3, 4
        for k, bar in enumerate(bars):
            segments = bar.lines[2][0].get_segments()
            lows = [seg[0][1] for seg in segments]
            highs = [seg[1][1] for seg in segments]
            np.testing.assert_allclose(lows, [intervals[g]["low"][i, k] for g in ours])
            np.testing.assert_allclose(
                highs, [intervals[g]["high"][i, k] for g in ours]
            )
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "95% interval over images (ours)" in labels
    plain = keep(plots.plot_importance(ours))
    assert not any(ax.containers for ax in plain.axes)
