"""Trained models that ship with the course: ``model, info = load("02_ctm_parity")``.

A lesson's reader trains a model within a small budget; some analyses are only worth reading on
a model trained much longer (lesson 2's strategy of a CTM that has *solved* parity, lesson 5's
probes and perturbations of a recurrent CNN that names the target far more often). Those models
are trained once by a script in ``scripts/`` and their weights installed with the package, under
``ctm_course/pretrained/`` (large matrices with 8 bits where a file would otherwise pass 5 MB:
:mod:`ctm_course.compact`). Each file's SHA-256 is pinned in :data:`MODELS`, so a damaged or
replaced file is an error that names it, and the weights are read with ``weights_only=True``.

``info`` is the training record of ``results/pretrained/<lesson>.json`` (command, seed, steps,
wall time, device, accuracies), shipped beside the weights.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

WEIGHTS_FOLDER = Path(__file__).parent / "pretrained"
"""Where the shipped weights and their training records live (package data)."""


@dataclass(frozen=True)
class Shipped:
    """One shipped model: its weights' SHA-256 and how to build the module they load into."""

    sha256: str
    build: Callable[[dict[str, Any]], nn.Module]


def _parity_ctm(info: dict[str, Any]) -> nn.Module:
    from .ctm import ContinuousThoughtMachine

    return ContinuousThoughtMachine(**info["model_args"])


def _gain_and_control(info: dict[str, Any]) -> nn.Module:
    from .rcnn.training import gain_and_control

    args = info["model_args"]
    return gain_and_control(args["n_feats"], args["t_steps"])


MODELS: dict[str, Shipped] = {
    # scripts/train_pretrained_parity.py; record: results/pretrained/02_ctm_parity.json
    "02_ctm_parity": Shipped(
        sha256="2b2061c1da2f0a010f418cc151c87a1d71b1f6b262351811a9a82b3f05b3bfe9",
        build=_parity_ctm,
    ),
    # scripts/train_pretrained_rcnn.py; record: results/pretrained/05_recurrent_cnn_lab.json
    "05_recurrent_cnn_lab": Shipped(
        sha256="afb8fd0a7f84b561209d4d28a9b3e45a331c792fad7e847e155dbb99859ae69a",
        build=_gain_and_control,
    ),
}
"""The shipped models by lesson, with the pinned SHA-256 of their weights."""


class PretrainedError(RuntimeError):
    """A shipped model is missing, damaged, or does not fit its architecture."""


def weights_path(lesson: str) -> Path:
    """``ctm_course/pretrained/<lesson>.pt``."""
    return WEIGHTS_FOLDER / f"{lesson}.pt"


def sha256_of(path: str | Path) -> str:
    """The hex SHA-256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def repo_record(lesson: str) -> Path:
    """``results/pretrained/<lesson>.json`` in the repository (the same record as the shipped one)."""
    from .paths import output_folder

    return output_folder("results") / "pretrained" / f"{lesson}.json"


def write_weights(lesson: str, state: dict[str, torch.Tensor]) -> Path:
    """Save a (possibly :func:`ctm_course.compact.pack`-ed) ``state`` as ``lesson``'s weights file.

    Used by the scripts that train the shipped models; pin the printed SHA-256 in :data:`MODELS`.
    """
    WEIGHTS_FOLDER.mkdir(parents=True, exist_ok=True)
    path = weights_path(lesson)
    torch.save({k: v.detach().cpu().clone() for k, v in state.items()}, path)
    return path


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The float32 ``state_dict`` in a weights file, unpacked where it was packed."""
    from .compact import unpack

    return unpack(torch.load(path, map_location="cpu", weights_only=True))


def provenance(threads: int) -> dict[str, str]:
    """Where a shipped model was trained: the command line, the CPU and its threads, torch, the
    repository's commit and the date, for its training record."""
    import platform
    import subprocess
    import sys
    import time

    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "command": "python " + " ".join(sys.argv),
        "device": f"CPU ({platform.machine()}, {threads} threads)",
        "torch": torch.__version__,
        "commit": commit,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_record(lesson: str, record: dict[str, Any]) -> dict[str, Any]:
    """Write a shipped model's training record beside its weights and under ``results/pretrained/``.

    The record gains ``weights`` (its path in the repository) and ``sha256`` (of the weights
    file, which must be written first); returns it as written.
    """
    path = weights_path(lesson)
    record = {
        **record,
        "weights": f"ctm_course/pretrained/{path.name}",
        "sha256": sha256_of(path),
    }
    text = json.dumps(record, indent=1, default=str) + "\n"
    path.with_suffix(".json").write_text(text)  # shipped with the weights
    out = repo_record(lesson)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return record


def available() -> list[str]:
    """The lessons that ship a trained model."""
    return sorted(MODELS)


def load(
    lesson: str, device: torch.device | str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """The trained model of ``lesson`` in eval mode on ``device``, and its training record.

    Raises:
        ValueError: ``lesson`` ships no model (see :func:`available`).
        PretrainedError: the weights file is missing, its SHA-256 differs from the pinned one,
            or its tensors do not fit the architecture.
    """
    if lesson not in MODELS:
        raise ValueError(
            f"no trained model ships for {lesson!r}; available: {available()}"
        )
    shipped, path = MODELS[lesson], weights_path(lesson)
    record = path.with_suffix(".json")
    if not path.is_file() or not record.is_file():
        raise PretrainedError(
            f"{path} or its record {record.name} is missing: reinstall ctm_course "
            "(pip install --force-reinstall) or check out the repository's copy"
        )
    found = sha256_of(path)
    if found != shipped.sha256:
        raise PretrainedError(
            f"{path}: SHA-256 {found[:16]}... differs from the pinned "
            f"{shipped.sha256[:16]}...; the file is damaged or was replaced. Reinstall "
            "ctm_course, or retrain it with the script named in its record."
        )
    info = json.loads(record.read_text())
    model = shipped.build(info)
    state = read_weights(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise PretrainedError(
            f"{path} does not fit the model its record describes: {err}"
        ) from err
    return model.to(device).eval(), info
