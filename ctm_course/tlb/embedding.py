"""From an image to tokens and chunks: a strided convolution per patch, learned positions, LayerNorm."""

from __future__ import annotations

import torch
from torch import nn


def patch_grid(image_size: int, patch_size: int) -> int:
    """Patches along one side, ``image_size / patch_size``; ``ValueError`` unless it divides."""
    if patch_size < 1 or image_size < patch_size or image_size % patch_size:
        raise ValueError(
            f"PatchEmbedding: image_size ({image_size}) must be a positive multiple of "
            f"patch_size ({patch_size})"
        )
    return image_size // patch_size


class PatchEmbedding(nn.Module):
    """Cut an image into ``patch_size`` squares and map each to a token of width ``embed_dim``.

    ``tokens = LayerNorm(Conv_{p x p, stride p}(image) + position)``, tokens in row-major order
    (left to right, then top to bottom), as in the Keras example.

    Args:
        image_size: side of the (square) input images; must be a multiple of ``patch_size``.
        patch_size: side of one patch in pixels.
        embed_dim: token width ``E``.
        in_channels: image channels (3 for CIFAR-10).
    """

    def __init__(
        self, image_size: int, patch_size: int, embed_dim: int, in_channels: int = 3
    ) -> None:
        super().__init__()
        self.image_size, self.patch_size = image_size, patch_size
        self.grid = patch_grid(image_size, patch_size)
        self.num_patches = self.grid**2
        self.proj = nn.Conv2d(
            in_channels, embed_dim, kernel_size=patch_size, stride=patch_size
        )
        # Keras init
        self.position = nn.Parameter(
            torch.empty(self.num_patches, embed_dim).uniform_(-0.05, 0.05)
        )
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, S, S)`` images -> ``(B, N, E)`` tokens, ``N = (S / patch_size)^2``."""
        if (
            images.ndim != 4
            or images.shape[-1] != self.image_size
            or images.shape[-2] != self.image_size
        ):
            raise ValueError(
                f"PatchEmbedding: expected images (B, C, {self.image_size}, {self.image_size}), got "
                f"{tuple(images.shape)}"
            )
        tokens = self.proj(images).flatten(2).transpose(1, 2)  # (B, N, E), row-major
        return self.norm(tokens + self.position)


def chunk(tokens: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``(B, N, E)`` tokens -> ``(B, N / K, K, E)`` chunks of ``K = chunk_size`` consecutive tokens."""
    b, n, e = tokens.shape
    if chunk_size < 1 or n % chunk_size:
        raise ValueError(
            f"chunk: chunk_size ({chunk_size}) must divide the number of patches ({n})"
        )
    return tokens.view(b, n // chunk_size, chunk_size, e)
