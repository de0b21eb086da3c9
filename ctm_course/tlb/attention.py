"""The one building block of the TLB and of its ViT baseline: attention followed by a feed-forward net.

    x <- x + Attention(LN_q(x), LN_k(c), LN_v(c))     c = x (self-attention) or another stream (cross)
    x <- x + Dropout(W_2 GELU(W_1 LN(x)))

As in the Keras example, the query, key and value get **separate** LayerNorms (even for
self-attention), the residual adds the un-normalised query, dropout acts on the attention
probabilities and after the feed-forward net, and there is no dropout elsewhere.
:class:`Attention` is the example's ``BaseAttention``, :class:`FeedForward` its
``FeedForwardNetwork`` and :class:`AttentionBlock` its ``AttentionWithFFN``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import BlockConfig


class Attention(nn.Module):
    """Multi-head attention of ``x`` on a context, LayerNorms on query, key and value, residual."""

    def __init__(self, config: BlockConfig) -> None:
        super().__init__()
        dim = config.embed_dim
        self.heads, self.dropout = config.heads, config.attn_dropout
        self.norm_q, self.norm_k, self.norm_v = (
            nn.LayerNorm(dim),
            nn.LayerNorm(dim),
            nn.LayerNorm(dim),
        )
        self.q_proj, self.k_proj, self.v_proj = (
            nn.Linear(dim, dim),
            nn.Linear(dim, dim),
            nn.Linear(dim, dim),
        )
        self.out_proj = nn.Linear(dim, dim)

    # (B, L, E) -> (B, heads, L, E / heads)
    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, length, e = t.shape
        return t.view(b, length, self.heads, e // self.heads).transpose(1, 2)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, return_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x`` ``(B, Lq, E)`` attends to ``context`` ``(B, Lk, E)``.

        Returns:
            ``x`` plus the attention output ``(B, Lq, E)`` and, with ``return_attention``, the
            attention probabilities ``(B, heads, Lq, Lk)`` (else ``None``).
        """
        q = self._split(self.q_proj(self.norm_q(x)))
        k = self._split(self.k_proj(self.norm_k(context)))
        v = self._split(self.v_proj(self.norm_v(context)))
        p = self.dropout if self.training else 0.0
        weights = None
        if return_attention or p > 0:
            # dropout acts on the attention probabilities, as in Keras' MultiHeadAttention: the explicit form
            # (the fused kernel below serves evaluation; on an H100 both redraw masks at every CUDA-graph replay)
            weights = torch.softmax(
                (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1]), dim=-1
            )
            out = F.dropout(weights, p) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        x = x + self.out_proj(out.transpose(1, 2).flatten(2))
        return x, weights if return_attention else None


class FeedForward(nn.Module):
    """``x + Dropout(W_2 GELU(W_1 LN(x)))``, hidden width ``mlp_ratio * E``."""

    def __init__(self, config: BlockConfig) -> None:
        super().__init__()
        dim, hidden = config.embed_dim, config.mlp_ratio * config.embed_dim
        self.norm = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L, E)`` -> ``(B, L, E)``."""
        return x + self.dropout(self.fc2(F.gelu(self.fc1(self.norm(x)))))


class AttentionBlock(nn.Module):
    """:class:`Attention` of ``x`` on a context, then the residual :class:`FeedForward` net.

    Built from a :class:`~ctm_course.tlb.config.BlockConfig` (a TLB's or ViT's config serves:
    the block reads only its widths), or from its fields as keywords
    (``AttentionBlock(embed_dim=64, heads=1)``). With ``separate_cross_attention`` the block has
    a second attention, ``cross_attention``, for the calls that read another stream, and both
    share the feed-forward net: the Keras example's ``AttentionWithFFN`` with its
    ``fast_stream_attention`` and ``slow_stream_attention``.
    """

    def __init__(
        self,
        config: BlockConfig | None = None,
        *,
        separate_cross_attention: bool = False,
        **arguments: Any,
    ) -> None:
        super().__init__()
        c = BlockConfig.of(config, **arguments)
        self.attention = Attention(c)
        self.ffn = FeedForward(c)
        self.cross_attention = Attention(c) if separate_cross_attention else None

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x`` ``(B, Lq, E)`` attends to ``context`` ``(B, Lk, E)`` (default ``x`` itself).

        Returns:
            the updated ``x`` ``(B, Lq, E)`` and, with ``return_attention``, the attention
            probabilities ``(B, heads, Lq, Lk)`` (else ``None``).
        """
        attention = self.attention
        if context is None:
            context = x
        elif self.cross_attention is not None:  # another stream, its own weights
            attention = self.cross_attention
        x, weights = attention(x, context, return_attention)
        return self.ffn(x), weights
