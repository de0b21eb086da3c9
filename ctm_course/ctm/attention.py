"""The CTM's attention at every tick, with its keys and values projected once per input.

At tick t the CTM asks one question of the same tokens: a query q^t (B, d_input) against the
tokens (B, N, d_input). ``nn.MultiheadAttention(q^t, tokens, tokens)`` would project the tokens
to keys and values again at every tick although they never change; :func:`project_keys_values`
does it once per forward and :func:`attend` reuses them. Together they compute exactly
``attention(q.unsqueeze(1), tokens, tokens)`` with the module's own weights (tested), so a
reference state_dict loads unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def project_keys_values(
    attention: nn.MultiheadAttention, tokens: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values of ``tokens`` (B, N, d) for every head: (B, heads, N, d / heads) each."""
    B, N, d = tokens.shape
    heads = attention.num_heads
    _, w_k, w_v = attention.in_proj_weight.chunk(3)
    _, b_k, b_v = attention.in_proj_bias.chunk(3)
    k = F.linear(tokens, w_k, b_k).view(B, N, heads, d // heads).transpose(1, 2)
    v = F.linear(tokens, w_v, b_v).view(B, N, heads, d // heads).transpose(1, 2)
    return k, v


def attend(
    attention: nn.MultiheadAttention,
    query: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    need_weights: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One query per sample against projected keys and values.

    Args:
        query: (B, d) before the query projection.
        k, v: from :func:`project_keys_values`, (B, heads, N, d / heads).
        need_weights: also return the attention weights (B, heads, 1, N).

    Returns:
        the attention output (B, d) after ``out_proj``, and the weights or ``None``.
    """
    B, d = query.shape
    heads = attention.num_heads
    q = F.linear(query, attention.in_proj_weight[:d], attention.in_proj_bias[:d]).view(
        B, heads, 1, d // heads
    )
    p = attention.dropout if attention.training else 0.0
    # one query: plain matmuls beat the fused kernel on a CPU
    if need_weights or q.device.type == "cpu":
        weights = torch.softmax(
            q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1
        )
        out = F.dropout(weights, p) @ v if p > 0 else weights @ v
        weights = weights if need_weights else None
    else:  # the fused kernel on a GPU, no weights materialised
        weights, out = None, F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    return attention.out_proj(out.reshape(B, d)), weights
