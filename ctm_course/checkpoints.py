"""Training checkpoints: where a run keeps them, and how they are written and read.

A run's checkpoint is named after the lesson, the profile and a hash of the run's settings and
of the package's sources (:func:`checkpoint_path`), so changing either starts a fresh run while
re-running the same notebook (or resuming after a disconnect) picks up where it stopped.
Checkpoints are written atomically and read with ``weights_only=True``. Runs in the quick mode
of ``make gpu-check`` keep theirs apart, in ``checkpoints/gpu-check/``, which the check empties
before it starts, so that each check trains from the first step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from .paths import output_folder
from .profile import quick_mode


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read, or that belongs to another model."""


def package_digest() -> str:
    """A hash of the ctm_course sources: a checkpoint made by other code is never resumed."""
    digest = hashlib.sha1()
    for source in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _plain(settings: Any) -> Any:
    return (
        dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else settings
    )


def checkpoint_path(
    lesson: str, profile_name: str, settings: Any, folder: str | Path | None = None
) -> Path:
    """``checkpoints/<lesson>-<profile>-<hash>.pt`` for a run with these settings and this package version.

    Args:
        settings: anything that describes the run (a profile row, a dict; dataclasses are expanded).
        folder: defaults to ``<repository>/checkpoints`` (``./checkpoints`` outside the repository);
            in quick mode (:func:`ctm_course.profile.quick_mode`) its subfolder ``gpu-check``.
    """
    text = json.dumps(
        _plain(settings), sort_keys=True, default=lambda v: str(_plain(v))
    )
    key = hashlib.sha1((text + package_digest()).encode()).hexdigest()
    if folder is None:
        folder = output_folder("checkpoints")
        if quick_mode():
            folder = folder / "gpu-check"
    folder = Path(folder)
    return folder / f"{lesson}-{profile_name}-{key[:10]}.pt"


def save_checkpoint(path: Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically: an interrupted save never leaves a broken checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(dict(payload), tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint on the CPU (``weights_only=True``); a damaged file raises :class:`CheckpointError`."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, corrupt, or not a checkpoint at all
        raise CheckpointError(
            f"the checkpoint {path} cannot be read ({type(error).__name__}: {error}). Delete it (or move it "
            f"aside) and run again to train from the start."
        ) from error
