"""Certainty: one minus the normalised entropy of the prediction at a tick."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F


def normalized_entropy(logits: torch.Tensor) -> torch.Tensor:
    """H(softmax(logits)) / ln C over the last axis (C classes), averaged over any middle axes.

    (B, C) -> (B,);  (B, L, C) -> (B,) (mean over the L positions, as the reference does for parity).
    Uniform logits give 1, a one-hot-like prediction gives ~0.
    """
    log_p = F.log_softmax(logits, dim=-1)
    entropy = -(log_p.exp() * log_p).sum(-1)
    ne = entropy / math.log(logits.shape[-1])
    return ne.flatten(1).mean(-1) if ne.dim() > 1 else ne


def certainty(logits: torch.Tensor, reshaper: Sequence[int] = (-1,)) -> torch.Tensor:
    """(B, out_dims) logits -> (B, 2) ``[normalised entropy, certainty = 1 - normalised entropy]``.

    ``reshaper`` groups the logits before the softmax: ``(-1,)`` for one classification, ``(L, 2)``
    for L binary decisions (parity).
    """
    ne = normalized_entropy(logits.reshape(logits.shape[0], *reshaper))
    return torch.stack((ne, 1 - ne), -1)
