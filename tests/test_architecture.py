"""The CTM architecture diagram of lesson 1 (:func:`ctm_course.viz.plot_ctm_architecture`).

It is built, names every block and signal with the lesson's symbols, keeps every label inside
the figure and apart from the others, and renders on an opaque background (the book has a
dark mode, where a transparent figure would lose its black text).
"""

from __future__ import annotations

import io
import itertools
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from ctm_course import viz  # noqa: E402
from ctm_course.viz.architecture import ARCHITECTURE_FIGSIZE  # noqa: E402

#: What a reader must find in the diagram: the blocks and the signals between them, spelled
#: as lesson 1 and ``ContinuousThoughtMachine.forward`` spell them.
EXPECTED_LABELS = [
    "input $x$",
    "backbone",
    "cross-attention",
    "query",
    "synapses",
    "history $A^t$",
    "neuron-level",
    "models (NLMs)",
    "history $Z^t$",
    "synchronisation",
    "output head",
    "certainty $c^t$",
    "$[o^t, z^{t-1}] \\to a^t$",
    "$z^t_d = \\mathrm{NLM}_d(A^t_d)$",
    "$a^t$",
    "$A^t_d$",
    "$z^t$",
    "$Z^t$",
    "$o^t$",
    "$q^t$",
    "$S^t_{\\rm out}$",
    "$S^t_{\\rm action}$ (one tick behind)",
    "$y^t$",
    "1 $-$ normalised entropy",
    "next tick: $z^t$ becomes $z^{t-1}$",
]


@pytest.fixture(scope="module")
def figure():
    fig = viz.plot_ctm_architecture()
    fig.canvas.draw()
    return fig


def texts(fig: Figure) -> list[Text]:
    """Every visible, non-empty text artist of the figure."""
    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.figure is fig
    ]


def test_builds_a_figure_at_column_width(figure):
    assert isinstance(figure, Figure)
    assert tuple(figure.get_size_inches()) == pytest.approx(ARCHITECTURE_FIGSIZE)
    assert len(figure.axes) == 1 and not figure.axes[0].axison


def test_names_every_block_and_signal(figure):
    found = {t.get_text() for t in texts(figure)}
    missing = [label for label in EXPECTED_LABELS if label not in found]
    assert not missing, f"labels missing from the diagram: {missing}"


def test_every_text_lies_inside_the_figure(figure):
    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height
    outside = [
        (t.get_text(), tuple(np.round(b.extents, 1)))
        for t in texts(figure)
        for b in [t.get_window_extent(renderer)]
        if b.x0 < 0 or b.y0 < 0 or b.x1 > width or b.y1 > height
    ]
    assert not outside, (
        f"texts extend outside the {width}x{height} px figure: {outside}"
    )


def test_no_two_texts_overlap(figure):
    renderer = figure.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts(figure)]
    overlapping = [
        (a, b)
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
        if box_a.overlaps(box_b)
    ]
    assert not overlapping, f"overlapping texts: {overlapping}"


@pytest.mark.parametrize("how", ["savefig", "notebook"])
def test_png_is_opaque(figure, how):
    """Saved as is and as a notebook shows it (``_repr_png_``): no transparent pixel."""
    if how == "savefig":
        buf = io.BytesIO()
        figure.savefig(buf, format="png")
        png = buf.getvalue()
    else:
        png = figure._repr_png_()
    pixels = mpimg.imread(io.BytesIO(png), format="png")
    assert pixels.ndim == 3
    if pixels.shape[-1] == 4:
        assert pixels[..., 3].min() == 1.0, "the PNG has transparent pixels"
    # a light page: the background (the corners) is white
    assert np.all(pixels[0, 0, :3] == 1.0) and np.all(pixels[-1, -1, :3] == 1.0)


def test_shows_the_given_input_image():
    digit = torch.zeros(1, 28, 28)
    digit[0, 10:18, 12:16] = 255.0
    fig = viz.plot_ctm_architecture(digit)
    (image,) = [a for a in fig.axes[0].get_children() if isinstance(a, AxesImage)]
    shown = np.asarray(image.get_array())
    assert shown.shape == (28, 28)
    np.testing.assert_allclose(shown, digit[0].numpy() / 255.0)


def test_default_input_is_a_drawn_digit():
    fig = viz.plot_ctm_architecture()
    (image,) = [a for a in fig.axes[0].get_children() if isinstance(a, AxesImage)]
    shown = np.asarray(image.get_array())
    assert shown.shape == (28, 28) and 0 <= shown.min() < shown.max() <= 1


@pytest.mark.parametrize("shape", [(3, 28, 28), (2, 1, 28, 28), (28,)])
def test_rejects_a_non_greyscale_image(shape):
    with pytest.raises(ValueError, match="image must be a greyscale"):
        viz.plot_ctm_architecture(np.zeros(shape))
