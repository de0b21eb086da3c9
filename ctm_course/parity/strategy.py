"""Where a parity model looks, tick by tick: attention mass per head, and a test of reading order.

:func:`attention_mass` averages the attention over sequences into one (ticks x positions) map per
head. :func:`reading_order` asks whether the positions receive their peak attention in order
(forward or backward) and answers with Spearman's rho and a permutation p-value, so the verdict
can come out either way.
"""

from __future__ import annotations

from typing import Any

import torch


def attention_mass(attention: torch.Tensor) -> torch.Tensor:
    """Mean attention on each position, per head and tick, over the sequences.

    Args:
        attention: (T, B, heads, 1, N) attention weights, as in ``CTMTrack.attention``.

    Returns:
        (heads, T, N): ``mass[h, t, n]`` = mean over sequences of head h's weight on position n
        at tick t (each row sums to 1).
    """
    if attention.dim() != 5 or attention.shape[3] != 1:
        raise ValueError(
            f"attention must be (T, B, heads, 1, N), got {tuple(attention.shape)}"
        )
    return attention.float().mean(1)[:, :, 0].permute(1, 0, 2).contiguous()


def _ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 of a 1-D tensor, ties given their mean rank (as Spearman's rho needs)."""
    order = values.argsort(stable=True)
    ranks = torch.empty_like(values, dtype=torch.float64)
    ranks[order] = torch.arange(len(values), dtype=torch.float64)
    for v in values.unique():
        tied = values == v
        ranks[tied] = ranks[tied].mean()
    return ranks


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of ``a`` (n,) with each row of ``b`` (..., n); 0 where one is constant."""
    a, b = a - a.mean(), b - b.mean(-1, keepdim=True)
    denominator = (a.pow(2).sum() * b.pow(2).sum(-1)).sqrt()
    return torch.where(
        denominator > 0, (a * b).sum(-1) / denominator.clamp_min(1e-12), 0.0
    )


def reading_order(
    mass: torch.Tensor, permutations: int = 10_000, seed: int = 0
) -> dict[str, Any]:
    """Does attention reach the positions in order? A test that can come out either way.

    For each position n the *peak tick* is the tick at which it receives the most attention
    (``mass`` averaged over heads when it has a head axis). If the model reads the sequence
    forward, the peak tick grows with the position; backward, it falls. The statistic is
    Spearman's rho between position and peak tick, and the p-value (two-sided) is the share of
    ``permutations`` random relabellings of the positions whose |rho| is at least as large.

    Args:
        mass: (T, N) or (heads, T, N) attention mass, e.g. from :func:`attention_mass`.

    Returns:
        ``peak_tick`` (N,), ``rho``, ``p_value``, and ``verdict``: ``"forward"`` (rho > 0 and
        p < 0.01), ``"backward"`` (rho < 0 and p < 0.01) or ``"no order"``.
    """
    if mass.dim() == 3:
        mass = mass.mean(0)
    if mass.dim() != 2 or mass.shape[1] < 3:
        raise ValueError(
            f"mass must be (T, N) or (heads, T, N) with N >= 3, got {tuple(mass.shape)}"
        )
    peak = mass.argmax(0)  # (N,)
    position_ranks = _ranks(torch.arange(mass.shape[1], dtype=torch.float64))
    peak_ranks = _ranks(peak.double())
    rho = float(_pearson(position_ranks, peak_ranks))
    g = torch.Generator().manual_seed(seed)
    shuffled = torch.stack(
        [
            peak_ranks[torch.randperm(len(peak_ranks), generator=g)]
            for _ in range(permutations)
        ]
    )
    null = _pearson(position_ranks, shuffled)
    extreme = int((null.abs() >= abs(rho) - 1e-12).sum())
    p_value = (extreme + 1) / (permutations + 1)  # the observed labelling counts too
    significant = p_value < 0.01
    verdict = (
        "forward"
        if significant and rho > 0
        else "backward"
        if significant
        else "no order"
    )
    return {"peak_tick": peak, "rho": rho, "p_value": p_value, "verdict": verdict}
