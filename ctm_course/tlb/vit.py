"""The baseline without recurrence: a small Vision Transformer on all patches at once."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .attention import AttentionBlock
from .config import TransformerConfig, ViTConfig
from .embedding import PatchEmbedding


class ViTBaseline(nn.Module):
    """``depth`` self-attention blocks over all ``N`` patch tokens, then LayerNorm, mean pool, linear head.

    It uses the TLB's own :class:`PatchEmbedding` and :class:`AttentionBlock`, so that with
    ``depth`` equal to the TLB's number of blocks the two have (almost) the same parameters;
    see :func:`matched_vit`. Built from a :class:`~ctm_course.tlb.config.ViTConfig` or from its
    fields as keywords.
    """

    def __init__(self, config: ViTConfig | None = None, **arguments: Any) -> None:
        super().__init__()
        self.config = c = ViTConfig.of(config, **arguments)
        self.embed = PatchEmbedding(c.image_size, c.patch_size, c.embed_dim)
        self.blocks = nn.ModuleList(AttentionBlock(c) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.embed_dim)
        self.head = nn.Linear(c.embed_dim, c.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S)`` -> logits ``(B, num_classes)``."""
        x = self.embed(images)
        for block in self.blocks:
            x, _ = block(x)
        return self.head(self.norm(x).mean(1))


def matched_vit(tlb: TransformerConfig, num_blocks: int) -> ViTBaseline:
    """A :class:`ViTBaseline` with the widths of ``tlb`` (a TLB's config) and ``depth = num_blocks``."""
    return ViTBaseline(ViTConfig(**tlb.shared(), depth=num_blocks))
