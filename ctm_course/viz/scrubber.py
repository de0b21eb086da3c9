"""A slider over the internal ticks of one example: drag it to see the CTM at any tick.

    tick_scrubber(tick_view(track, images, labels, index=0))   # last expression of a notebook cell

The widget is a play button and an ``IntSlider`` over ticks ``0 .. T-1`` above an image of the
same panels as the GIF (:func:`ctm_course.viz.frame.draw_tick` draws both). Tick 0 is drawn when
the widget is created, so a page rendered statically (Jupyter Book, nbviewer) shows that frame;
moving the slider redraws the image and therefore needs a live kernel (Jupyter, JupyterLab,
VS Code or Colab). Frames are rendered on first use and cached, so scrubbing back is instant.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from .common import figure_to_rgb, new_figure
from .frame import FRAME_DPI, FRAME_FIGSIZE, TickView, draw_tick


def _png(frame: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _scrubber_box(widgets: Any) -> type:
    """A VBox whose display also carries the current frame as ``image/png``.

    Front ends with widget support show the live widget; a viewer without it (GitHub, a page
    built without widget state) falls back to the PNG of the tick on screen.
    """

    class TickScrubber(widgets.VBox):  # type: ignore[misc, name-defined]
        def _repr_mimebundle_(self, **kwargs: Any) -> Any:
            bundle = super()._repr_mimebundle_(**kwargs)
            if isinstance(bundle, dict):
                image = getattr(self, "image", None)
                if image is not None and image.value:
                    bundle = {**bundle, "image/png": bytes(image.value)}
            return bundle

    return TickScrubber


def tick_scrubber(
    view: TickView, *, start: int = 0, play_interval_ms: int = 400
) -> Any:
    """An ipywidgets slider over the ticks of one example (needs a live kernel to move).

    Args:
        view: the example, from :func:`~ctm_course.viz.frame.tick_view` (the panels of
            :func:`ctm_course.viz.animation.tick_frames`).
        start: tick shown first (and in a statically rendered page).
        play_interval_ms: time per tick of the play button.

    Returns:
        An ``ipywidgets.VBox`` ``[HBox([Play, IntSlider]), Image]`` (its display also carries
        the current frame as a PNG, for viewers without widget support). For convenience it carries
        ``.slider`` (the ``IntSlider``, ``min=0``, ``max=T-1``), ``.image`` (the ``Image``
        widget holding the PNG of the current tick) and ``.view`` (the
        :class:`~ctm_course.viz.frame.TickView` drawn).

    Raises:
        ImportError: when ipywidgets is not installed (``pip install ipywidgets``).
        ValueError: when ``start`` is not a tick.
    """
    try:
        import ipywidgets as widgets
    # pragma: no cover - ipywidgets is a dependency of the course
    except ImportError as err:
        raise ImportError(
            "tick_scrubber needs ipywidgets: pip install ipywidgets"
        ) from err

    T = view.ticks
    if not 0 <= start < T:
        raise ValueError(f"start must be a tick in 0..{T - 1}, got {start}")
    fig = new_figure(FRAME_FIGSIZE, dpi=FRAME_DPI)
    cache: dict[int, bytes] = {}

    def png_of(t: int) -> bytes:
        if t not in cache:
            draw_tick(fig, view, t)
            cache[t] = _png(figure_to_rgb(fig))
        return cache[t]

    width = int(FRAME_FIGSIZE[0] * FRAME_DPI)
    image = widgets.Image(
        value=png_of(start),
        format="png",
        layout=widgets.Layout(width="100%", max_width=f"{width}px", height="auto"),
    )
    slider = widgets.IntSlider(
        value=start,
        min=0,
        max=T - 1,
        step=1,
        description="tick",
        continuous_update=True,
        layout=widgets.Layout(width="60%"),
    )
    play = widgets.Play(
        value=start,
        min=0,
        max=T - 1,
        step=1,
        interval=play_interval_ms,
        description="play",
    )
    widgets.jslink((play, "value"), (slider, "value"))

    def on_change(change: dict[str, Any]) -> None:
        image.value = png_of(int(change["new"]))

    slider.observe(on_change, names="value")
    box = _scrubber_box(widgets)([widgets.HBox([play, slider]), image])
    box.slider = slider  # type: ignore[attr-defined]
    box.image = image  # type: ignore[attr-defined]
    box.view = view  # type: ignore[attr-defined]
    return box
