"""Tests of ctm_course.viz with small random CTM records (no model needed, Agg backend)."""

from __future__ import annotations

import importlib.util
import math

import matplotlib

matplotlib.use("Agg")

import imageio.v3 as iio  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ctm_course.ctm.tracking import CTMTrack  # noqa: E402
from ctm_course.viz import (  # noqa: E402
    LiveCurves,
    draw_tick,
    plot_accuracy_per_tick,
    plot_certainty_per_tick,
    plot_early_exit,
    plot_examples,
    save_animation,
    show_animation,
    tick_frames,
    tick_scrubber,
    tick_view,
)
from ctm_course.viz import animation as animation_mod  # noqa: E402
from ctm_course.viz import curves as curves_mod  # noqa: E402
from ctm_course.viz.curves import ema  # noqa: E402

B, C, T, D, HEADS, GRID = 3, 10, 4, 24, 2, (7, 7)


def make_track(
    B: int = B,
    C: int = C,
    T: int = T,
    D: int = D,
    heads: int = HEADS,
    grid: tuple[int, int] | None = GRID,
    n_tokens: int | None = None,
    seed: int = 0,
) -> CTMTrack:
    g = torch.Generator().manual_seed(seed)
    N = n_tokens if n_tokens is not None else (grid[0] * grid[1] if grid else 49)
    logits = torch.randn(B, C, T, generator=g) * 2
    p = logits.softmax(1)
    entropy = -(p * p.clamp_min(1e-12).log()).sum(1) / math.log(C)
    return CTMTrack(
        predictions=logits,
        certainties=torch.stack([entropy, 1 - entropy], 1),
        pre_activations=torch.randn(T, B, D, generator=g),
        post_activations=torch.randn(T, B, D, generator=g),
        attention=torch.randn(T, B, heads, 1, N, generator=g).softmax(-1),
        synch_out=torch.randn(T, B, 8, generator=g),
        synch_action=torch.randn(T, B, 8, generator=g),
        token_grid=grid,
    )


@pytest.fixture
def batch() -> tuple[CTMTrack, torch.Tensor, torch.Tensor]:
    images = torch.rand(B, 1, 28, 28)
    labels = torch.tensor([3, 7, 0])
    return make_track(), images, labels


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    track = make_track()
    return tick_frames(
        tick_view(track, torch.rand(B, 1, 28, 28), torch.tensor([3, 7, 0]), index=1)
    )


# ------------------------------------------------------------------------- tick_frames
def test_tick_frames_one_rgb_frame_per_tick(frames):
    assert len(frames) == T
    for f in frames:
        assert f.dtype == np.uint8
        assert f.ndim == 3 and f.shape[2] == 3
        assert f.shape == frames[0].shape
    assert frames[0].shape == (700, 1000, 3)
    for a, b in zip(frames[:-1], frames[1:]):
        assert np.any(a != b), (
            "consecutive ticks must look different (cursor, bars, title)"
        )
    assert plt.get_fignums() == [], "tick_frames must not leave pyplot figures open"


def test_tick_frames_accepts_bhw_images_and_class_names(batch):
    track, images, labels = batch
    out = tick_frames(
        tick_view(
            track,
            images[:, 0].numpy(),
            labels.tolist(),
            index=2,
            n_neurons=3,
            class_names=[f"c{i}" for i in range(C)],
        )
    )
    assert len(out) == T and out[0].shape == (700, 1000, 3)


@pytest.mark.parametrize("index", [B, B + 5, -1, 1.0])
def test_tick_frames_bad_index(batch, index):
    track, images, labels = batch
    with pytest.raises(ValueError, match="index"):
        tick_view(track, images, labels, index=index)


