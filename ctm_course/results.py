"""Recorded results: one JSON file per lesson and profile, written by the lesson itself.

``record("01_ctm_mnist", {"test_accuracy": 0.95, ...}, train_seconds=..., steps=...,
data_source="offline-subset")`` writes ``results/<profile>/01_ctm_mnist.json`` at the repository
root (or ``./results`` outside the repository, e.g. on Colab). The book's results page is
generated from these files; nothing in them is typed by hand. A run in the quick mode of
``make gpu-check`` (``$CTM_COURSE_QUICK``) is recorded apart, in
``results/gpu-check/runs/<lesson>.json``, and never replaces a profile's result.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any, Mapping

import torch

from .data.sources import DATA_SOURCES
from .paths import output_folder, repo_root
from .profile import PROFILES, device_name, profile, quick_mode

#: Metric names every lesson must report (CONTRIBUTING.md, "Recorded results").
REQUIRED_METRICS: dict[str, tuple[str, ...]] = {
    "01_ctm_mnist": (
        "test_accuracy",
        "accuracy_per_tick",
        "mean_ticks_early_exit",
        "early_exit_accuracy",
    ),
    "02_ctm_parity": (
        "per_position_accuracy",
        "sequence_accuracy",
        "lstm_per_position_accuracy",
        "lstm_sequence_accuracy",
    ),
    "03_ctm_reconstruction": (
        "ctm_roc_auc",
        "ctm_pr_auc",
        "ctm_best_f1",
        "pca_roc_auc",
        "zscore_roc_auc",
        "autoencoder_roc_auc",
    ),
    "04_tlb_cifar10": (
        "keras_test_accuracy",
        "paper_test_accuracy",
        "vit_test_accuracy",
    ),
    "05_recurrent_cnn_lab": (
        "cluttered_accuracy",
        "clean_accuracy",
        "aux_decoding_through_time",
        "aux_decoding_through_depth",
    ),
}
#: Where ``make gpu-check`` keeps its reports, under :func:`results_dir`; quick runs in ``runs/``.
GPU_CHECK_FOLDER = "gpu-check"
REQUIRED_KEYS = (
    "lesson",
    "profile",
    "device",
    "torch",
    "data_source",
    "train_seconds",
    "steps",
    "commit",
    "date",
    "metrics",
)


def results_dir() -> Path:
    """``$CTM_COURSE_RESULTS`` if set, else ``<repo>/results``, else ``./results``."""
    if os.environ.get("CTM_COURSE_RESULTS"):
        return Path(os.environ["CTM_COURSE_RESULTS"])
    return output_folder("results")


def record_path(lesson: str, profile_name: str, quick: bool | None = None) -> Path:
    """Where :func:`record` writes ``lesson``'s result: ``results/<profile>/<lesson>.json``, or in
    quick mode (default: :func:`ctm_course.profile.quick_mode`) ``results/gpu-check/runs/<lesson>.json``."""
    quick = quick_mode() if quick is None else quick
    if quick:
        return results_dir() / GPU_CHECK_FOLDER / "runs" / f"{lesson}.json"
    return results_dir() / profile_name / f"{lesson}.json"


def git_commit(root: Path | None = None, mark_changes: bool = False) -> str:
    """The repository's short HEAD commit (12 hex digits), or ``"unknown"`` outside git.

    With ``mark_changes``, ``"+changes"`` is appended when tracked files differ from HEAD.
    """
    root = root or repo_root() or Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return "unknown"
    if mark_changes and git("status", "--porcelain", "--untracked-files=no"):
        commit += "+changes"
    return commit


def _clean_metric(name: str, value: Any) -> float | int | list[float]:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()  # numpy scalars and arrays
    if isinstance(value, (list, tuple)):
        return [float(_clean_metric(name, v)) for v in value]  # type: ignore[arg-type]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"metric {name!r} must be a number or a list of numbers, got {type(value).__name__}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"metric {name!r} is not finite: {value}")
    return value


def record(
    lesson: str,
    metrics: Mapping[str, Any],
    *,
    train_seconds: float,
    steps: int,
    data_source: str,
    profile_name: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``results/<profile>/<lesson>.json`` (in quick mode ``results/gpu-check/runs/<lesson>.json``,
    :func:`record_path`) and return its path. On a CUDA device the entry also holds
    ``gpu_peak_memory_gib``, the most GPU memory the process's tensors ever took.

    Args:
        lesson: the notebook's stem, e.g. ``"01_ctm_mnist"``.
        metrics: a flat mapping of numbers or lists of numbers; must contain the lesson's
            :data:`REQUIRED_METRICS`.
        train_seconds: wall time of training (seconds).
        steps: optimiser steps taken.
        data_source: one of :data:`DATA_SOURCES`.
        profile_name: defaults to :func:`ctm_course.profile.profile`.
        extra: further JSON-serialisable context (configuration, data sizes, ...), stored under ``"extra"``.
    """
    prof = profile_name or profile()
    if prof not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {prof!r}")
    if data_source not in DATA_SOURCES:
        raise ValueError(
            f"data_source must be one of {DATA_SOURCES}, got {data_source!r}"
        )
    missing = [m for m in REQUIRED_METRICS.get(lesson, ()) if m not in metrics]
    if missing:
        raise ValueError(f"lesson {lesson!r} must report the metrics {missing}")
    entry: dict[str, Any] = {
        "lesson": lesson,
        "profile": prof,
        "device": device_name(),
        "torch": torch.__version__,
        "data_source": data_source,
        "train_seconds": round(float(train_seconds), 2),
        "steps": int(steps),
        "commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "metrics": {k: _clean_metric(k, v) for k, v in metrics.items()},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        entry["gpu_peak_memory_gib"] = round(
            torch.cuda.max_memory_allocated() / 2**30, 3
        )
    quick = quick_mode()
    if quick:
        entry["quick"] = True
    if extra:
        entry["extra"] = dict(extra)
    path = record_path(lesson, prof, quick)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entry, indent=2) + "\n")
    return path


def load_all(root: Path | None = None) -> list[dict[str, Any]]:
    """Every recorded result under ``root`` (default :func:`results_dir`), sorted by lesson and profile."""
    root = root or results_dir()
    # one folder per profile; others (results/bench/) hold other kinds of measurement
    entries = [
        json.loads(p.read_text())
        for prof in PROFILES
        for p in sorted((root / prof).glob("*.json"))
    ]
    order = {p: i for i, p in enumerate(PROFILES)}
    return sorted(entries, key=lambda e: (e["lesson"], order.get(e["profile"], 9)))
