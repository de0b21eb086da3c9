"""The figures of lessons 3-5 (``timeseries``, ``tlb`` and ``rcnn`` plots).

Each public plotting function builds a Figure with the expected panels, labels and
titles, draws the data it is given (not blank, not some other array) and renders to an
image that is not a single colour.

Inputs are small and realistic: the lesson-3 generator with short splits, a tiny TLB of
the ``smoke`` profile, synthetic objects through :class:`~ctm_course.rcnn.TorchStimuli`,
a tiny recurrent CNN and the paper's shipped numbers.
"""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from test_rcnn import synthetic_sources  # noqa: E402

from ctm_course.config import lesson_config  # noqa: E402
from ctm_course.data.cifar10 import test_transform  # noqa: E402
from ctm_course.data.thorat2021 import paper_numbers  # noqa: E402
from ctm_course.rcnn import (  # noqa: E402
    GROUPS,
    RecurrentCNN,
    TorchStimuli,
    aux_summary,
)
from ctm_course.rcnn import plots as rcnn_plots  # noqa: E402
from ctm_course.rcnn.stimuli import CLASS_NAMES  # noqa: E402
from ctm_course.timeseries import generate, moving_zscore_scores  # noqa: E402
from ctm_course.timeseries import plots as ts_plots  # noqa: E402
from ctm_course.tlb import build  # noqa: E402
from ctm_course.tlb import plots as tlb_plots  # noqa: E402
from ctm_course.viz.common import MAX_FIGURE_WIDTH  # noqa: E402


# ---------------------------------------------------------------------------- helpers
@pytest.fixture
def keep():
    """``keep(fig)`` returns ``fig`` and closes it after the test, even if it fails."""
    made: list[Figure] = []

    def track(fig: Figure) -> Figure:
        made.append(fig)
        return fig

    yield track
    for fig in made:
        plt.close(fig)


def panels(fig: Figure) -> list[Axes]:
    """The figure's axes without colorbars, in creation (row-major) order."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def data_lines(ax: Axes) -> list:
    """Lines in data coordinates (``axhline``/``axvline`` reference lines excluded)."""
    return [line for line in ax.lines if line.get_transform() is ax.transData]


def ydata(line) -> np.ndarray:
    return np.asarray(line.get_ydata(), dtype=float)


def spans(ax: Axes) -> list[Rectangle]:
    """Shaded ``axvspan`` rectangles (x in data coordinates, y across the axes)."""
    return [
        p
        for p in ax.patches
        if isinstance(p, Rectangle) and p.get_transform() is not ax.transData
    ]


def data_artists(ax: Axes) -> list:
    """The artists of ``ax`` that show data: lines with finite y, non-constant images,
    patches with an extent, non-empty collections."""
    found = [line for line in data_lines(ax) if np.isfinite(ydata(line)).any()]
    for image in ax.images:
        values = np.ma.masked_invalid(np.ma.asarray(image.get_array(), dtype=float))
        if values.count() and values.max() > values.min():
            found.append(image)
    for patch in ax.patches:
        if isinstance(patch, Rectangle):
            if patch.get_width() != 0 and patch.get_height() != 0:
                found.append(patch)
        elif len(patch.get_path().vertices):
            found.append(patch)
    found += [c for c in ax.collections if any(len(p.vertices) for p in c.get_paths())]
    return found


def assert_not_blank(ax: Axes) -> None:
    assert data_artists(ax), f"panel {ax.get_title()!r} draws no data"


def assert_renders(fig: Figure) -> None:
    """Drawn with Agg, the figure has ink: not one colour, not almost all background."""
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    assert (rgb != rgb[0, 0]).any(axis=-1).any(), "the figure is a single colour"
    assert (rgb != rgb[0, 0]).any(axis=-1).mean() > 0.01, "the figure is almost blank"


def check_figure(fig: Figure, n_axes: int) -> list[Axes]:
    """A Figure with ``n_axes`` panels, every visible one showing data, at most the
    book's width, rendering to a non-blank image; returns the panels."""
    assert isinstance(fig, Figure)
    axes = panels(fig)
    assert len(axes) == n_axes
    for ax in axes:
        if ax.axison:
            assert_not_blank(ax)
    assert fig.get_figwidth() <= MAX_FIGURE_WIDTH + 1e-9
    assert_renders(fig)
    return axes


