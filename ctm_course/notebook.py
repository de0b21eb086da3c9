"""Small helpers that every lesson notebook calls in its first cells.

- :func:`start` begins a lesson in one line: it picks the profile and its row, the device and
  the CPU threads, seeds everything and prints where the lesson runs (device, profile, data)
  and the row's sizes. With ``$CTM_COURSE_QUICK`` set (``make gpu-check``) the row is cut to a
  few hundred steps (:func:`ctm_course.quick.quick`) and ``lesson.quick`` is ``True``.
- :func:`setup` prints that one line alone.
- :func:`glue` hands a number to the book (myst-nb ``glue``) and is a no-op elsewhere, so that
  every number in a lesson's prose comes from the run that produced it, on the site, and
  the notebook still runs in Colab or Jupyter where ``myst_nb`` is not installed.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from .profile import QUICK_ENV_VAR, device, device_name, profile, quick_mode

T = TypeVar("T")

__all__ = ["Lesson", "glue", "in_colab", "setup", "start"]


def in_colab() -> bool:
    """``True`` when running inside Google Colab."""
    return "google.colab" in sys.modules


def glue(name: str, value: T, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the book's ``{glue}`` roles.

    It returns ``None``, so a cell that ends with a ``glue`` call shows no stray value.

    When the notebook is executed by Jupyter Book, ``myst_nb.glue`` records the value's display
    form in the cell output so that prose such as ``{glue:text}`acc:.3f``` shows the number
    measured by this run. Outside the book (Colab, plain Jupyter) ``myst_nb`` is usually not
    installed and this function does nothing (it prints the value when ``display`` is set).

    Args:
        name: a key unique within the notebook.
        value: any object with a display form (numbers, strings, figures, DataFrames).
        display: also show the value in the notebook's output.
    """
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:
        if display:
            print(f"{name} = {value!r}")
        return None
    _myst_glue(name, value, display=display)
    return None


def _data_root() -> str:
    root = os.environ.get("CTM_COURSE_DATA", "").strip()
    # only the last two folder names: the built site should not show a machine's full paths
    return (
        f"$CTM_COURSE_DATA (.../{'/'.join(Path(root).parts[-2:])})"
        if root
        else "downloads/torchvision cache"
    )


def setup(lesson: str) -> None:
    """Print one line with the lesson, device, profile and data root (and a GPU hint on Colab).

    Args:
        lesson: the notebook's stem, e.g. ``"01_ctm_mnist"``.
    """
    print(
        f"{lesson} | device: {device_name()} | profile: {profile()} | data: {_data_root()}"
    )
    if in_colab() and device().type != "cuda":
        print(
            "Tip: this Colab runtime has no GPU. Choose Runtime -> Change runtime type -> GPU "
            "(e.g. T4), then run the notebook again: the lesson will use the 'gpu' profile."
        )


@dataclass(frozen=True)
class Lesson:
    """Where and how a lesson runs: what :func:`start` returns.

    Attributes:
        name: the notebook's stem, e.g. ``"01_ctm_mnist"``.
        profile: ``"smoke"``, ``"cpu"`` or ``"gpu"``.
        config: the lesson's profile row (:mod:`ctm_course.config`).
        device: where the lesson trains.
        quick: the quick mode of ``make gpu-check`` (``$CTM_COURSE_QUICK``): ``config`` is the
            profile's row cut to a few hundred steps (:func:`ctm_course.quick.quick`), which runs
            every code path of the row but does not learn enough for the lesson's thresholds.
    """

    name: str
    profile: str
    config: Any
    device: torch.device
    quick: bool = False


def cpu_threads(row_threads: int | None) -> int | None:
    """The row's ``cpu_threads``, at most ``$OMP_NUM_THREADS`` when that is set.

    ``OMP_NUM_THREADS`` is how a caller that runs several lessons side by side (``make test``)
    gives each its share of the cores; torch's own default already follows it.
    """
    cap = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not row_threads or not cap:
        return row_threads
    if not cap.isdigit() or int(cap) < 1:
        raise ValueError(f"OMP_NUM_THREADS must be a positive integer, got {cap!r}")
    return min(row_threads, int(cap))


def start(lesson: str, seed: int = 0) -> Lesson:
    """Begin ``lesson``: its profile row, the device, the CPU threads (the row's ``cpu_threads``), seeds.

    Prints one line with the lesson, device, profile and data (and a GPU hint on Colab), then the
    row, so that the reader sees every size the lesson runs with. With ``$CTM_COURSE_QUICK`` set
    the row is :func:`ctm_course.quick.quick`'s cut of the profile's row and ``quick`` is ``True``.
    """
    from .config import lesson_config
    from .train import seed_everything

    prof = profile()
    config = lesson_config(lesson, prof)
    is_quick = quick_mode()
    if is_quick:
        from .quick import quick

        config = quick(config)
    dev = device()
    threads = cpu_threads(getattr(config, "cpu_threads", None))
    if dev.type == "cpu" and threads:
        # small per-step operations: more threads can be slower
        torch.set_num_threads(threads)
    if dev.type == "cuda":
        # fastest convolution algorithms for fixed shapes
        torch.backends.cudnn.benchmark = True
    seed_everything(seed)
    setup(lesson)
    if is_quick:
        print(
            f"quick mode (${QUICK_ENV_VAR}): the {prof} row cut to a few hundred steps; "
            "it proves the lesson runs, not that it learns"
        )
    print(config.describe())
    return Lesson(name=lesson, profile=prof, config=config, device=dev, quick=is_quick)
