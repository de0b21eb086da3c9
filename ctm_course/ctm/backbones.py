"""Backbones turn the input into the tokens the CTM attends to, and positional embeddings tag them.

Every backbone maps its input to a feature map (B, C, *spatial); the CTM flattens the spatial axes
into N tokens and projects them to ``d_input`` (``kv_proj``).
"""

from __future__ import annotations

import torch
from torch import nn

BACKBONE_TYPES = ("none", "tutorial-conv", "parity_backbone")
POSITIONAL_EMBEDDING_TYPES = ("none", "custom-rotational-1d")


class TutorialConvBackbone(nn.Sequential):
    """The MNIST tutorial's backbone: two (conv3x3 -> BatchNorm -> ReLU -> maxpool 2) blocks.

    (B, in_channels, H, W) -> (B, d_input, H/4, W/4); a 28x28 digit becomes a 7x7 grid of 49 tokens.
    We max-pool *before* the ReLU: the values and gradients are the same (ReLU is monotonic, so it
    commutes with max) and the ReLU touches 4x fewer numbers. Parameter indices (0, 1, 4, 5) are the
    tutorial's. Weights and inputs are kept channels-last, which makes the convolutions faster on CPUs
    and GPUs and changes no value.
    """

    def __init__(self, in_channels: int, d_input: int):
        super().__init__(
            nn.Conv2d(in_channels, d_input, 3, padding=1),
            nn.BatchNorm2d(d_input),
            nn.MaxPool2d(2, 2),
            nn.ReLU(),
            nn.Conv2d(d_input, d_input, 3, padding=1),
            nn.BatchNorm2d(d_input),
            nn.MaxPool2d(2, 2),
            nn.ReLU(),
        )
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(
            x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
        )


class ParityBackbone(nn.Module):
    """A learned embedding of the sequence values: (B, L) with x == 1 or not -> (B, d, L)."""

    def __init__(self, n_embeddings: int, d_embedding: int):
        super().__init__()
        self.embedding = nn.Embedding(n_embeddings, d_embedding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding((x == 1).long()).transpose(1, 2)


class RotationalEmbedding1D(nn.Module):
    """1-D rotational positional embedding: position l of L gets R(pi*l/(L-1)) @ (0, 1) = (-sin, cos),
    linearly projected to d. (B, d, L) features -> (B, d, L) embeddings."""

    def __init__(self, d_model: int):
        super().__init__()
        self.projection = nn.Linear(2, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = torch.deg2rad(torch.linspace(0, 180, x.size(2), device=x.device))
        rotated = torch.stack([-torch.sin(theta), torch.cos(theta)], dim=1)  # (L, 2)
        return self.projection(rotated).T.unsqueeze(0).expand(x.size(0), -1, -1)


class NoPositionalEmbedding(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor | float:
        return 0.0


def make_backbone(backbone_type: str, d_input: int, in_channels: int) -> nn.Module:
    if backbone_type == "tutorial-conv":
        return TutorialConvBackbone(in_channels, d_input)
    if backbone_type == "parity_backbone":
        return ParityBackbone(2, d_input)
    return nn.Identity()


def make_positional_embedding(kind: str, d_features: int) -> nn.Module:
    return (
        RotationalEmbedding1D(d_features)
        if kind == "custom-rotational-1d"
        else NoPositionalEmbedding()
    )