def test_tick_frames_shape_mismatches(batch):
    track, images, labels = batch
    with pytest.raises(ValueError, match="images has batch size 2"):
        tick_view(track, images[:2], labels)
    with pytest.raises(ValueError, match="labels"):
        tick_view(track, images, labels[:2])
    with pytest.raises(ValueError, match="images must be"):
        tick_view(track, images[:, :, :, :, None], labels)
    bad_grid = make_track(grid=(6, 6), n_tokens=49)  # 36 cells for 49 tokens
    with pytest.raises(ValueError, match="token_grid"):
        tick_view(bad_grid, images, labels)
    with pytest.raises(ValueError, match="class_names"):
        tick_view(track, images, labels, class_names=["a", "b"])
    with pytest.raises(ValueError, match="n_neurons"):
        tick_view(track, images, labels, n_neurons=0)
    broken = make_track()
    broken.certainties = broken.certainties[..., :-1]
    with pytest.raises(ValueError, match="certainties"):
        tick_view(broken, images, labels)


def test_token_grid_none_square_is_inferred_else_error(batch):
    _, images, labels = batch
    view = tick_view(make_track(grid=None), images, labels)
    assert view.token_grid == (7, 7)
    with pytest.raises(ValueError, match="token_grid is None"):
        tick_view(make_track(grid=None, n_tokens=50), images, labels)


def test_tick_view_content(batch):
    track, images, labels = batch
    # Neuron 5 of example 0 is by far the most dynamic; all attention on the top-left token.
    track.post_activations[:, 0, 5] = torch.arange(T) * 100.0
    track.attention[:] = 0
    track.attention[..., 0] = 1.0
    view = tick_view(track, images, labels, index=0, n_neurons=100)
    assert view.neurons.shape == (D,), "n_neurons > D keeps all D neurons"
    assert view.neurons[0] == 5
    np.testing.assert_allclose(view.post[:, 0], np.arange(T) * 100.0)
    assert view.attention.shape == (T, 28, 28)
    np.testing.assert_allclose(view.attention.max(axis=(1, 2)), 1.0, rtol=1e-5)
    top_left = view.attention[:, :4, :4].mean()
    bottom_right = view.attention[:, -8:, -8:].mean()
    assert top_left > 0.5 > bottom_right
    np.testing.assert_allclose(view.probs.sum(axis=1), 1.0, rtol=1e-5)
    assert view.target == 3
    assert view.most_certain == int(track.most_certain_tick()[0])
    assert view.image.min() >= 0 and view.image.max() <= 1


def test_draw_tick_reuses_layout_and_checks_t(batch):
    track, images, labels = batch
    view = tick_view(track, images, labels)
    fig = Figure(figsize=(10, 7))
    axes0 = draw_tick(fig, view, 0)
    axes1 = draw_tick(fig, view, T - 1)
    assert axes0["certainty"] is axes1["certainty"]
    assert len(axes1["traces"]) == min(16, D)
    with pytest.raises(ValueError, match="t must be"):
        draw_tick(fig, view, T)


# ---------------------------------------------------------------------- save / show
def test_save_animation_gif_roundtrip(frames, tmp_path):
    path = save_animation(frames, tmp_path / "sub" / "ctm.gif", fps=4)
    assert path.exists() and path.stat().st_size > 0
    back = iio.imread(path, index=None)
    assert back.shape[0] == T
    assert back.shape[1:3] == frames[0].shape[:2]


def test_save_animation_rejects_bad_input(frames, tmp_path):
    with pytest.raises(ValueError, match="extension"):
        save_animation(frames, tmp_path / "ctm.png")
    with pytest.raises(ValueError, match="empty"):
        save_animation([], tmp_path / "ctm.gif")
    with pytest.raises(ValueError, match="fps"):
        save_animation(frames, tmp_path / "ctm.gif", fps=0)
    with pytest.raises(ValueError, match="one size"):
        save_animation([frames[0], frames[1][:-2]], tmp_path / "ctm.gif")


def test_save_animation_mp4_without_ffmpeg_is_clear(frames, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "imageio_ffmpeg" else real(name, *a),
    )
    with pytest.raises(RuntimeError, match=r"imageio-ffmpeg.*\.gif"):
        save_animation(frames, tmp_path / "ctm.mp4")


