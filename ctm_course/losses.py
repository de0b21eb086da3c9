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
    """Cross-entropy at every tick: ``(B, P, T)`` logits and class indices -> ``(B, T)``.

    ``targets (B,)``: one decision over ``C = P`` classes (an image's digit).
    ``targets (B, L)``: L decisions over ``C = P / L`` classes each (parity's L positions, C = 2);
    the logits are read as ``(B, L, C, T)`` and the cross-entropy is averaged over the L.
    """
    B, P, T = predictions.shape
    if targets.dim() == 1:
        return F.cross_entropy(
            predictions, targets.unsqueeze(-1).expand(-1, T), reduction="none"
        )
    L = targets.shape[1]
    if P % L:
        raise ValueError(
            f"{L} decisions need the {P} outputs to split into L equal groups of classes"
        )
    logits = predictions.reshape(B, L, P // L, T).transpose(1, 2)  # (B, C, L, T)
    losses = F.cross_entropy(
        logits, targets.unsqueeze(-1).expand(-1, -1, T), reduction="none"
    )
    return losses.mean(1)


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


def classification_loss(
    predictions: torch.Tensor,
    certainties: torch.Tensor,
    targets: torch.Tensor,
    use_most_certain: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Certainty-based loss for one or L class decisions per sample -> ``(loss, t2 (B,))``.

    ``predictions (B, P, T)`` logits, ``certainties (B, 2, T)``, ``targets (B,)`` or ``(B, L)``
    (see :func:`per_tick_cross_entropy`); then one tick per sample by the two-tick rule.
    """
    if predictions.dim() != 3 or certainties.shape != (
        predictions.shape[0],
        2,
        predictions.shape[2],
    ):
        raise ValueError(
            f"expected predictions (B, C, T) and certainties (B, 2, T), got "
            f"{tuple(predictions.shape)} and {tuple(certainties.shape)}"
        )
    if targets.shape[0] != predictions.shape[0] or targets.dim() not in (1, 2):
        raise ValueError(
            f"expected targets (B,) or (B, L) with B = {predictions.shape[0]}, got "
            f"{tuple(targets.shape)}"
        )
    return two_tick_selection(
        per_tick_cross_entropy(predictions, targets), certainties, use_most_certain
    )


# The reference implementation's names for the two uses: an image's class (lesson 1) and
# parity's L = 16 binary decisions (lesson 2).
image_classification_loss = classification_loss
parity_loss = classification_loss
