"""The CTM's certainty-based loss: learn from the best tick and from the most certain tick.

Per sample b and tick t the cross-entropy L[b, t] is computed; then

    t1[b] = argmin_t L[b, t]          (the tick that was most right)
    t2[b] = argmax_t certainty[b, t]   (the tick that was most sure)
    loss  = (mean_b L[b, t1] + mean_b L[b, t2]) / 2.

Neither index is differentiated; on ties the first tick wins (as ``argmax``/``argmin`` do).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .metrics import most_certain_tick


def per_tick_cross_entropy(
    predictions: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """(B, C, T) logits, (B,) class indices -> (B, T) cross-entropy at every tick."""
    return F.cross_entropy(
        predictions,
        targets.unsqueeze(-1).expand(-1, predictions.shape[-1]),
        reduction="none",
    )


def two_tick_selection(
    losses: torch.Tensor, certainties: torch.Tensor, use_most_certain: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) per-tick losses and (B, 2, T) certainties -> (scalar loss, (B,) most-certain tick t2).

    With ``use_most_certain=False`` the second term uses the last tick instead of t2.
    """
    batch = torch.arange(losses.shape[0], device=losses.device)
    t1 = losses.argmin(dim=1)
    t2 = most_certain_tick(certainties)
    second = t2 if use_most_certain else torch.full_like(t2, losses.shape[1] - 1)
    return (losses[batch, t1].mean() + losses[batch, second].mean()) / 2, t2


def image_classification_loss(
    predictions: torch.Tensor,
    certainties: torch.Tensor,
    targets: torch.Tensor,
    use_most_certain: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Certainty-based loss for classification: (B, C, T), (B, 2, T), (B,) -> (loss, t2 (B,))."""
    if predictions.dim() != 3 or certainties.shape != (
        predictions.shape[0],
        2,
        predictions.shape[2],
    ):
        raise ValueError(
            f"expected predictions (B, C, T) and certainties (B, 2, T), got {tuple(predictions.shape)} "
            f"and {tuple(certainties.shape)}"
        )
    return two_tick_selection(
        per_tick_cross_entropy(predictions, targets), certainties, use_most_certain
    )


def parity_loss(
    predictions: torch.Tensor,
    certainties: torch.Tensor,
    targets: torch.Tensor,
    use_most_certain: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Certainty-based loss for L binary decisions: (B, 2L, T) logits, (B, 2, T), (B, L) targets.

    Logits are read as (B, L, 2, T); the cross-entropy is averaged over the L positions first, then
    one tick per sequence is selected by the two-tick rule.
    """
    B, _, T = predictions.shape
    L = targets.shape[1]
    logits = predictions.reshape(B, L, 2, T)
    losses = F.cross_entropy(
        logits.permute(0, 2, 1, 3),
        targets.unsqueeze(-1).expand(-1, -1, T),
        reduction="none",
    )
    return two_tick_selection(losses.mean(1), certainties, use_most_certain)
