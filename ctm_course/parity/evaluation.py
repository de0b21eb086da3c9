"""Reading a parity model's answers: predicted parities, accuracies per tick, per position and per sequence.

A model answers with logits ``(B, 2L, T)`` (two classes per position, at each of T internal ticks),
read as ``(B, L, 2, T)``; by default each sequence is read at its most certain tick.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..evaluate import predict
from ..metrics import most_certain_tick


def _check_outputs(
    predictions: torch.Tensor, targets: torch.Tensor
) -> tuple[int, int, int]:
    if predictions.dim() != 3 or targets.dim() != 2:
        raise ValueError(
            f"expected predictions (B, 2L, T) and targets (B, L), got {tuple(predictions.shape)} and "
            f"{tuple(targets.shape)}"
        )
    B, out, T = predictions.shape
    if targets.shape[0] != B or out != 2 * targets.shape[1]:
        raise ValueError(
            f"predictions (B, 2L, T) = {tuple(predictions.shape)} do not fit targets (B, L) = "
            f"{tuple(targets.shape)}"
        )
    return B, targets.shape[1], T


def parity_predictions(predictions: torch.Tensor) -> torch.Tensor:
    """(B, 2L, T) logits -> (B, L, T) predicted parity (argmax of each position's two logits)."""
    if predictions.dim() != 3 or predictions.shape[1] % 2:
        raise ValueError(
            f"predictions must be (B, 2L, T), got {tuple(predictions.shape)}"
        )
    B, out, T = predictions.shape
    return predictions.reshape(B, out // 2, 2, T).argmax(2)


def _most_certain(certainties: torch.Tensor) -> torch.Tensor:
    """(B, 2, T) -> (B,) most certain tick (:func:`ctm_course.metrics.most_certain_tick`), shape checked."""
    if certainties.dim() != 3 or certainties.shape[1] != 2:
        raise ValueError(
            f"certainties must be (B, 2, T), got {tuple(certainties.shape)}"
        )
    return most_certain_tick(certainties)


def parity_correct_at(
    predictions: torch.Tensor, targets: torch.Tensor, ticks: torch.Tensor
) -> torch.Tensor:
    """(B, 2L, T) logits, (B, L) parities, (B,) ticks -> (B, L) bool: each position right at its sequence's tick.

    No checks and no host synchronisation, so a CUDA-graphed train step can report it.
    """
    read = parity_predictions(predictions)[
        torch.arange(predictions.shape[0], device=predictions.device), :, ticks
    ]
    return read == targets.to(read.device)


def parity_accuracy(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    certainties: torch.Tensor | None = None,
    ticks: torch.Tensor | None = None,
) -> dict[str, float]:
    """Per-position and whole-sequence accuracy, each sequence read at one tick.

    Args:
        predictions: (B, 2L, T) logits.
        targets: (B, L) parities.
        certainties: (B, 2, T); each sequence is read at its most certain tick (the default).
        ticks: (B,) ticks to read instead (e.g. all ``T - 1`` for the last tick).

    Returns:
        ``{"per_position": fraction of correct positions, "sequence": fraction of sequences with all
        L positions correct}``.
    """
    B, L, T = _check_outputs(predictions, targets)
    if ticks is None:
        if certainties is None:
            raise ValueError("give certainties (B, 2, T) or ticks (B,)")
        ticks = _most_certain(certainties)
    ticks = ticks.to(predictions.device)
    if ticks.shape != (B,) or bool((ticks < 0).any()) or bool((ticks >= T).any()):
        raise ValueError(f"ticks must be (B,) = ({B},) with values in 0..{T - 1}")
    correct = parity_correct_at(predictions, targets, ticks)
    return {
        "per_position": correct.float().mean().item(),
        "sequence": correct.all(1).float().mean().item(),
    }


def parity_accuracy_per_tick(
    predictions: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2L, T), (B, L) -> per-position accuracy (T,) and whole-sequence accuracy (T,) at every tick."""
    _check_outputs(predictions, targets)
    # (B, L, T)
    correct = parity_predictions(predictions) == targets.to(
        predictions.device
    ).unsqueeze(-1)
    return correct.float().mean((0, 1)), correct.all(1).float().mean(0)


def accuracy_per_position(
    predictions: torch.Tensor, targets: torch.Tensor, certainties: torch.Tensor
) -> torch.Tensor:
    """(B, 2L, T), (B, L), (B, 2, T) -> (L,) accuracy of each position at the most certain tick."""
    _check_outputs(predictions, targets)
    ticks = _most_certain(certainties).to(predictions.device)
    return parity_correct_at(predictions, targets, ticks).float().mean(0)


def evaluate_parity(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1000,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """Run ``model`` over a test set (x (N, L), y (N, L)); return its outputs and accuracies.

    The model runs in eval mode without gradients, ``batch_size`` sequences at a time
    (:func:`ctm_course.evaluate.predict`). Returns a dict with ``predictions`` (N, 2L, T) and
    ``certainties`` (N, 2, T) (on the CPU), ``per_position`` and ``sequence`` (floats, most certain
    tick), ``per_position_per_tick`` and ``sequence_per_tick`` ((T,) tensors) and ``by_position``
    ((L,) tensor).
    """
    predictions, certainties = predict(model, x, batch_size, device)
    accuracy = parity_accuracy(predictions, y, certainties)
    per_tick, sequence_per_tick = parity_accuracy_per_tick(predictions, y)
    return {
        "predictions": predictions,
        "certainties": certainties,
        **accuracy,
        "per_position_per_tick": per_tick,
        "sequence_per_tick": sequence_per_tick,
        "by_position": accuracy_per_position(predictions, y, certainties),
    }
