"""Accuracy per tick, at the most certain tick, and with certainty-based early exit (adaptive compute)."""

from __future__ import annotations

from typing import Sequence, TypeVar

import numpy as np
import torch

ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)


def accuracy_per_tick(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, C, T) logits, (B,) targets -> (T,) accuracy of the argmax at every tick."""
    return (predictions.argmax(1) == targets.unsqueeze(-1)).float().mean(0)


def correct_at(
    predictions: torch.Tensor, targets: torch.Tensor, ticks: torch.Tensor
) -> torch.Tensor:
    """Whether sample b is right at tick ``ticks[b]``: (B, C, T), (B,), (B,) -> (B,) bool.

    No host synchronisation, so a CUDA-graphed train step can report it.
    """
    batch = torch.arange(predictions.shape[0], device=predictions.device)
    return predictions.argmax(1)[batch, ticks] == targets


def accuracy_at(
    predictions: torch.Tensor, targets: torch.Tensor, ticks: torch.Tensor
) -> float:
    """Accuracy when sample b answers at tick ``ticks[b]``: (B, C, T), (B,), (B,) -> float."""
    return correct_at(predictions, targets, ticks).float().mean().item()


def most_certain_tick(certainties: ArrayT) -> ArrayT:
    """(B, 2, T) -> (B,) tick of highest certainty (first on ties): the one definition in the course.

    Also takes one example, (2, T) -> a 0-d index, or any leading axes (..., 2, T) -> (...); a torch
    tensor gives a tensor on its device, a NumPy array an array (``argmax`` returns the first maximum in
    both). Shapes are checked without reading values back, so a CUDA-graphed train step may call it.

    Raises:
        ValueError: ``certainties`` is not (..., 2, T).
    """
    if certainties.ndim < 2 or certainties.shape[-2] != 2:
        raise ValueError(
            f"certainties must be (B, 2, T) or (2, T), got shape {tuple(certainties.shape)}"
        )
    return certainties[..., 1, :].argmax(-1)


def early_exit_ticks(certainties: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, 2, T), threshold in [0, 1] -> (B,) first tick whose certainty reaches ``threshold``, else the last tick."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    reached = certainties[:, 1] >= threshold  # (B, T)
    last = certainties.shape[-1] - 1
    first = reached.float().argmax(-1)  # first True, or 0 when none
    return torch.where(reached.any(-1), first, torch.full_like(first, last))


def early_exit_curve(
    predictions: torch.Tensor,
    certainties: torch.Tensor,
    targets: torch.Tensor,
    thresholds: Sequence[float],
) -> dict[str, list[float]]:
    """Accuracy and mean ticks computed (a count, 1..T) when every sample stops once it is sure enough.

    A sample whose certainty reaches the threshold answers at that tick; one that never does runs
    all T ticks and answers at its most certain tick (exactly what the model does without early exit).
    """
    accuracy, mean_ticks = [], []
    for threshold in thresholds:
        ticks = early_exit_ticks(certainties, float(threshold))
        reached = (certainties[:, 1] >= threshold).any(-1)
        answer = torch.where(reached, ticks, most_certain_tick(certainties))
        accuracy.append(accuracy_at(predictions, targets, answer))
        mean_ticks.append((ticks + 1).float().mean().item())
    return {
        "threshold": [float(t) for t in thresholds],
        "accuracy": accuracy,
        "mean_ticks": mean_ticks,
    }


def cheapest_exit(
    curve: dict[str, list[float]], target_accuracy: float, tolerance: float = 0.002
) -> dict[str, float]:
    """The early-exit setting that uses the fewest ticks while matching ``target_accuracy`` (within ``tolerance``).

    ``curve`` comes from :func:`early_exit_curve`. When no threshold reaches the target, the most
    accurate setting is returned. Returns ``{"threshold", "accuracy", "mean_ticks"}``.
    """
    rows = list(zip(curve["threshold"], curve["accuracy"], curve["mean_ticks"]))
    if not rows:
        raise ValueError("the early-exit curve is empty")
    good = [r for r in rows if r[1] >= target_accuracy - tolerance]
    threshold, accuracy, mean_ticks = (
        min(good, key=lambda r: r[2]) if good else max(rows, key=lambda r: r[1])
    )
    return {"threshold": threshold, "accuracy": accuracy, "mean_ticks": mean_ticks}