@pytest.mark.skipif(
    importlib.util.find_spec("imageio_ffmpeg") is None,
    reason="imageio-ffmpeg not installed",
)
def test_save_animation_mp4(frames, tmp_path):
    path = save_animation(frames, tmp_path / "ctm.mp4")
    assert path.stat().st_size > 0


def test_show_animation_outside_ipython_does_not_crash(frames):
    with pytest.warns(RuntimeWarning, match="save_animation"):
        assert show_animation(frames) is None


def test_show_animation_in_ipython_displays_gif_html(frames, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(animation_mod, "in_ipython", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))
    # a returned object would show twice as a cell's value
    assert show_animation(frames[:2], fps=2) is None
    (obj,) = shown
    assert "image/gif;base64" in obj.data


# ------------------------------------------------------------------------- scrubber
def test_tick_scrubber_slider_over_ticks(batch):
    widgets = pytest.importorskip("ipywidgets")
    track, images, labels = batch
    box = tick_scrubber(tick_view(track, images, labels, index=1, n_neurons=4))
    assert isinstance(box, widgets.Widget)
    sliders = [w for w in box.children[0].children if isinstance(w, widgets.IntSlider)]
    assert sliders == [box.slider]
    assert box.slider.min == 0 and box.slider.max == T - 1 and box.slider.value == 0
    first = box.image.value
    assert bytes(first[:8]) == b"\x89PNG\r\n\x1a\n", (
        "the initial frame is drawn on creation"
    )
    box.slider.value = T - 1
    assert box.image.value != first
    bundle = box._repr_mimebundle_()
    assert bytes(bundle["image/png"]) == bytes(box.image.value), (
        "static fallback = current frame"
    )
    with pytest.raises(ValueError, match="start"):
        tick_scrubber(tick_view(track, images, labels), start=T)


