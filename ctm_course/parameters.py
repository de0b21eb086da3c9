"""The size of a model: how many trainable parameters it has (for parameter-matched comparisons)."""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (those with ``requires_grad``) of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["count_parameters"]
