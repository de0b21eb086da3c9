"""A block diagram of the CTM's internal tick, drawn with matplotlib for the course.

The symbols follow lesson 1 and :meth:`ctm_course.ctm.ContinuousThoughtMachine.forward`: at
tick ``t`` the action synchronisation :math:`S^t_\\text{action}` (from :math:`z^0 \\dots z^{t-1}`)
makes the query :math:`q^t`, cross-attention over the tokens gives :math:`o^t`, the synapses map
:math:`[o^t, z^{t-1}]` to pre-activations :math:`a^t`, the history :math:`A^t` keeps the last
:math:`M` of them, the neuron-level models give :math:`z^t`, and the output synchronisation
:math:`S^t_\\text{out}` (from :math:`z^0 \\dots z^t`) gives the logits :math:`y^t` and the
certainty :math:`c^t`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.path import Path

from .common import FONT, FONT_SMALL, INK, new_figure, to_numpy

#: The diagram's size in inches: the book's column width at 100 dpi, about 8 x 4.5.
ARCHITECTURE_FIGSIZE = (8.0, 4.5)

# (fill, edge) of each kind of block
_INPUT = ("#eeeeee", "#555555")
_ATTEND = ("#dcebf7", "#1f5f99")  # perception: backbone, attention, query
_NEURONS = ("#fde8d2", "#b35806")  # synapses, histories, neuron-level models
_SYNCH = ("#dff0da", "#2b7a2b")
_OUTPUT = ("#ece2f4", "#6a3d9a")
_ARROW = "#333333"
_OUT_PAIRS = (
    "#b79ad6"  # the pairs read by the output head (first-last: the first neurons)
)
_ACTION_PAIRS = "#8db6e0"  # the pairs that make the query (the last neurons)


def _default_digit() -> np.ndarray:
    """A 28 x 28 drawn 7 (two anti-aliased strokes), shown when no input image is given."""
    rows, cols = np.mgrid[0:28, 0:28].astype(np.float32)
    img = np.zeros((28, 28), dtype=np.float32)
    for (r0, c0), (r1, c1) in (((7, 7), (7, 21)), ((7, 21), (23, 12))):
        d = np.array([r1 - r0, c1 - c0], dtype=np.float32)
        s = np.clip(((rows - r0) * d[0] + (cols - c0) * d[1]) / (d @ d), 0, 1)
        dist = np.hypot(rows - (r0 + s * d[0]), cols - (c0 + s * d[1]))
        img = np.maximum(img, np.clip(2.2 - dist, 0, 1))
    return img


def _as_image(image: Any) -> np.ndarray:
    x = to_numpy(image)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(
            f"image must be a greyscale (H, W) or (1, H, W) array, got shape {x.shape}"
        )
    return (x - x.min()) / max(float(x.max() - x.min()), 1e-8)


def _box(
    ax: Axes,
    xy: tuple[float, float],
    size: tuple[float, float],
    colours: tuple[str, str],
    title: str,
    detail: str = "",
    *,
    title_y: float | None = None,
) -> None:
    """A rounded block with a title near its top and an optional detail line near its bottom."""
    (x, y), (w, h) = xy, size
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0,rounding_size=0.08",
            facecolor=colours[0],
            edgecolor=colours[1],
            linewidth=1.4,
            zorder=1,
        )
    )
    ty = y + h - 0.17 if title_y is None else title_y
    ax.text(
        x + w / 2,
        ty,
        title,
        ha="center",
        va="center",
        fontsize=FONT,
        color=INK,
        zorder=3,
    )
    if detail:
        ax.text(
            x + w / 2,
            y + 0.17,
            detail,
            ha="center",
            va="center",
            fontsize=FONT_SMALL,
            color=INK,
            zorder=3,
        )


def _arrow(
    ax: Axes,
    points: list[tuple[float, float]],
    *,
    dashed: bool = False,
    colour: str = _ARROW,
) -> None:
    """An arrow along the polyline ``points``, its head at the last point."""
    codes = [Path.MOVETO] + [Path.LINETO] * (len(points) - 1)
    ax.add_patch(
        FancyArrowPatch(
            path=Path(points, codes),
            arrowstyle="-|>",
            mutation_scale=13,
            linewidth=1.4,
            linestyle=(0, (4, 2.5)) if dashed else "-",
            color=colour,
            shrinkA=0,
            shrinkB=0,
            zorder=2,
        )
    )


def _label(
    ax: Axes,
    x: float,
    y: float,
    text: str,
    ha: str = "center",
    va: str = "center",
    colour: str = INK,
) -> None:
    """A short arrow label on a white ground, so that it stays readable over a line."""
    ax.text(
        x,
        y,
        text,
        ha=ha,
        va=va,
        fontsize=FONT_SMALL,
        color=colour,
        zorder=4,
        bbox={"boxstyle": "square,pad=0.2", "facecolor": "white", "edgecolor": "none"},
    )


def _grid(
    ax: Axes,
    x: float,
    y: float,
    rows: int,
    cols: int,
    cell: float,
    colours: tuple[str, str],
    *,
    highlight: int | None = None,
    highlight_colour: str = "#f2b400",
) -> None:
    """A ``rows`` x ``cols`` matrix icon with its lower-left corner at ``(x, y)``."""
    for r in range(rows):
        for c in range(cols):
            ax.add_patch(
                Rectangle(
                    (x + c * cell, y + (rows - 1 - r) * cell),
                    cell,
                    cell,
                    facecolor=highlight_colour if c == highlight else "white",
                    edgecolor=colours[1],
                    linewidth=0.6,
                    zorder=2,
                )
            )


def _triangle(
    ax: Axes,
    x: float,
    y: float,
    n: int,
    cell: float,
    blocks: dict[str, tuple[int, int]],
) -> None:
    """The upper triangle of an ``n`` x ``n`` pair matrix, lower-left corner at ``(x, y)``;
    ``blocks`` colours the pairs among neurons ``lo .. hi - 1`` (first-last selection)."""
    for i in range(n):
        for j in range(i, n):
            fill = "white"
            for colour, (lo, hi) in blocks.items():
                if lo <= i < hi and lo <= j < hi:
                    fill = colour
            ax.add_patch(
                Rectangle(
                    (x + j * cell, y + (n - 1 - i) * cell),
                    cell,
                    cell,
                    facecolor=fill,
                    edgecolor=_SYNCH[1],
                    linewidth=0.6,
                    zorder=2,
                )
            )


def _text(ax: Axes, x: float, y: float, text: str, size: float = FONT_SMALL) -> None:
    ax.text(x, y, text, ha="center", va="center", fontsize=size, color=INK, zorder=3)


def plot_ctm_architecture(image: Any = None) -> Figure:
    """The CTM's internal tick as a block diagram (8 x 4.5 in, white background).

    Blue blocks perceive (backbone, cross-attention, query), orange ones are the neurons
    (synapses, the pre-activation history :math:`A^t`, the neuron-level models, the
    post-activation history :math:`Z^t`), green is synchronisation and purple the output
    (logits :math:`y^t`, certainty :math:`c^t`). The dashed arrow closes the loop to the next
    tick.

    Args:
        image: optional greyscale input to show, ``(H, W)`` or ``(1, H, W)`` in any scaling
            (min-max scaled for display); default a drawn digit.

    Returns:
        The Figure (one Axes, axis off, data coordinates in inches).
    """
    picture = _default_digit() if image is None else _as_image(image)
    width, height = ARCHITECTURE_FIGSIZE
    fig = new_figure(ARCHITECTURE_FIGSIZE)
    fig.patch.set_facecolor("white")
    fig.patch.set_alpha(1.0)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()

    # --- top row: input, backbone, cross-attention, query ----------------------------------
    top, top_h = 3.05, 1.05
    ty = top + top_h / 2
    _text(ax, 0.53, top + top_h + 0.16, "input $x$", FONT)
    ax.add_patch(
        Rectangle(
            (0.08, top), 0.9, top_h, facecolor="white", edgecolor=_INPUT[1], lw=1.4
        )
    )
    ax.imshow(
        picture,
        cmap="gray_r",
        vmin=0,
        vmax=1,
        extent=(0.12, 0.94, top + 0.04, top + top_h - 0.04),
        interpolation="antialiased",
        zorder=2,
    )
    _box(ax, (1.38, top), (1.4, top_h), _ATTEND, "backbone", "once per input")
    _text(ax, 2.08, ty, "conv $\\to$ tokens")
    _box(ax, (3.18, top), (1.75, top_h), _ATTEND, "cross-attention", "query: $q^t$")
    _text(ax, 4.055, ty, "keys, values: tokens")
    _box(ax, (5.95, top), (1.97, top_h), _ATTEND, "query", "linear")
    _text(ax, 6.935, ty, "$S^t_{\\rm action} \\to q^t$")
    _arrow(ax, [(0.98, ty), (1.38, ty)])
    _arrow(ax, [(2.78, ty), (3.18, ty)])
    _arrow(ax, [(5.95, ty), (4.93, ty)], colour=_ATTEND[1])
    _label(ax, 5.44, ty + 0.2, "$q^t$")

    # --- middle row: synapses -> A^t -> NLMs -> Z^t -> synchronisation ----------------------
    mid, mid_h = 1.3, 1.2
    cy = mid + mid_h / 2
    cell = 0.085
    _box(ax, (0.08, mid), (1.25, mid_h), _NEURONS, "synapses", "MLP or U-Net")
    _text(ax, 0.705, cy, "$[o^t, z^{t-1}] \\to a^t$")
    _box(
        ax, (1.68, mid), (1.3, mid_h), _NEURONS, "history $A^t$", "last $M$ per neuron"
    )
    _grid(ax, 2.33 - 5 * cell, cy - 2 * cell, 4, 10, cell, _NEURONS, highlight=9)
    _box(ax, (3.33, mid), (1.55, mid_h), _NEURONS, "neuron-level", "weights not shared")
    _text(ax, 4.105, mid + mid_h - 0.38, "models (NLMs)", FONT)
    _text(ax, 4.105, cy - 0.12, "$z^t_d = \\mathrm{NLM}_d(A^t_d)$")
    _box(ax, (5.23, mid), (1.0, mid_h), _NEURONS, "history $Z^t$", "$z^0, \\dots, z^t$")
    _grid(ax, 5.73 - 3 * cell, cy - 2 * cell, 4, 6, cell, _NEURONS, highlight=5)
    _box(ax, (6.58, mid), (1.34, mid_h), _SYNCH, "synchronisation", "decays $r_p$")
    tri = 0.075
    _triangle(
        ax,
        7.25 - 4 * tri,
        cy - 4 * tri,
        8,
        tri,
        {_OUT_PAIRS: (0, 4), _ACTION_PAIRS: (4, 8)},
    )
    _arrow(ax, [(1.33, cy), (1.68, cy)])
    _label(ax, 1.505, cy + 0.2, "$a^t$")
    _arrow(ax, [(2.98, cy), (3.33, cy)])
    _label(ax, 3.155, cy + 0.2, "$A^t_d$")
    _arrow(ax, [(4.88, cy), (5.23, cy)])
    _label(ax, 5.055, cy + 0.2, "$z^t$")
    _arrow(ax, [(6.23, cy), (6.58, cy)])
    _label(ax, 6.405, cy + 0.2, "$Z^t$")

    # attention output down to the synapses; action synchronisation up to the query
    _arrow(
        ax,
        [(4.055, top), (4.055, 2.78), (0.705, 2.78), (0.705, mid + mid_h)],
        colour=_ATTEND[1],
    )
    _label(ax, 2.33, 2.78, "$o^t$")
    _arrow(ax, [(6.935, mid + mid_h), (6.935, top)], colour=_ATTEND[1])
    _label(ax, 6.85, 2.78, "$S^t_{\\rm action}$ (one tick behind)", ha="right")

    # --- bottom row: output head and certainty; the loop to the next tick -------------------
    bot, bot_h = 0.12, 0.85
    _box(
        ax,
        (6.47, bot),
        (1.45, bot_h),
        _OUTPUT,
        "output head",
        "linear $\\to y^t$",
        title_y=bot + bot_h - 0.22,
    )
    _box(
        ax,
        (4.3, bot),
        (1.82, bot_h),
        _OUTPUT,
        "certainty $c^t$",
        "1 $-$ normalised entropy",
        title_y=bot + bot_h - 0.22,
    )
    _arrow(ax, [(7.52, mid), (7.52, bot + bot_h)], colour=_OUTPUT[1])
    _label(ax, 7.45, (mid + bot + bot_h) / 2, "$S^t_{\\rm out}$", ha="right")
    _arrow(ax, [(6.47, bot + bot_h / 2), (6.12, bot + bot_h / 2)], colour=_OUTPUT[1])
    _label(ax, 6.295, bot + bot_h / 2 + 0.2, "$y^t$")
    _arrow(ax, [(3.75, mid), (3.75, 0.5), (0.705, 0.5), (0.705, mid)], dashed=True)
    _label(ax, 2.23, 0.5, "next tick: $z^t$ becomes $z^{t-1}$")

    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    return fig
