"""Every lesson's sizes, per profile, in one place (see :func:`ctm_course.profile.profile`).

A lesson reads its row with ``lesson_config("01_ctm_mnist")`` and shows it to the reader.
``smoke`` proves the code runs end to end (tests, CI: < 90 s per lesson on 2 CPU cores);
``cpu`` is what the book shows when built without a GPU; ``gpu`` is the full lesson.
"""
from __future__ import annotations

import copy
from typing import Any

from .profile import PROFILES, profile

# Lesson 1: CTM on MNIST. `model` holds ContinuousThoughtMachine arguments.
_MNIST_MODEL = dict(d_model=128, n_synch_out=16, n_synch_action=16, synapse_depth=1, deep_nlms=True,
                    memory_hidden_dims=8, backbone_type="tutorial-conv", out_dims=10,
                    neuron_select_type="first-last", dropout=0.0)
MNIST = {
    "smoke": dict(model={**_MNIST_MODEL, "iterations": 6, "d_model": 64, "d_input": 16, "heads": 2,
                         "n_synch_out": 8, "n_synch_action": 8, "memory_length": 4, "memory_hidden_dims": 4},
                  steps=300, batch_size=64, lr=2e-3, warmup_steps=30, eval_every=150, max_shift=2,
                  train_images=2000, test_images=1000, checkpoint_every=150, ablation_steps=60),
    "cpu": dict(model={**_MNIST_MODEL, "iterations": 15, "d_input": 32, "heads": 2, "memory_length": 10},
                steps=3000, batch_size=64, lr=1e-3, warmup_steps=200, eval_every=1000, max_shift=2,
                train_images=None, test_images=None, checkpoint_every=500, ablation_steps=500),
    "gpu": dict(model={**_MNIST_MODEL, "iterations": 15, "d_input": 128, "heads": 2, "memory_length": 10},
                steps=6000, batch_size=256, lr=1e-3, warmup_steps=300, eval_every=1000, max_shift=2,
                train_images=None, test_images=None, checkpoint_every=500, ablation_steps=1500),
}

LESSONS: dict[str, dict[str, dict[str, Any]]] = {"01_ctm_mnist": MNIST}


def lesson_config(lesson: str, profile_name: str | None = None) -> dict[str, Any]:
    """A deep copy of ``lesson``'s settings for ``profile_name`` (default: the active profile)."""
    if lesson not in LESSONS:
        raise ValueError(f"unknown lesson {lesson!r}; known: {sorted(LESSONS)}")
    prof = profile_name or profile()
    if prof not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {prof!r}")
    return copy.deepcopy(LESSONS[lesson][prof])