# --------------------------------------------------------------------------- curves
def test_live_curves_records_history_outside_ipython():
    curves = LiveCurves(metrics=("loss", "accuracy"), every=0.0)
    assert curves.live is False
    for step in range(5):
        curves.update(
            step, train={"loss": torch.tensor(1.0 / (step + 1)), "accuracy": 0.1 * step}
        )
    curves.update(4, test={"loss": 0.3})  # missing metric -> NaN
    h = curves.history
    assert h["train_step"] == [0, 1, 2, 3, 4]
    assert h["train_loss"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert h["train_accuracy"] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert h["test_step"] == [4] and h["test_loss"] == [0.3]
    assert math.isnan(h["test_accuracy"][0])
    assert all(isinstance(v, list) for v in h.values())
    with pytest.raises(ValueError, match="none of the tracked metrics"):
        curves.update(5, train={"acc": 1.0})
    # extra keys are ignored
    curves.update(5, train={"loss": 0.1, "lr": 1e-3, "step": 5})
    assert h["train_loss"][-1] == 0.1
    fig = curves.figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    curves.close()
    assert plt.get_fignums() == []


def test_live_curves_updates_one_display_in_place(monkeypatch):
    import IPython.display

    calls = {"display": 0, "update": 0}

    class Handle:
        def update(self, obj):
            calls["update"] += 1

    def fake_display(obj, display_id=False):
        calls["display"] += 1
        assert display_id is True
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setattr(curves_mod, "in_notebook", lambda: True)
    curves = LiveCurves(every=0.0, max_share=None)
    assert curves.live is True
    for step in range(3):
        curves.update(step, train={"loss": 1.0, "accuracy": 0.5})
    curves.close()  # nothing new since the last draw
    assert calls == {"display": 1, "update": 2}

    throttled = LiveCurves(every=3600.0)
    for step in range(10):
        throttled.update(step, train={"loss": 1.0, "accuracy": 0.5})
    throttled.close()  # the final state is always drawn
    assert calls == {"display": 2, "update": 3}

    # a slow redraw (0.5 s) spaces the next ones out to keep drawing at 10 % of the time, a fast one does not
    adaptive = LiveCurves(every=1.0, max_share=0.1)
    clock = iter([0.0, 0.5, 3.0, 6.0, 6.1, 7.2, 7.25])
    adaptive._clock = lambda: next(clock)
    # updates at t = 0 (drawn, took 0.5 s), 3 (< 5 s later: skipped), 6 (drawn), 7.2 (drawn)
    for step in range(4):
        adaptive.update(step, train={"loss": 1.0, "accuracy": 0.5})
    assert calls == {"display": 3, "update": 5}
    with pytest.raises(ValueError, match="max_share"):
        LiveCurves(max_share=0.0)


def test_ema_debiased():
    np.testing.assert_allclose(ema([2.0, 2.0, 2.0], 0.9), [2.0, 2.0, 2.0])
    out = ema([float("nan"), 1.0, 3.0], 0.5)
    assert math.isnan(out[0]) and out[1] == pytest.approx(1.0)
    assert out[2] == pytest.approx((0.5 * 0.5 * 1 + 0.5 * 3) / 0.75)


# ---------------------------------------------------------------------------- plots
def test_plot_functions_return_figures():
    rng = np.random.default_rng(0)
    fig = plot_accuracy_per_tick([0.2, 0.5, 0.8, 0.9], most_certain_accuracy=0.92)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert fig._repr_png_()[:4] == b"\x89PNG", (
        "figures show as PNG in any notebook backend"
    )
    assert (
        fig.axes[0].get_xlabel()
        and fig.axes[0].get_ylabel()
        and fig.axes[0].get_title()
    )

    cert = torch.rand(8, 2, T)
    correct = torch.rand(8, T) > 0.3
    fig = plot_certainty_per_tick(cert, correct)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert len(plot_certainty_per_tick(cert).axes) == 1
    assert len(plot_certainty_per_tick(cert[:, 1].mean(0)).axes) == 1
    with pytest.raises(ValueError, match="correct"):
        plot_certainty_per_tick(cert, correct[:, :2])

    th = np.linspace(0.5, 0.95, 6)
    fig = plot_early_exit(th, rng.uniform(0.8, 1, 6), np.linspace(2, 10, 6), 0.97, T=15)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert (
        fig.axes[0].get_ylabel() == "accuracy"
        and fig.axes[1].get_ylabel() == "mean ticks used"
    )
    with pytest.raises(ValueError, match="same"):
        plot_early_exit(th, th[:3], th, 0.9, T=15)

    images, labels = torch.rand(12, 1, 28, 28), torch.arange(12) % 10
    fig = plot_examples(images, labels, n=10)
    assert isinstance(fig, Figure) and len(fig.axes) == 10
    fig = plot_examples(images, labels, predictions=torch.randn(12, 10), n=16)
    assert len(fig.axes) == 12
    assert "→" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="predictions"):
        plot_examples(images, labels, predictions=torch.zeros(5))
    assert plt.get_fignums() == []


def test_plots_draw_into_given_axes():
    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    assert plot_accuracy_per_tick(np.array([0.1, 0.9]), ax=ax1) is fig
    assert plot_early_exit([0.5, 0.9], [0.9, 0.95], [3, 8], 0.96, T=10, ax=ax2) is fig
    assert len(fig.axes) == 3  # two panels and the twin axis


def test_reliability_diagram_shows_the_bins_and_the_ece():
    from ctm_course.calibration import reliability

    g = torch.Generator().manual_seed(0)
    confidence = torch.rand(500, generator=g) * 0.5 + 0.5
    correct = torch.rand(500, generator=g) < confidence
    rel = reliability(confidence, correct)
    from ctm_course.viz import plot_reliability

    fig = plot_reliability(rel)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "confidence" and ax.get_ylabel() == "accuracy"
    assert f"{rel.ece:.3f}" in ax.get_title()
    assert len(ax.patches) == int((rel.counts > 0).sum())  # one bar per filled bin
