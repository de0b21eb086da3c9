"""Small helpers that every lesson notebook calls in its first cells.

- :func:`setup` prints one line saying where the lesson runs: device, profile and data.
- :func:`glue` hands a number to the book (myst-nb ``glue``) and is a no-op elsewhere, so that
  every number in a lesson's prose comes from the run that produced it, on the site, and
  the notebook still runs in Colab or Jupyter where ``myst_nb`` is not installed.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TypeVar

from .profile import device, device_name, profile

T = TypeVar("T")

__all__ = ["glue", "in_colab", "setup"]


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
    return f"$CTM_COURSE_DATA (.../{'/'.join(Path(root).parts[-2:])})" if root else "downloads/torchvision cache"


def setup(lesson: str) -> None:
    """Print one line with the lesson, device, profile and data root (and a GPU hint on Colab).

    Args:
        lesson: the notebook's stem, e.g. ``"01_ctm_mnist"``.
    """
    print(f"{lesson} | device: {device_name()} | profile: {profile()} | data: {_data_root()}")
    if in_colab() and device().type != "cuda":
        print("Tip: this Colab runtime has no GPU. Choose Runtime -> Change runtime type -> GPU "
              "(e.g. T4), then run the notebook again: the lesson will use the 'gpu' profile.")
