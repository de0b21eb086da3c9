"""What the CTM does tick by tick, as an animation: frames, a GIF/MP4 file, a notebook display.

    frames = tick_frames(tick_view(track, images, labels, index=0))   # one RGB frame per tick
    save_animation(frames, "ctm_mnist.gif", fps=4)          # loops forever
    show_animation(frames, fps=4)                            # inline in Jupyter / Colab

Each frame is drawn by :func:`ctm_course.viz.frame.draw_tick` (the same function the slider of
:mod:`ctm_course.viz.scrubber` uses); see there for the panels.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .common import figure_to_rgb, in_ipython, new_figure
from .frame import FRAME_DPI, FRAME_FIGSIZE, TickView, draw_tick

SUPPORTED_SUFFIXES = (".gif", ".mp4")


def tick_frames(view: TickView) -> list[np.ndarray]:
    """Render one frame per internal tick of one example.

    Args:
        view: the example, checked and extracted from a tracked batch by
            :func:`~ctm_course.viz.frame.tick_view` (``tick_view(track, images, labels, index)``).

    Returns:
        T frames, each a (700, 1000, 3) uint8 RGB array (10 x 7 inches at 100 dpi).
    """
    # one Agg figure, not managed by pyplot
    fig = new_figure(FRAME_FIGSIZE, dpi=FRAME_DPI)
    frames = []
    try:
        for t in range(view.ticks):
            draw_tick(fig, view, t)
            frames.append(figure_to_rgb(fig))
    finally:
        fig.clear()
    return frames


def _check_frames(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    if len(frames) == 0:
        raise ValueError("frames is empty; render them with tick_frames(...) first")
    out = [np.asarray(f) for f in frames]
    first = out[0].shape
    for i, f in enumerate(out):
        if f.ndim != 3 or f.shape[2] not in (3, 4) or f.shape != first:
            raise ValueError(
                f"every frame must be (H, W, 3) of one size; frame 0 is {first}, frame {i} is {f.shape}"
            )
    return [f[..., :3].astype(np.uint8, copy=False) for f in out]


def _gif_bytes(frames: Sequence[np.ndarray], fps: float) -> bytes:
    import imageio.v3 as iio

    buf = io.BytesIO()
    iio.imwrite(buf, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)
    return buf.getvalue()


def save_animation(
    frames: Sequence[np.ndarray], path: str | Path, fps: float = 4
) -> Path:
    """Write frames to ``path`` as a looping GIF (``.gif``) or an H.264 video (``.mp4``).

    Args:
        frames: T arrays (H, W, 3) uint8, all the same size (as from :func:`tick_frames`).
        path: file name ending in ``.gif`` or ``.mp4``; parent folders are created.
        fps: frames per second.

    Returns:
        The path written.

    Raises:
        ValueError: for another extension, empty or inconsistent frames, or ``fps <= 0``.
        RuntimeError: for ``.mp4`` when the ``imageio-ffmpeg`` package is not installed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"cannot save an animation as {path.name!r}: the extension must be one of "
            f"{', '.join(SUPPORTED_SUFFIXES)}"
        )
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    clean = _check_frames(frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        path.write_bytes(_gif_bytes(clean, fps))
        return path
    if importlib.util.find_spec("imageio_ffmpeg") is None:
        raise RuntimeError(
            f"saving {path.name!r} as MP4 needs the imageio-ffmpeg package "
            "(pip install imageio-ffmpeg); or save the animation as a .gif instead"
        )
    import imageio.v2 as imageio_v2

    # H.264 (yuv420p) needs even sizes: pad by one white row/column where needed.
    h, w = clean[0].shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))
    video = [np.pad(f, pad, constant_values=255) for f in clean]
    imageio_v2.mimwrite(
        path, video, fps=fps, codec="libx264", macro_block_size=1, pixelformat="yuv420p"
    )
    return path


def _gif_html(frames: Sequence[np.ndarray], fps: float) -> str:
    data = base64.b64encode(_gif_bytes(frames, fps)).decode("ascii")
    return f'<img src="data:image/gif;base64,{data}" style="max-width:100%; height:auto;"/>'


def show_animation(frames: Sequence[np.ndarray], fps: float = 4) -> None:
    """Show frames inline in a notebook as a looping GIF.

    Uses ``mediapy.show_video(frames, codec="gif")`` (which needs the ``ffmpeg`` program, present
    on Colab); without ffmpeg it embeds a GIF encoded by imageio instead. The output is plain
    HTML, so it also shows in a statically rendered page (Jupyter Book).

    Returns ``None``, like ``plt.show()``: the GIF is displayed here, and a returned object would
    be displayed a second time when the call is a cell's last line. Outside IPython (plain
    Python, tests) nothing is shown and a warning suggests :func:`save_animation`.
    """
    clean = _check_frames(frames)
    if not in_ipython():
        warnings.warn(
            "show_animation displays only inside Jupyter/IPython; use "
            "save_animation(frames, 'ctm.gif') to write a file instead",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    from IPython.display import HTML, display

    html: str | None = None
    try:
        import mediapy

        html = mediapy.show_video(clean, fps=fps, codec="gif", return_html=True)
    except (ImportError, RuntimeError, OSError):  # no mediapy or no ffmpeg program
        html = None
    display(HTML(html if html else _gif_html(clean, fps)))
    return None
