"""Synapses: the model that lets neurons talk to each other and to the attended input.

Input is ``concat[o^t, z^t]`` (attention output first, then the post-activations), output the new
pre-activations a^{t+1} (B, D).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def shallow_synapses(d_in: int, d_model: int, dropout: float) -> nn.Sequential:
    """Synapse depth 1: Dropout -> Linear(d_in -> 2D) -> GLU -> LayerNorm(D)."""
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(d_in, 2 * d_model),
        nn.GLU(),
        nn.LayerNorm(d_model),
    )


class SynapseUNet(nn.Module):
    """Synapse depth > 1: a U-Net of MLP blocks with widths ``int(linspace(D, 16, depth))`` and skip LayerNorms.

    (B, d_in) -> (B, D). Parameter names follow the reference (``first_projection``,
    ``down_projections``, ``up_projections``, ``skip_lns``).
    """

    def __init__(
        self,
        d_in: int,
        d_model: int,
        depth: int,
        minimum_width: int = 16,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.widths = [int(w) for w in np.linspace(d_model, minimum_width, depth)]
        w = self.widths
        self.first_projection = nn.Sequential(
            nn.Linear(d_in, w[0]), nn.LayerNorm(w[0]), nn.SiLU()
        )
        self.down_projections = nn.ModuleList(
            nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(w[i], w[i + 1]),
                nn.LayerNorm(w[i + 1]),
                nn.SiLU(),
            )
            for i in range(len(w) - 1)
        )
        self.up_projections = nn.ModuleList(
            nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(w[i + 1], w[i]),
                nn.LayerNorm(w[i]),
                nn.SiLU(),
            )
            for i in range(len(w) - 1)
        )
        self.skip_lns = nn.ModuleList(nn.LayerNorm(w[i]) for i in range(len(w) - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        downs = [self.first_projection(x)]
        for block in self.down_projections:
            downs.append(block(downs[-1]))
        up = downs[-1]
        for level in reversed(range(len(self.up_projections))):
            up = self.skip_lns[level](self.up_projections[level](up) + downs[level])
        return up


def make_synapses(d_in: int, d_model: int, depth: int, dropout: float) -> nn.Module:
    """Depth 1 -> :func:`shallow_synapses`; depth > 1 -> :class:`SynapseUNet`."""
    if depth == 1:
        return shallow_synapses(d_in, d_model, dropout)
    return SynapseUNet(d_in, d_model, depth, dropout=dropout)
