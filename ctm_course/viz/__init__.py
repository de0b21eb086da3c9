"""Pictures of a CTM at work: tick-by-tick animation and slider, live training curves, plots.

- :func:`tick_frames`, :func:`save_animation`, :func:`show_animation`: one frame per internal
  tick (input, attention over the image, class probabilities, certainty, neuron traces), saved
  as a GIF/MP4 or shown inline.
- :func:`tick_scrubber`: the same panels behind a slider (needs a live kernel to move).
- :func:`draw_tick`, :func:`tick_view`: draw one tick onto any Figure (both of the above use them).
- :class:`LiveCurves`: train/test curves updated in place in a notebook.
- :func:`plot_accuracy_per_tick`, :func:`plot_certainty_per_tick`, :func:`plot_early_exit`,
  :func:`plot_examples`, :func:`plot_reliability`: the static plots of lesson 1.
- :func:`plot_ctm_architecture`: the CTM's internal tick as a block diagram (lesson 1).
- :mod:`.common`: the shared style (colours, fonts, :func:`~.common.new_figure`,
  :func:`~.common.style_axes`, :func:`~.common.to_numpy`), used by the other lessons' plots too.
"""

from .animation import save_animation, show_animation, tick_frames
from .architecture import plot_ctm_architecture
from .curves import LiveCurves
from .frame import (
    FRAME_DPI,
    FRAME_FIGSIZE,
    TickView,
    attention_overlay,
    draw_tick,
    tick_view,
)
from .plots import (
    plot_accuracy_per_tick,
    plot_certainty_per_tick,
    plot_early_exit,
    plot_examples,
    plot_reliability,
)
from .scrubber import tick_scrubber
from .seeds import plot_seed_spread

__all__ = [
    "plot_seed_spread",
    "FRAME_DPI",
    "FRAME_FIGSIZE",
    "LiveCurves",
    "TickView",
    "attention_overlay",
    "draw_tick",
    "plot_accuracy_per_tick",
    "plot_certainty_per_tick",
    "plot_ctm_architecture",
    "plot_early_exit",
    "plot_examples",
    "plot_reliability",
    "save_animation",
    "show_animation",
    "tick_frames",
    "tick_scrubber",
    "tick_view",
]