def legend_texts(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


def tick_texts(labels) -> list[str]:
    return [t.get_text() for t in labels]


# -------------------------------------------------------------- lesson 3: time series
START, LENGTH = 40, 400


@pytest.fixture(scope="module")
def series():
    """The normalised test split of a short 3-channel series with 3 anomalies."""
    data = generate(
        train_steps=192,
        validation_steps=96,
        test_steps=576,
        n_channels=3,
        validation_anomalies=0,
        test_anomalies=3,
        seed=0,
    )
    return data.normalised()[0].test


def anomalies_in(series, lo: int, hi: int) -> list[dict]:
    shown = [a for a in series.anomalies if a["start"] < hi and a["end"] > lo]
    assert shown, "the test window should contain at least one anomaly"
    return shown


def assert_shading(ax: Axes, shown: list[dict], lo: int, hi: int) -> None:
    """One span per anomaly in the window, first to last step, in its kind's colour."""
    got = sorted(
        (round(p.get_x(), 6), round(p.get_x() + p.get_width(), 6), to_hex(p.get_fc()))
        for p in spans(ax)
    )
    want = sorted(
        (
            max(a["start"], lo) - 0.5,
            min(a["end"], hi) - 0.5,
            ts_plots.KIND_COLOURS[a["kind"]],
        )
        for a in shown
    )
    assert got == want


def test_plot_series_draws_each_channel_window_with_its_anomalies_shaded(series, keep):
    hi = START + LENGTH
    fig = keep(ts_plots.plot_series(series, START, LENGTH, title="test split"))
    axes = check_figure(fig, series.n_channels)
    shown = anomalies_in(series, START, hi)
    for c, ax in enumerate(axes):
        assert ax.get_ylabel() == series.channels[c]
        (line,) = data_lines(ax)
        np.testing.assert_array_equal(line.get_xdata(), np.arange(START, hi))
        np.testing.assert_allclose(ydata(line), series.values[START:hi, c])
        assert_shading(ax, shown, START, hi)
    assert "time step" in axes[-1].get_xlabel()
    assert fig.get_suptitle() == "test split"
    assert legend_texts(fig.legends[0]) == sorted({a["kind"] for a in shown})

    whole = keep(ts_plots.plot_series(series))  # defaults: the whole split, no title
    assert len(data_lines(panels(whole)[0])[0].get_xdata()) == len(series)
    assert whole.get_suptitle() == ""


def reconstruction_case(series, ticks: int = 5, width: int = 48):
    """One window ``(C, W)``; reconstructions ``(C, W, T)`` improving tick by tick."""
    target = series.values[60 : 60 + width].T.astype(np.float32)
    noise = np.random.default_rng(0).normal(size=(*target.shape, ticks))
    scale = 1.0 / (1.0 + np.arange(ticks))
    return target, (target[..., None] + noise * scale).astype(np.float32)


def test_plot_reconstruction_ticks_panels_per_channel_and_tick_with_mse(series, keep):
    target, recon = reconstruction_case(series)
    ticks, show = [0, 2, 4], (0, 1, 2)
    fig = keep(
        ts_plots.plot_reconstruction_ticks(target, recon, ticks, series.channels, show)
    )
    axes = np.array(check_figure(fig, len(show) * len(ticks))).reshape(3, 3)
    for j, tick in enumerate(ticks):
        mse = float(np.mean((recon[:, :, tick] - target) ** 2))
        assert axes[0, j].get_title() == f"tick {tick + 1}: MSE {mse:.3f}"
        assert axes[1, j].get_title() == axes[2, j].get_title() == ""
        assert axes[-1, j].get_xlabel() == "step in window"
        for i, c in enumerate(show):
            window, rebuilt = data_lines(axes[i, j])
            np.testing.assert_allclose(ydata(window), target[c])
            np.testing.assert_allclose(ydata(rebuilt), recon[c, :, tick])
            assert rebuilt.get_linestyle() == "--"
    assert [ax.get_ylabel() for ax in axes[:, 0]] == list(series.channels)
    assert legend_texts(axes[0, 0].get_legend()) == ["window", "reconstruction"]


def test_plot_reconstruction_ticks_one_channel_is_one_row(series, keep):
    target, recon = reconstruction_case(series)
    fig = keep(
        ts_plots.plot_reconstruction_ticks(
            target, recon, [1, 3], series.channels, show=(2,)
        )
    )
    axes = check_figure(fig, 2)
    assert axes[0].get_ylabel() == series.channels[2]
    assert [ax.get_title().split(":")[0] for ax in axes] == ["tick 2", "tick 4"]
    for ax, tick in zip(axes, (1, 3)):
        np.testing.assert_allclose(ydata(data_lines(ax)[1]), recon[2, :, tick])


def test_plot_reconstruction_ticks_one_tick_is_one_column(series, keep):
    target, recon = reconstruction_case(series)
    fig = keep(
        ts_plots.plot_reconstruction_ticks(target, recon, [3], series.channels, (0, 1))
    )
    axes = check_figure(fig, 2)
    assert [ax.get_ylabel() for ax in axes] == list(series.channels[:2])
    for ax, c in zip(axes, (0, 1)):
        np.testing.assert_allclose(ydata(data_lines(ax)[1]), recon[c, :, 3])


def test_plot_scores_draws_one_channel_and_each_normalised_score(series, keep):
    hi, channel = START + LENGTH, 2
    oracle = series.labels + 0.1 * np.random.default_rng(1).random(len(series))
    scores = {
        "moving z-score": moving_zscore_scores(series.values, 48),
        "oracle": oracle,
    }
    fig = keep(ts_plots.plot_scores(series, scores, START, LENGTH, channel=channel))
    axes = check_figure(fig, 1 + len(scores))
    shown = anomalies_in(series, START, hi)
    assert axes[0].get_ylabel() == series.channels[channel]
    (line,) = data_lines(axes[0])
    np.testing.assert_allclose(ydata(line), series.values[START:hi, channel])
    for ax, (name, s) in zip(axes[1:], scores.items()):
        assert ax.get_ylabel() == name
        s = np.asarray(s[START:hi], dtype=float)
        expected = (s - s.min()) / (np.percentile(s, 99.5) - s.min())
        (line,) = data_lines(ax)
        np.testing.assert_array_equal(line.get_xdata(), np.arange(START, hi))
        np.testing.assert_allclose(ydata(line), expected)
        assert ax.get_ylim() == pytest.approx((-0.05, 1.15))
    for ax in axes:
        assert_shading(ax, shown, START, hi)
    assert "time step" in axes[-1].get_xlabel()
    assert legend_texts(fig.legends[0]) == sorted({a["kind"] for a in shown})


def thinking_case(series, width: int = 32, ticks: int = 5, neurons: int = 12):
    """Two windows ``(2, C, W)`` (the second holds an anomaly), attention ``(2, T, W)``
    whose rows sum to 1, post-activations ``(2, T, D)`` and labels ``(2, W)``."""
    a = next((a for a in series.anomalies if a["kind"] != "spike"), series.anomalies[0])
    starts = [0, max(0, a["start"] - width // 2)]
    windows = np.stack([series.values[s : s + width].T for s in starts])
    labels = np.stack([series.labels[s : s + width] for s in starts])
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, ticks, width))
    attention = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    post = np.cumsum(rng.normal(size=(2, ticks, neurons)), axis=1)
    return windows, attention, post, labels


def test_plot_window_thinking_draws_window_attention_and_neurons(series, keep):
    windows, attention, post, labels = thinking_case(series)
    neurons = [0, 5, 7]
    titles = ["a normal window", "an anomalous window"]
    fig = keep(
        ts_plots.plot_window_thinking(
            windows, attention, post, titles, neurons, labels, series.channels
        )
    )
    axes = np.array(check_figure(fig, 6)).reshape(3, 2)
    K, C, W = windows.shape
    T = attention.shape[1]
    for k in range(K):
        window_ax, att_ax, neuron_ax = axes[:, k]
        assert window_ax.get_title() == titles[k]
        assert window_ax.get_xlabel() == att_ax.get_xlabel() == "step in window"
        assert window_ax.get_ylabel() and neuron_ax.get_ylabel() == "post-activation"
        assert att_ax.get_ylabel() == neuron_ax.get_xlabel() == "tick"
        lines = data_lines(window_ax)
        assert len(lines) == C
        for c, line in enumerate(lines):
            np.testing.assert_allclose(ydata(line), windows[k, c])
        # the heat map: ticks as rows, the window's steps as columns
        (image,) = att_ax.images
        np.testing.assert_allclose(np.asarray(image.get_array()), attention[k])
        assert image.get_extent() == [-0.5, W - 0.5, T + 0.5, 0.5]
        traces = data_lines(neuron_ax)
        assert len(traces) == len(neurons)
        for line, n in zip(traces, neurons):
            np.testing.assert_allclose(line.get_xdata(), np.arange(1, T + 1))
            np.testing.assert_allclose(ydata(line), post[k, :, n])
    # one colour scale for both heat maps, with its colour bar
    assert {im.get_clim() for ax in axes[1] for im in ax.images} == {
        (0.0, attention.max())
    }
    assert axes[1, -1].child_axes, "the attention colour bar is missing"
    # the anomalous window's labelled steps are shaded above and outlined in the heat map
    assert not spans(axes[0, 0]) and spans(axes[0, 1]) and spans(axes[1, 1])
    assert legend_texts(axes[0, -1].get_legend()) == list(series.channels)
    assert legend_texts(axes[2, -1].get_legend()) == [str(n) for n in neurons]


def test_plot_window_thinking_rejects_mismatched_shapes(series):
    windows, attention, post, labels = thinking_case(series)
    titles = ["a", "b"]
    with pytest.raises(ValueError, match="attention"):
        ts_plots.plot_window_thinking(windows, attention[:, :, 1:], post, titles, [0])
    with pytest.raises(ValueError, match="post_activations"):
        ts_plots.plot_window_thinking(windows, attention, post[:, 1:], titles, [0])
    with pytest.raises(ValueError, match="neurons"):
        ts_plots.plot_window_thinking(windows, attention, post, titles, [99])
    with pytest.raises(ValueError, match="labels"):
        ts_plots.plot_window_thinking(
            windows, attention, post, titles, [0], labels[:, 1:]
        )


# ---------------------------------------------------------------------- lesson 4: TLB
@pytest.fixture(scope="module")
def tlb_run():
    """A tiny paper-mode TLB (smoke profile) on 3 random uint8 images.

    Returns the images, the model arguments and the slow stream's attention maps.
    """
    args = lesson_config("04_tlb_cifar10", "smoke").paper["model"]
    torch.manual_seed(0)
    model = build(lesson_config("04_tlb_cifar10", "smoke").paper).eval()
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8, generator=g)
    with torch.no_grad():
        _, maps = model(
            test_transform(images, args["image_size"]), return_attention=True
        )
    return images, args, maps


