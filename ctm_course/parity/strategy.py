"""The attention-order analysis: which position a parity model looks at, tick by tick, and its strategy."""

from __future__ import annotations

from typing import Any

import torch


def attention_order(attention: torch.Tensor) -> dict[str, Any]:
    """Where the model looks, tick by tick: the argmax of the attention (mean over heads).

    Args:
        attention: (T, B, heads, 1, N) attention weights, as in ``CTMTrack.attention``.

    Returns:
        ``position`` (T, B) the most attended position per tick and sequence; ``mean_position``
        (T,) its mean over sequences; ``correlation`` (B,) Pearson correlation between tick and
        attended position per sequence (0 where the position never moves); ``mean_correlation``;
        ``forward_fraction`` and ``reverse_fraction``: the share of sequences with correlation
        above 0.5 or below -0.5; ``strategy``: ``"forward"``, ``"reverse"`` or ``"mixed"``
        (neither order holds for at least half of the sequences).
    """
    if attention.dim() != 5 or attention.shape[3] != 1:
        raise ValueError(
            f"attention must be (T, B, heads, 1, N), got {tuple(attention.shape)}"
        )
    T = attention.shape[0]
    if T < 2:
        raise ValueError("attention_order needs at least 2 ticks")
    position = attention.float().mean(2)[:, :, 0].argmax(-1)  # (T, B)
    p = position.float() - position.float().mean(0)
    t = torch.arange(T, dtype=torch.float32).unsqueeze(1) - (T - 1) / 2
    denominator = (p.pow(2).sum(0) * t.pow(2).sum(0)).sqrt()
    correlation = torch.where(
        denominator > 0, (p * t).sum(0) / denominator.clamp_min(1e-12), torch.zeros(())
    )
    forward = (correlation > 0.5).float().mean().item()
    reverse = (correlation < -0.5).float().mean().item()
    strategy = "forward" if forward >= 0.5 else "reverse" if reverse >= 0.5 else "mixed"
    return {
        "position": position,
        "mean_position": position.float().mean(1),
        "correlation": correlation,
        "mean_correlation": correlation.mean().item(),
        "forward_fraction": forward,
        "reverse_fraction": reverse,
        "strategy": strategy,
    }
