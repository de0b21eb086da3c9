"""The course's figure style, shared by :mod:`ctm_course.viz` and every lesson's plots: colours, font
sizes, array conversion, new figures and axes, rendering.

Every figure in this package is a plain :class:`matplotlib.figure.Figure` (never registered with
``pyplot``), so nothing leaks between calls and a notebook shows a figure only when a cell returns
it or calls ``display(fig)``.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Font sizes in points (all >= 10 so that a GIF shown at its native width stays readable).
FONT = 11
FONT_SMALL = 10
FONT_TITLE = 12
FONT_HEADER = 14

# Colours (colour-blind friendly where it matters: green/orange rather than green/red).
TARGET = "#2ca02c"  # the correct class
WRONG = "#e8590c"  # a predicted class that is not the target
NEUTRAL = "#9aa5b1"  # every other class
INK = "#222222"  # lines, cursors, text
CURSOR = "#444444"
TRAIN = "#1f77b4"
TEST = "#d62728"
PRE = "#8c8c8c"  # pre-activations (grey, dashed)
HIGHLIGHT = "#f2b400"  # the most certain tick


def to_numpy(x: Any, dtype: Any = np.float32) -> np.ndarray:
    """A tensor, array or sequence as a NumPy array (detached, on the CPU), cast to ``dtype``."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16:
            x = x.float()
        x = x.numpy()
    arr = np.asarray(x)
    return arr.astype(dtype, copy=False) if dtype is not None else arr


class CourseFigure(Figure):
    """A matplotlib Figure that shows itself as a PNG in IPython whatever the backend.

    A Figure made outside pyplot has no rich display until the inline backend is loaded (and
    none at all when ``MPLBACKEND=Agg``); ``_repr_png_`` makes it render in every notebook,
    Colab and Jupyter Book page when it is a cell's last value or passed to ``display``.
    """

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, bbox_inches="tight", facecolor="white")
        return buf.getvalue()


#: Widest figure (inches) that the book shows near full size: its text column is about 11 in at 100 dpi,
#: and a wider figure is scaled down with its labels (tests/test_site.py checks the built pages).
MAX_FIGURE_WIDTH = 11.0


def new_figure(figsize: tuple[float, float], dpi: int = 100) -> Figure:
    """A :class:`CourseFigure` with an Agg canvas attached, not managed by pyplot.

    A ``figsize`` wider than :data:`MAX_FIGURE_WIDTH` is scaled down to it (aspect kept), so that its
    fonts stay readable on the book's page.
    """
    width, height = figsize
    if width > MAX_FIGURE_WIDTH:
        width, height = MAX_FIGURE_WIDTH, height * MAX_FIGURE_WIDTH / width
    fig = CourseFigure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def figure_to_rgb(fig: Figure) -> np.ndarray:
    """Render ``fig`` with Agg and return its pixels as a (H, W, 3) uint8 array."""
    canvas = (
        fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    )
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def style_axes(ax: Axes, *, grid: bool = True) -> None:
    """Readable tick labels, no top/right spines, a light grid."""
    ax.tick_params(labelsize=FONT_SMALL)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    if grid:
        ax.grid(True, alpha=0.3, linewidth=0.8)


def mark_most_certain(ax: Axes, tick: int, value: float, size: float = 15) -> None:
    """A gold star at ``(tick, value)``, labelled as the most certain tick for the legend."""
    ax.plot(
        [tick],
        [value],
        marker="*",
        color=HIGHLIGHT,
        markersize=size,
        markeredgecolor=INK,
        markeredgewidth=0.8,
        linestyle="none",
        label=f"most certain: tick {tick}",
    )


def axes_or_new(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``(ax.figure, ax)`` when an Axes is given, else a new one-panel Figure and its Axes."""
    if ax is not None:
        fig = ax.figure
        while not isinstance(fig, Figure):  # a SubFigure: climb to the root Figure
            fig = fig.figure
        return fig, ax
    fig = new_figure(figsize)
    return fig, fig.add_subplot(1, 1, 1)


def in_ipython() -> bool:
    """True inside IPython (a notebook, Colab, or the IPython terminal)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of ipywidgets
        return False
    return get_ipython() is not None


def in_notebook() -> bool:
    """True inside a Jupyter/Colab kernel (where rich display output is rendered)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def frame_header(fig: Figure) -> tuple[Any, Any]:
    """The two empty header texts of an animation frame: the tick counter (top left, bold) and
    the verdict at this tick (top right); the caller fills them in at every tick."""
    header = fig.text(
        0.02, 0.975, "", fontsize=FONT_HEADER, fontweight="bold", ha="left", va="top"
    )
    verdict = fig.text(0.975, 0.975, "", fontsize=FONT_TITLE, ha="right", va="top")
    return header, verdict
