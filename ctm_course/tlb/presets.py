"""Ready-made TLB settings: the Keras example's recipe, and how a profile row becomes models.

A *run* is a dict with ``model`` (:class:`TemporalLatentBottleneck` arguments, including
``mode``) and ``train`` (batch size, epochs or steps, learning rate, schedule, resize, and
optionally ``max_seconds``, a wall-clock budget). The lesson's
profile rows (:data:`ctm_course.config.TLB`) hold one run per model: ``keras``, ``paper`` and
``vit`` (the ViT baseline takes the widths of the ``paper`` run's model and as many blocks).
"""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from ..train import TrainConfig, warmup_for
from .model import TemporalLatentBottleneck
from .vit import ViTBaseline, matched_vit

KERAS_MODEL: dict[str, Any] = dict(
    mode="keras",
    image_size=48,
    patch_size=4,
    embed_dim=64,
    chunk_size=8,
    r=2,
    num_layers=4,
    heads=1,
    mlp_ratio=4,
    dropout=0.2,
    attn_dropout=0.2,
    num_classes=10,
)
"""The Keras example's model (415,882 parameters; with ``mode="keras-tf"``, its first
revision's sharing, 364,810)."""
KERAS_TRAIN: dict[str, Any] = dict(
    train_images=40_000,
    batch_size=2048,
    epochs=30,
    lr=1e-4,
    weight_decay=1e-4,
    schedule="constant",
    warmup_steps=0,
    resize_to=52,
)
"""The Keras example's recipe: first 40,000 training images, AdamW 1e-4 / 1e-4, constant lr, 30 epochs,
train pipeline resize 52 + random crop 48 + flip, test pipeline resize 48."""
KERAS = {"model": KERAS_MODEL, "train": KERAS_TRAIN}
PRESETS = {"keras": KERAS}
KERAS_LOG: dict[str, float] = {
    "epochs": 30,
    "steps_per_epoch": 19,
    "accuracy": 0.5076,
    "loss": 1.3592,
    "val_accuracy": 0.4890,
    "val_loss": 1.3961,
}
"""The last epoch of the training log printed in the Keras example (its Keras 3 revision):
training accuracy and loss, and ``val_*`` on its validation split (the last 10,000 of the
50,000 training images, of which the first 8,192 are scored); it never scores the test set."""


def build(
    run: dict[str, Any], name: str = "", paper_model: dict[str, Any] | None = None
) -> nn.Module:
    """The model of one run: a :class:`TemporalLatentBottleneck`, or for ``name == "vit"`` a
    :class:`ViTBaseline` with the widths of ``paper_model`` and as many blocks as that TLB has."""
    if name == "vit":
        if paper_model is None:
            raise ValueError(
                "build: the vit run needs paper_model (the TLB whose size it matches)"
            )
        tlb = TemporalLatentBottleneck(**paper_model)
        return matched_vit(tlb.config, num_blocks=len(tlb.perceptual) + 1)
    return TemporalLatentBottleneck(**run["model"])


def steps_of(train: dict[str, Any], n_train: int) -> int:
    """Optimiser steps of a recipe: ``steps`` when given, else ``epochs * (n_train // batch_size)``."""
    if train.get("steps"):
        return int(train["steps"])
    return int(train["epochs"]) * max(1, n_train // int(train["batch_size"]))


def train_config(recipe: dict[str, Any], steps: int, **run: Any) -> TrainConfig:
    """The :class:`TrainConfig` of a ``train`` recipe for ``steps`` steps (with the course's warm-up rule,
    :func:`ctm_course.train.warmup_for`); ``run`` sets the run's own entries (``checkpoint_path``,
    ``seed``, ``progress``, ``eval_every``...) or overrides the recipe's."""
    settings = dict(
        steps=steps,
        lr=recipe["lr"],
        weight_decay=recipe["weight_decay"],
        warmup_steps=warmup_for(steps, recipe.get("warmup_steps", 0)),
        schedule=recipe.get("schedule", "constant"),
        grad_clip=recipe.get("grad_clip"),
        max_seconds=recipe.get("max_seconds"),
    )
    return TrainConfig(**{**settings, **run})


def with_overrides(run: dict[str, Any], **train: Any) -> dict[str, Any]:
    """A deep copy of ``run`` whose ``train`` entries are replaced by the non-``None`` ``train`` values."""
    out = copy.deepcopy(run)
    out["train"].update({k: v for k, v in train.items() if v is not None})
    if train.get("epochs") is not None:
        out["train"].pop("steps", None)
    return out


__all__ = [
    "KERAS",
    "KERAS_LOG",
    "KERAS_MODEL",
    "KERAS_TRAIN",
    "PRESETS",
    "ViTBaseline",
    "build",
    "steps_of",
    "train_config",
    "with_overrides",
]