def grid_of(args) -> int:
    return args["image_size"] // args["patch_size"]


def test_attention_grid_fills_the_patch_grid_in_reading_order():
    grid, chunk, heads, n_state = 6, 4, 2, 3
    tokens = torch.arange(grid * grid, dtype=torch.float32).reshape(
        grid**2 // chunk, chunk
    )
    maps = torch.zeros(2, grid**2 // chunk, heads, n_state, chunk)
    maps[:, :, :, 1] = tokens[None, :, None]  # the largest weight: state 1, both heads
    maps[1] *= 2
    out = tlb_plots.attention_grid(maps, grid)
    expected = torch.arange(grid * grid, dtype=torch.float32).reshape(grid, grid)
    assert torch.equal(out[0], expected) and torch.equal(out[1], 2 * expected)


def test_attention_grid_of_the_model_maps(tlb_run):
    _, args, maps = tlb_run
    grid = grid_of(args)
    out = tlb_plots.attention_grid(maps, grid)
    assert out.shape == (len(maps), grid, grid)
    chunk = args["chunk_size"]
    first_chunk = maps[:, 0].float().amax(2).mean(1)  # (B, K)
    torch.testing.assert_close(out.reshape(len(maps), -1)[:, :chunk], first_chunk)
    assert float(out.min()) > 0 and float(out.max()) <= 1


def test_attention_grid_rejects_maps_that_do_not_fill_the_grid(tlb_run):
    _, args, maps = tlb_run
    with pytest.raises(ValueError, match="do not fill a 7x7 patch grid"):
        tlb_plots.attention_grid(maps, 7)


def test_plot_patches_and_chunks_shows_resized_image_and_chunk_ids(tlb_run, keep):
    images, _, _ = tlb_run
    size, patch, chunk = 48, 4, 8  # the lesson's sizes: 144 tokens, 18 chunks
    grid = size // patch
    fig = keep(tlb_plots.plot_patches_and_chunks(images[0], size, patch, chunk))
    ax_img, ax_chunk = check_figure(fig, 2)
    assert ax_img.get_title() == "48 px, 12x12 patches of 4 px"
    assert ax_chunk.get_title() == "18 chunks of 8 tokens (reading order)"
    rgb = test_transform(images[:1], size)[0].permute(1, 2, 0).numpy().clip(0, 1)
    (shown,) = ax_img.images
    np.testing.assert_allclose(shown.get_array(), rgb, atol=1e-6)
    assert len(ax_img.lines) == 2 * (grid + 1)  # the patch grid
    ids = ax_chunk.images[1].get_array()
    np.testing.assert_array_equal(ids, np.arange(grid * grid).reshape(grid, grid) // 8)
    labels = [t.get_text() for t in ax_chunk.texts]
    assert labels == [str(k) for k in range(1, 19)]


def test_plot_attention_overlay_puts_each_grid_over_its_image(tlb_run, keep):
    images, args, maps = tlb_run
    size, grid = args["image_size"], grid_of(args)
    grids = tlb_plots.attention_grid(maps, grid)
    titles = [f"class {k}\n(model: {k})" for k in range(len(images))]
    fig = keep(tlb_plots.plot_attention_overlay(images, grids, size, titles))
    axes = np.array(check_figure(fig, 2 * len(images))).reshape(2, -1)
    assert [ax.get_title() for ax in axes[0]] == titles
    assert axes[1, 0].get_ylabel() == "slow-stream\nattention"
    for i in range(len(images)):
        np.testing.assert_allclose(
            axes[0, i].images[0].get_array(), images[i].permute(1, 2, 0) / 255.0
        )
        picture, overlay = axes[1, i].images
        assert picture.get_array().shape == (size, size, 3)
        np.testing.assert_allclose(overlay.get_array(), grids[i].numpy())
        assert overlay.get_extent() == pytest.approx(
            (-0.5, size - 0.5, size - 0.5, -0.5)
        )


def test_plot_attention_chunks_reveals_chunks_read_so_far(tlb_run, keep):
    images, args, maps = tlb_run
    size, patch, chunk = args["image_size"], args["patch_size"], args["chunk_size"]
    grid = grid_of(args)
    values = tlb_plots.attention_grid(maps, grid)[0]
    chunks = [1, 4, grid * grid // chunk]
    fig = keep(
        tlb_plots.plot_attention_chunks(images[0], values, size, patch, chunk, chunks)
    )
    axes = check_figure(fig, len(chunks))
    flat = values.numpy().ravel()
    for ax, t in zip(axes, chunks):
        assert ax.get_title() == f"after chunk {t}"
        seen = np.asarray(ax.images[1].get_array(), dtype=float).ravel()
        assert np.isfinite(seen).sum() == t * chunk
        np.testing.assert_allclose(seen[: t * chunk], flat[: t * chunk])
        assert ax.images[1].get_clim() == pytest.approx((0, flat.max()))
        outlined = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert len(outlined) == chunk  # the current chunk's patches
        row, col = divmod((t - 1) * chunk, grid)
        assert outlined[0].get_xy() == (col * patch - 0.5, row * patch - 0.5)


def test_plot_accuracy_bars_heights_are_the_accuracies(keep):
    accuracies = {"TLB keras": 0.412, "TLB paper": 0.475, "ViT": 0.389}
    fig = keep(tlb_plots.plot_accuracy_bars(accuracies, title="CIFAR-10 test accuracy"))
    (ax,) = check_figure(fig, 1)
    assert ax.get_ylabel() == "test accuracy"
    assert ax.get_title() == "CIFAR-10 test accuracy"
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert [b.get_height() for b in bars] == pytest.approx(list(accuracies.values()))
    assert tick_texts(ax.get_xticklabels()) == list(accuracies)
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["0.412", "0.475", "0.389", "chance"]
    (chance,) = ax.lines
    assert ydata(chance) == pytest.approx([0.1, 0.1])
    assert ax.get_ylim() == pytest.approx((0, 0.475 * 1.2))

    other = keep(tlb_plots.plot_accuracy_bars({"a": 0.3}, chance=0.25))
    (ax,) = panels(other)
    assert ydata(ax.lines[0]) == pytest.approx([0.25, 0.25])
    assert ax.get_title() == ""


# ------------------------------------------------------------ lesson 5: recurrent CNN
@pytest.fixture(scope="module")
def stimuli():
    """Eight 100x100 stimuli of the torch renderer, from synthetic objects (CPU)."""
    return TorchStimuli(synthetic_sources(20))(8, seed=0)


@pytest.fixture(scope="module")
def paper():
    return paper_numbers("0111")


def test_plot_stimuli_with_clean_twins_titles_each_category(stimuli, keep):
    fig = keep(rcnn_plots.plot_stimuli(stimuli, n=8, columns=4, clean=True))
    axes = np.array(check_figure(fig, 16)).reshape(4, 4)
    labels = stimuli.labels["category"].tolist()
    for k in range(8):
        r, c = divmod(k, 4)
        cluttered, clean = axes[2 * r, c], axes[2 * r + 1, c]
        np.testing.assert_allclose(
            cluttered.images[0].get_array(), stimuli.images[k, 0]
        )
        np.testing.assert_allclose(clean.images[0].get_array(), stimuli.clean[k, 0])
        assert cluttered.images[0].get_clim() == (0, 1)
        assert cluttered.get_title() == CLASS_NAMES[labels[k]]
        assert clean.get_title() == CLASS_NAMES[labels[k]] + " (clean)"


def test_plot_stimuli_marks_predictions_and_hides_empty_cells(stimuli, keep):
    few = stimuli[:6]
    labels = few.labels["category"]
    predictions = labels.clone()
    predictions[[1, 4]] = (labels[[1, 4]] + 1) % len(CLASS_NAMES)  # two wrong answers
    fig = keep(
        rcnn_plots.plot_stimuli(
            few, n=8, columns=4, predictions=predictions, title="test images"
        )
    )
    axes = check_figure(fig, 8)  # n is capped at the 6 stimuli: 2 rows of 4
    assert [ax.axison for ax in axes] == [True] * 6 + [False] * 2
    assert fig.get_suptitle() == "test images"
    for k, ax in enumerate(axes[:6]):
        guess = int(predictions[k])
        assert ax.get_title() == (
            f"{CLASS_NAMES[int(labels[k])]}\npredicted: {CLASS_NAMES[guess]}"
        )
        right = guess == int(labels[k])
        assert ax.title.get_color() == ("#2ca02c" if right else "#e8590c")
        np.testing.assert_allclose(ax.images[0].get_array(), few.images[k, 0])


@pytest.fixture(scope="module")
def modulated_inputs(stimuli):
    """The input of a tiny untrained recurrent CNN at each of its 4 steps, 2 stimuli."""
    torch.manual_seed(0)
    model = RecurrentCNN(2, 4).eval()
    with torch.no_grad():
        _, trace = model(stimuli.images[:2], trace=True)
    return trace.acts["input"]


def test_plot_inputs_through_time_one_panel_per_step(stimuli, modulated_inputs, keep):
    labels = stimuli.labels["category"]
    fig = keep(rcnn_plots.plot_inputs_through_time(modulated_inputs, 1, labels=labels))
    axes = check_figure(fig, len(modulated_inputs))
    assert [ax.get_title() for ax in axes] == [f"t = {t}" for t in range(1, 5)]
    for ax, step in zip(axes, modulated_inputs):
        np.testing.assert_allclose(ax.images[0].get_array(), step[1, 0])
    # the first step is the image itself
    np.testing.assert_allclose(axes[0].images[0].get_array(), stimuli.images[1, 0])
    assert CLASS_NAMES[int(labels[1])] in fig.get_suptitle()
    assert "top-down" in fig.get_suptitle()

    untitled = keep(rcnn_plots.plot_inputs_through_time(modulated_inputs, 0))
    assert untitled.get_suptitle() == ""


def decoding_grid(seed: int = 0) -> dict[str, np.ndarray]:
    """``{group: (4 layers, 4 steps)}`` accuracies, as ``rcnn.decode_grid`` returns."""
    rng = np.random.default_rng(seed)
    rise = 0.04 * np.arange(4)[None, :] + 0.02 * np.arange(4)[:, None]
    base = {"Category": 0.3, "Location": 0.6, "Scale": 0.55, "Orientation": 0.52}
    return {
        g: np.clip(b + rise + rng.uniform(0, 0.03, (4, 4)), 0, 1)
        for g, b in base.items()
    }


def split_lines(ax: Axes) -> tuple[list, list]:
    """(ours: solid with markers, paper: dashed) data lines of a panel."""
    lines = data_lines(ax)
    return (
        [line for line in lines if line.get_linestyle() == "-"],
        [line for line in lines if line.get_linestyle() == "--"],
    )


def test_plot_decoding_one_panel_per_variable_with_paper_curves(paper, keep):
    ours = decoding_grid()
    fig = keep(rcnn_plots.plot_decoding(ours, paper))
    axes = check_figure(fig, len(ours))
    assert axes[0].get_ylabel() == "decoding accuracy"
    assert "decoding accuracy" in fig.get_suptitle()
    for ax, group in zip(axes, ours):
        assert ax.get_title() == group
        assert ax.get_xlabel() == "timestep"
        solid, dashed = split_lines(ax)
        assert len(solid) == len(dashed) == len(rcnn_plots.LAYER_NAMES)
        for i, (mine, theirs) in enumerate(zip(solid, dashed)):
            np.testing.assert_allclose(ydata(mine), ours[group][i])
            np.testing.assert_allclose(
                ydata(theirs), paper["decoding"][group]["mean"][i]
            )
            assert to_hex(mine.get_color()) == rcnn_plots.LAYER_COLOURS[i]
        assert len(ax.collections) == len(rcnn_plots.LAYER_NAMES)  # 95% bands
        (chance,) = [line for line in ax.lines if line not in data_lines(ax)]
        assert ydata(chance)[0] == (0.05 if group == "Category" else 0.5)
    want = {f"{name} (ours)" for name in rcnn_plots.LAYER_NAMES} | {"paper (dashed)"}
    assert set(legend_texts(fig.legends[0])) == want


def test_plot_decoding_without_paper_draws_only_the_chosen_groups(keep):
    ours = decoding_grid(1)
    fig = keep(rcnn_plots.plot_decoding(ours, groups=["Scale", "Category"]))
    axes = check_figure(fig, 2)
    assert [ax.get_title() for ax in axes] == ["Scale", "Category"]
    for ax, group in zip(axes, ["Scale", "Category"]):
        solid, dashed = split_lines(ax)
        assert dashed == [] and len(ax.collections) == 0
        np.testing.assert_allclose(ydata(solid[3]), ours[group][3])
    assert axes[1].get_ylim() == (0, 1.0)
    assert len(legend_texts(fig.legends[0])) == len(rcnn_plots.LAYER_NAMES)


def test_plot_aux_summary_through_time_and_depth(paper, keep):
    through_time, through_depth = aux_summary(decoding_grid())
    fig = keep(rcnn_plots.plot_aux_summary(through_time, through_depth, paper))
    ax_t, ax_d = check_figure(fig, 2)
    assert (ax_t.get_xlabel(), ax_t.get_ylabel(), ax_t.get_title()) == (
        "timestep",
        "decoding accuracy",
        "through time",
    )
    assert (ax_d.get_xlabel(), ax_d.get_title()) == ("layer", "through depth")
    assert tick_texts(ax_d.get_xticklabels()) == list(rcnn_plots.LAYER_NAMES)
    for ax, mine, theirs in (
        (ax_t, through_time, paper["aux_decoding_through_time"]),
        (ax_d, through_depth, paper["aux_decoding_through_depth"]),
    ):
        ours_line, paper_line = data_lines(ax)
        np.testing.assert_allclose(ydata(ours_line), mine)
        np.testing.assert_allclose(ydata(paper_line), theirs)
        assert legend_texts(ax.get_legend()) == ["ours", "paper"]

    alone = keep(rcnn_plots.plot_aux_summary(through_time, through_depth))
    assert [len(data_lines(ax)) for ax in panels(alone)] == [1, 1]


def test_plot_importance_one_panel_per_layer_one_line_per_step(paper, keep):
    rng = np.random.default_rng(0)
    ours = {g: rng.normal(0.05, 0.05, (4, 3)) for g in GROUPS}
    fig = keep(rcnn_plots.plot_importance(ours, paper))
    axes = check_figure(fig, 4)
    assert axes[0].get_ylabel() == "functional importance"
    assert "importance" in fig.get_suptitle()
    titles = [f"flow into {name}" for name in rcnn_plots.LAYER_NAMES]
    assert [ax.get_title() for ax in axes] == titles
    for i, ax in enumerate(axes):
        assert tick_texts(ax.get_xticklabels()) == ["Loc.", "Ori.", "Scl.", "Cat."]
        solid, dashed = split_lines(ax)
        assert len(solid) == len(dashed) == 3 == len(ax.collections)
        for k in range(3):
            np.testing.assert_allclose(ydata(solid[k]), [ours[g][i, k] for g in ours])
            paper_mean = [paper["functional_importance"][g]["mean"][i][k] for g in ours]
            np.testing.assert_allclose(ydata(dashed[k]), paper_mean)
    want = {f"T = {k} (ours)" for k in (2, 3, 4)} | {"paper (dashed)"}
    assert set(legend_texts(fig.legends[0])) == want

    alone = keep(rcnn_plots.plot_importance(ours))
    assert all(split_lines(ax)[1] == [] for ax in panels(alone))
