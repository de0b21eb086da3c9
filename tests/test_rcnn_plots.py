"""Lesson 5's figures added with the perturbation intervals and the architecture: what each draws."""

from __future__ import annotations

import io
import itertools
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from test_rcnn import synthetic_sources  # noqa: E402

from ctm_course.data.thorat2021 import paper_numbers  # noqa: E402
from ctm_course.rcnn import (  # noqa: E402
    CONNECTIONS,
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


def test_published_decoding_draws_both_networks_per_layer(keep):
    gain, additive = paper_numbers("0111"), paper_numbers("1011")
    groups = ("Category", "Location")
    fig = keep(plots.plot_published_decoding(gain, additive, groups=groups))
    assert len(fig.axes) == len(groups) and fig.get_size_inches()[0] <= 11
    for ax, group in zip(fig.axes, groups):
        assert ax.get_title() == group
        solid = [line for line in ax.lines if line.get_linestyle() == "-"]
        dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
        assert len(solid) == len(dashed) == 4  # one per layer and network
        for i in range(4):
            np.testing.assert_allclose(
                solid[i].get_ydata(), gain["decoding"][group]["mean"][i]
            )
            np.testing.assert_allclose(
                dashed[i].get_ydata(), additive["decoding"][group]["mean"][i]
            )
            # the same colour for a layer in both networks
            assert solid[i].get_color() == dashed[i].get_color()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "Input, gain 0111" in labels and "FC, additive 1011" in labels
    # the two networks differ: the figure does not draw one network twice
    assert not np.allclose(
        gain["decoding"]["Category"]["mean"], additive["decoding"]["Category"]["mean"]
    )


def texts(fig) -> list:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


@pytest.mark.parametrize("n_feats", [8, 4])
def test_architecture_names_the_layers_their_shapes_and_both_kinds_of_modulation(
    n_feats, keep
):
    fig = keep(plots.plot_architecture(n_feats))
    found = " | ".join(t.get_text() for t in texts(fig))
    n = n_feats
    for label in (
        "input",
        "conv1: 5×5 conv, ReLU, max-pool 3",
        f"{n}×96×96 → {n}×32×32",
        f"{2 * n}×28×28 → {2 * n}×9×9",
        f"{16 * n} units",
        "readout fc2: fc1 at t = 1..4 → 20 classes",
        "bottom-up",
        "lateral",
        "top-down",
        "a gain G (model 0111)",
        "a bias B (model 1011)",
        "ReLU}(Wx)\\,(1 + G)",
        "ReLU}(Wx + B)",
    ):
        assert label in found, label
    arrows = {p.get_gid() for p in fig.findobj(FancyArrowPatch)}
    names = {name for name, *_ in CONNECTIONS}
    assert names <= arrows  # one arrow per recurrent module, named after it
    assert {a for a in arrows if a.startswith("bottom-up")} == {
        "bottom-up:conv1",
        "bottom-up:conv2",
        "bottom-up:fc",
        "bottom-up:readout",
    }
    colours = {
        kind: {
            to_hex(p.get_edgecolor())
            for p in fig.findobj(FancyArrowPatch)
            if p.get_gid() in {c[0] for c in CONNECTIONS if c[3] == kind}
        }
        for kind in ("lateral", "topdown")
    }
    assert len(colours["lateral"]) == len(colours["topdown"]) == 1
    assert colours["lateral"] != colours["topdown"]


def test_architecture_draws_only_the_enabled_flows(keep):
    fig = keep(plots.plot_architecture(4, lateral=False))
    arrows = {p.get_gid() for p in fig.findobj(FancyArrowPatch)}
    assert not arrows & {"c1c1", "c2c2", "fc1fc1"}
    assert {"c1x", "c2x", "fc1x", "c2c1", "fc1c1", "fc1c2"} <= arrows


def test_architecture_is_light_opaque_and_readable(keep):
    fig = keep(plots.plot_architecture())
    assert fig.get_size_inches()[0] <= 11
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts(fig)]
    width, height = fig.bbox.width, fig.bbox.height
    outside = [
        text
        for text, b in boxes
        if b.x0 < 0 or b.y0 < 0 or b.x1 > width or b.y1 > height
    ]
    assert not outside, outside
    overlapping = [
        (a, b)
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
        if box_a.overlaps(box_b)
    ]
    assert not overlapping, overlapping
    for png in (fig._repr_png_(), saved_png(fig)):
        pixels = mpimg.imread(io.BytesIO(png), format="png")
        if pixels.shape[-1] == 4:
            assert pixels[..., 3].min() == 1.0, "transparent pixels"
        assert np.all(pixels[0, 0, :3] == 1.0) and np.all(pixels[-1, -1, :3] == 1.0)


def saved_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def test_training_lengths_draws_each_run_and_network_on_a_log_axis(keep):
    long = [
        {"step": s, "accuracy": a, "feedforward_accuracy": b}
        for s, a, b in ((1000, 0.2, 0.15), (5000, 0.5, 0.3), (10000, 0.6, 0.35))
    ]
    short = [
        {
            "step": 0,
            "accuracy": 0.05,
            "feedforward_accuracy": 0.05,
        },  # not on a log axis
        {"step": 1000, "accuracy": 0.21, "feedforward_accuracy": 0.16},
        {"step": 2000, "accuracy": 0.3},  # a row without B: drawn as a gap
    ]
    fig = keep(plots.plot_training_lengths({"long": long, "short": short}))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    lines = {line.get_label(): line for line in ax.lines if line.get_label()[0] != "_"}
    assert set(lines) == {
        "long: gain 0111",
        "long: feedforward B",
        "short: gain 0111",
        "short: feedforward B",
    }
    assert list(lines["long: gain 0111"].get_ydata()) == [0.2, 0.5, 0.6]
    assert list(lines["short: gain 0111"].get_xdata()) == [1000, 2000]
    assert np.isnan(lines["short: feedforward B"].get_ydata()[-1])
    # one colour per run, one line style per network
    assert (
        lines["long: gain 0111"].get_color() == lines["long: feedforward B"].get_color()
    )
    assert lines["long: gain 0111"].get_color() != lines["short: gain 0111"].get_color()
    assert lines["short: gain 0111"].get_linestyle() == "-"
    assert lines["short: feedforward B"].get_linestyle() == "--"
    assert any(line.get_ydata()[0] == 0.05 for line in ax.lines)  # chance
