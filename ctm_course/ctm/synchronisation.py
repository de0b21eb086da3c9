"""Synchronisation: how strongly pairs of neurons fire together over the ticks so far.

For a selected pair p = (i, j) with decay r_p = exp(-d_p), d_p in [0, 15]:

    alpha_p <- r_p * alpha_p + z_i * z_j        beta_p <- r_p * beta_p + 1        S_p = alpha_p / sqrt(beta_p)

which unrolls to the closed form (see :func:`synchronisation_closed_form`)

    S_p^t = sum_tau r_p^(t - tau) z_i^tau z_j^tau / sqrt(sum_tau r_p^(t - tau)).

Only the selected pairs are ever computed (never the full D x D matrix Z Z^T).
"""

from __future__ import annotations

import numpy as np
import torch

SELECTION_TYPES = ("first-last", "random", "random-pairing")
# r >= exp(-15): a pair never forgets completely, and gradients stay finite
DECAY_MAX = 15.0


def synch_size(n_synch: int, neuron_select_type: str) -> int:
    """Length of a synchronisation vector: n pairs for random pairing, n(n+1)/2 otherwise."""
    return (
        n_synch
        if neuron_select_type == "random-pairing"
        else n_synch * (n_synch + 1) // 2
    )


def select_neurons(
    kind: str,
    neuron_select_type: str,
    d_model: int,
    n_synch: int,
    n_self: int = 0,
    generator: np.random.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Neuron indices (left, right), each (n_synch,) int64, for the ``out`` or ``action`` stream.

    ``first-last``: out uses neurons 0..n-1, action the last n; ``random``: two independent draws
    (with replacement, as the reference); ``random-pairing``: left drawn, right = left[:n_self] then
    fresh draws, so the first ``n_self`` pairs are self-pairs (i, i).
    """
    if neuron_select_type == "first-last":
        idx = (
            torch.arange(0, n_synch)
            if kind == "out"
            else torch.arange(d_model - n_synch, d_model)
        )
        return idx, idx.clone()
    rng = generator if generator is not None else np.random.default_rng()
    left = torch.from_numpy(rng.choice(d_model, size=n_synch)).long()
    if neuron_select_type == "random":
        right = torch.from_numpy(rng.choice(d_model, size=n_synch)).long()
    else:
        right = torch.cat(
            [
                left[:n_self],
                torch.from_numpy(rng.choice(d_model, size=n_synch - n_self)).long(),
            ]
        )
    return left, right


def pair_indices(
    left: torch.Tensor, right: torch.Tensor, neuron_select_type: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Neuron indices (i_p, j_p) of every pair p, each (S,).

    For ``first-last`` and ``random`` the pairs are the upper triangle (row-major, diagonal included)
    of the left x right outer product, in the reference's order; random pairing keeps the n pairs.
    """
    if neuron_select_type == "random-pairing":
        return left, right
    rows, cols = torch.triu_indices(len(left), len(right), device=left.device)
    return left[rows], right[cols]


def pair_products(z: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """z_i * z_j for every pair: z (B, D) -> (B, S). Indexing, not an (n x n) outer product."""
    return z[:, i] * z[:, j]


def synchronisation_step(
    z: torch.Tensor,
    alpha: torch.Tensor | float,
    beta: torch.Tensor | float,
    r: torch.Tensor,
    i: torch.Tensor,
    j: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One recurrent update. Start from alpha = beta = 0. Returns (S (B, S), alpha, beta)."""
    alpha = r * alpha + pair_products(z, i, j)
    beta = r * beta + 1.0
    return alpha / torch.sqrt(beta), alpha, beta


def synchronisation_closed_form(
    zs: torch.Tensor, decay: torch.Tensor, i: torch.Tensor, j: torch.Tensor
) -> torch.Tensor:
    """S at the last step of a history ``zs`` (K, B, D), by the explicit weighted sum. -> (B, S).

    Used to check the recurrence: S^t = sum_tau r^(t-tau) z_i^tau z_j^tau / sqrt(sum_tau r^(t-tau)).
    """
    r = torch.exp(-decay.clamp(0, DECAY_MAX))  # (S,)
    K = zs.shape[0]
    # t - tau for tau = 0..K-1
    ages = torch.arange(K - 1, -1, -1, dtype=zs.dtype, device=zs.device)
    weights = r.unsqueeze(0) ** ages.unsqueeze(1)  # (K, S)
    products = zs[:, :, i] * zs[:, :, j]  # (K, B, S)
    return (weights.unsqueeze(1) * products).sum(0) / torch.sqrt(weights.sum(0))
