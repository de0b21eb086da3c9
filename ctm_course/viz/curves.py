"""Live training curves for notebooks: one figure, updated in place while a model trains.

    curves = LiveCurves(("loss", "accuracy"))
    for step in range(steps):
        ...
        curves.update(step, train={"loss": loss, "accuracy": acc})
        if step % 500 == 0:
            curves.update(step, test={"loss": test_loss, "accuracy": test_acc})
    curves.close()          # final redraw
    curves.figure()         # the final Figure (for a static page, or to save)

In a Jupyter/Colab kernel the curves appear in ONE output that is replaced at most every
``every`` seconds (``display(..., display_id=True)`` then ``handle.update(...)``), so a long run
neither floods the notebook with figures nor slows training down. Outside a kernel (plain
Python, tests, scripts) nothing is drawn; the numbers are only recorded in :attr:`history`.
"""

from __future__ import annotations

import io
import math
import time
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .common import FONT, FONT_TITLE, TEST, TRAIN, in_notebook, new_figure, style_axes


def ema(values: Sequence[float], smoothing: float) -> np.ndarray:
    """Exponential moving average with bias correction (as TensorBoard), NaNs skipped.

    Args:
        values: (n,) raw values.
        smoothing: weight of the past in [0, 1); 0 returns the values unchanged.

    Returns:
        (n,) smoothed values (NaN where no value has been seen yet).
    """
    out = np.full(len(values), np.nan)
    avg, weight = 0.0, 0.0
    for i, v in enumerate(values):
        if v is not None and not math.isnan(v):
            avg = smoothing * avg + (1.0 - smoothing) * v
            weight = smoothing * weight + (1.0 - smoothing)
        if weight > 0:
            out[i] = avg / weight
    return out


def _scalar(value: Any) -> float:
    if hasattr(value, "item"):
        value = value.item()
    return float(value)


class LiveCurves:
    """Train and test curves, one panel per metric, redrawn in place in a notebook.

    Args:
        metrics: metric names; one panel each (default ``("loss", "accuracy")``).
        every: minimum number of seconds between two redraws in a notebook.
        max_share: at most this share of the time goes to drawing: after a redraw that took ``d`` seconds
            the next waits ``max(every, d / max_share)`` (a redraw costs ~0.15 s on a small CPU; at the
            default, 2 %, that is one every ~8 s). ``None``: only ``every`` counts.
        smoothing: EMA weight for the (noisy) train curves, in [0, 1); the raw values are shown
            faintly behind. Test values are drawn as they are.
        title: optional title above the panels.
        live: draw while training? ``None`` (default) draws only inside a Jupyter/Colab kernel.

    Attributes:
        history: dict of lists: ``train_step`` and ``train_<metric>`` (one entry per
            ``update`` with ``train``), ``test_step`` and ``test_<metric>`` (one per ``update``
            with ``test``). A metric missing from an update is recorded as NaN.
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("loss", "accuracy"),
        every: float = 2.0,
        max_share: float | None = 0.02,
        smoothing: float = 0.9,
        title: str | None = None,
        live: bool | None = None,
    ) -> None:
        metrics = tuple(metrics)
        if not metrics or len(set(metrics)) != len(metrics):
            raise ValueError(
                f"metrics must be distinct names, at least one; got {metrics!r}"
            )
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if every < 0:
            raise ValueError(f"every must be >= 0 seconds, got {every}")
        if max_share is not None and not 0 < max_share <= 1:
            raise ValueError(f"max_share must be in (0, 1] or None, got {max_share}")
        self.metrics = metrics
        self.every = float(every)
        self.max_share = max_share
        self._gap = self.every  # seconds from the end of one redraw to the next
        self.smoothing = float(smoothing)
        self.title = title
        self.live = in_notebook() if live is None else bool(live)
        self.history: dict[str, list[float]] = {"train_step": [], "test_step": []}
        for split in ("train", "test"):
            for m in metrics:
                self.history[f"{split}_{m}"] = []
        self._handle: Any = None
        self._last_draw = -math.inf
        self._dirty = False

    # ------------------------------------------------------------------ recording
    def _record(self, split: str, step: int, values: Mapping[str, Any]) -> None:
        # Extra keys (a training row's "step", "lr", ...) are ignored; a row with none of the
        # tracked metrics is almost certainly a typo and raises.
        if values and not set(values) & set(self.metrics):
            raise ValueError(
                f"{split} has none of the tracked metrics {list(self.metrics)} (got {sorted(values)})"
            )
        self.history[f"{split}_step"].append(int(step))
        for m in self.metrics:
            self.history[f"{split}_{m}"].append(
                _scalar(values[m]) if m in values else math.nan
            )

    def update(
        self,
        step: int,
        train: Mapping[str, Any] | None = None,
        test: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the metrics of ``step`` (floats or 0-d tensors) and redraw if it is time.

        Args:
            step: the training step (x axis).
            train: e.g. ``{"loss": 0.31, "accuracy": 0.9}``, or None.
            test: the same for the test set, or None.
        """
        if train:
            self._record("train", step, train)
        if test:
            self._record("test", step, test)
        self._dirty = True
        if self.live:
            now = self._clock()
            if now - self._last_draw >= self._gap:
                self._redraw(start=now)

    # ------------------------------------------------------------------ drawing
    def figure(self) -> Figure:
        """A Figure of the curves so far: one panel per metric, train (smoothed) and test."""
        n = len(self.metrics)
        fig = new_figure((min(4.0 * n, 11.0), 3.6))
        h = self.history
        for i, m in enumerate(self.metrics):
            ax = fig.add_subplot(1, n, i + 1)
            parts = []
            train = np.asarray(h[f"train_{m}"], dtype=float)
            if train.size and not np.all(np.isnan(train)):
                steps = np.asarray(h["train_step"])
                smooth = ema(train.tolist(), self.smoothing)
                if self.smoothing > 0:
                    ax.plot(steps, train, color=TRAIN, alpha=0.25, linewidth=1.0)
                ax.plot(
                    steps,
                    smooth,
                    color=TRAIN,
                    linewidth=2.0,
                    label="train (smoothed)" if self.smoothing > 0 else "train",
                )
                parts.append(f"train {smooth[-1]:.4g}")
            test = np.asarray(h[f"test_{m}"], dtype=float)
            if test.size and not np.all(np.isnan(test)):
                ax.plot(
                    h["test_step"],
                    test,
                    "o-",
                    color=TEST,
                    linewidth=1.8,
                    markersize=4,
                    label="test",
                )
                parts.append(f"test {test[~np.isnan(test)][-1]:.4g}")
            style_axes(ax)
            ax.set_xlabel("step", fontsize=FONT)
            ax.set_ylabel(m, fontsize=FONT)
            ax.set_title(
                m + (": " + ", ".join(parts) if parts else ""), fontsize=FONT_TITLE
            )
            if parts:
                ax.legend(fontsize=FONT - 1, frameon=False)
        if self.title:
            fig.suptitle(self.title, fontsize=FONT_TITLE + 1)
        fig.tight_layout()
        return fig

    _clock = staticmethod(time.monotonic)

    def _redraw(self, start: float | None = None) -> None:
        from IPython.display import Image, display

        start = self._clock() if start is None else start
        fig = self.figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        image = Image(data=buf.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)
        self._last_draw = self._clock()
        if self.max_share is not None:
            self._gap = max(self.every, (self._last_draw - start) / self.max_share)
        self._dirty = False

    def close(self) -> None:
        """Draw the final state (in a notebook); call once training ends."""
        if self.live and self._dirty:
            self._redraw()

    def __enter__(self) -> "LiveCurves":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
