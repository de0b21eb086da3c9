"""The baseline without recurrence: a small Vision Transformer on all patches at once."""

from __future__ import annotations

import torch
from torch import nn

from .attention import AttentionBlock
from .embedding import PatchEmbedding


class ViTBaseline(nn.Module):
    """``depth`` self-attention blocks over all ``N`` patch tokens, then LayerNorm, mean pool, linear head.

    It uses the TLB's own :class:`PatchEmbedding` and :class:`AttentionBlock`, so that with
    ``depth`` equal to the TLB's number of blocks the two have (almost) the same parameters;
    see :func:`matched_vit`.
    """

    def __init__(
        self,
        image_size: int = 48,
        patch_size: int = 4,
        embed_dim: int = 64,
        depth: int = 7,
        heads: int = 1,
        mlp_ratio: int = 4,
        dropout: float = 0.2,
        attn_dropout: float = 0.2,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"ViTBaseline: depth must be >= 1, got {depth}")
        self.embed = PatchEmbedding(image_size, patch_size, embed_dim)
        self.blocks = nn.ModuleList(
            AttentionBlock(embed_dim, heads, mlp_ratio, dropout, attn_dropout)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S)`` -> logits ``(B, num_classes)``."""
        x = self.embed(images)
        for block in self.blocks:
            x, _ = block(x)
        return self.head(self.norm(x).mean(1))


def matched_vit(tlb_args: dict, num_blocks: int) -> ViTBaseline:
    """A :class:`ViTBaseline` with the TLB's widths and ``depth = num_blocks`` (the TLB's block count)."""
    keys = (
        "image_size",
        "patch_size",
        "embed_dim",
        "heads",
        "mlp_ratio",
        "dropout",
        "attn_dropout",
        "num_classes",
    )
    return ViTBaseline(
        depth=num_blocks, **{k: tlb_args[k] for k in keys if k in tlb_args}
    )
