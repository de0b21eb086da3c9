"""A feed-forward baseline for lesson 1: the CTM's own backbone, then a one-hidden-layer MLP.

What does a CTM's accuracy mean? Beside it stands a network that sees the same tokens once,
without ticks: the same convolutional backbone, its (d_input, 7, 7) output flattened, then
``Linear -> ReLU -> Linear``. :func:`matched_feedforward` picks the hidden width so that it has
as many parameters as the CTM it is compared with.
"""

from __future__ import annotations

import torch
from torch import nn

from .ctm.backbones import TutorialConvBackbone
from .parameters import count_parameters


class FeedForwardClassifier(nn.Module):
    """(B, 1, 28, 28) images -> (B, classes) logits, in one pass.

    Args:
        d_input: channels of the backbone's output (the CTM's ``d_input``).
        hidden: width of the MLP's hidden layer.
        classes: number of classes.
        grid: side of the backbone's output grid (7 for 28x28 digits).
    """

    def __init__(self, d_input: int, hidden: int, classes: int = 10, grid: int = 7):
        super().__init__()
        if min(d_input, hidden, classes, grid) < 1:
            raise ValueError(
                f"d_input, hidden, classes and grid must be >= 1, got "
                f"{d_input}, {hidden}, {classes}, {grid}"
            )
        self.backbone = TutorialConvBackbone(1, d_input)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(d_input * grid * grid, hidden),
            nn.ReLU(),
            nn.Linear(hidden, classes),
        )
        self.hidden = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"expected (B, 1, H, W) images, got {tuple(x.shape)}")
        return self.head(self.backbone(x))


def matched_feedforward(
    n_params: int, d_input: int, classes: int = 10, grid: int = 7
) -> FeedForwardClassifier:
    """The :class:`FeedForwardClassifier` whose parameter count is closest to ``n_params``."""
    fixed = count_parameters(FeedForwardClassifier(d_input, 1, classes, grid))
    per_unit = d_input * grid * grid + 1 + classes  # one hidden unit's weights and bias
    hidden = max(1, round((n_params - fixed) / per_unit) + 1)
    return FeedForwardClassifier(d_input, hidden, classes, grid)
