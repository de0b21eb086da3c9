"""One training step on parity for :func:`ctm_course.train.fit`, shared by the lesson and the
script that trains the shipped model (``scripts/train_pretrained_parity.py``)."""

from __future__ import annotations

import torch
from torch import nn

from ..losses import parity_loss
from .evaluation import parity_correct_at


def parity_step(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``batch = (x (B, L), y (B, L))`` -> the certainty-based loss and the batch accuracy.

    The accuracy (per position, each sequence read at its most certain tick t2) stays a
    tensor, so that a CUDA-graphed step need not synchronise with the host.
    """
    x, y = batch
    predictions, certainties, _ = model(x)  # (B, 2L, T), (B, 2, T)
    loss, t2 = parity_loss(predictions, certainties, y)
    accuracy = parity_correct_at(predictions.detach(), y, t2).float().mean()
    return loss, {"accuracy": accuracy}
