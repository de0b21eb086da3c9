"""Parity models: the CTM's arguments for the task, and the LSTM baseline matched to its parameter count."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..ctm.backbones import ParityBackbone, RotationalEmbedding1D
from ..ctm.certainty import certainty


def parity_model_args(length: int, **model: Any) -> dict[str, Any]:
    """``ContinuousThoughtMachine`` arguments for parity of ``length``: the parity backbone, the 1-D
    rotational positional embedding, ``out_dims = 2L`` and ``prediction_reshaper = [L, 2]``, plus ``model``."""
    if length < 2:
        raise ValueError(f"length must be >= 2, got {length}")
    return {
        **model,
        "backbone_type": "parity_backbone",
        "positional_embedding_type": "custom-rotational-1d",
        "out_dims": 2 * length,
        "prediction_reshaper": [length, 2],
    }


class ParityLSTM(nn.Module):
    """An LSTM that thinks in ticks, with the CTM's input pipeline (the paper's LSTM baseline).

    Tokens are made exactly as in the CTM: the ±1 values are embedded (``backbone``), the 1-D
    rotational positional embedding is added and ``kv_proj`` (Linear + LayerNorm) projects them.
    At each of T ticks the query is ``q_proj(h^{t-1})``, attention reads the tokens, and the
    attention output is the LSTM cell's input: ``h^t, c^t = LSTMCell(o^t, (h^{t-1}, c^{t-1}))``;
    ``output_projector(h^t)`` gives the logits. Start states ``h^0``, ``c^0`` are learned.

    ``forward(x (B, L))`` returns ``(predictions (B, 2L, T), certainties (B, 2, T), h^T (B, hidden))``;
    with ``track=True`` the third item is the attention (T, B, heads, 1, L) instead.
    """

    def __init__(
        self, length: int, hidden_size: int, iterations: int, d_input: int, heads: int
    ):
        super().__init__()
        for name, value in (
            ("length", length),
            ("hidden_size", hidden_size),
            ("iterations", iterations),
            ("d_input", d_input),
            ("heads", heads),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if d_input % heads:
            raise ValueError(f"heads must divide d_input={d_input}, got heads={heads}")
        self.length, self.hidden_size, self.iterations, self.heads = (
            length,
            hidden_size,
            iterations,
            heads,
        )
        self.prediction_reshaper = [length, 2]
        self.backbone = ParityBackbone(2, d_input)
        self.positional_embedding = RotationalEmbedding1D(d_input)
        self.kv_proj = nn.Sequential(nn.Linear(d_input, d_input), nn.LayerNorm(d_input))
        self.q_proj = nn.Linear(hidden_size, d_input)
        self.attention = nn.MultiheadAttention(d_input, heads, batch_first=True)
        self.lstm = nn.LSTMCell(d_input, hidden_size)
        bound = math.sqrt(1 / hidden_size)
        self.start_hidden_state = nn.Parameter(
            torch.empty(hidden_size).uniform_(-bound, bound)
        )
        self.start_cell_state = nn.Parameter(
            torch.empty(hidden_size).uniform_(-bound, bound)
        )
        self.output_projector = nn.Linear(hidden_size, 2 * length)

    def compute_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L) ±1 -> tokens (B, L, d_input), as the CTM makes them."""
        if x.dim() != 2 or x.shape[1] != self.length:
            raise ValueError(f"x must be (B, {self.length}), got {tuple(x.shape)}")
        features = self.backbone(x)
        features = features + self.positional_embedding(features)
        return self.kv_proj(features.transpose(1, 2))

    def forward(self, x: torch.Tensor, track: bool = False):
        kv = self.compute_features(x)
        B = kv.shape[0]
        h = self.start_hidden_state.expand(B, -1)
        c = self.start_cell_state.expand(B, -1)
        predictions, certainties, attention = [], [], []
        for _ in range(self.iterations):
            o, w = self.attention(
                self.q_proj(h).unsqueeze(1),
                kv,
                kv,
                need_weights=track,
                average_attn_weights=False,
            )
            h, c = self.lstm(o.squeeze(1), (h, c))
            y = self.output_projector(h)
            predictions.append(y)
            certainties.append(certainty(y, self.prediction_reshaper))
            if track:
                attention.append(w.detach().float().cpu())  # (B, heads, 1, L)
        predictions = torch.stack(predictions, -1).float()
        certainties = torch.stack(certainties, -1).float()
        return predictions, certainties, (torch.stack(attention) if track else h)


def lstm_parameter_count(
    length: int, hidden_size: int, d_input: int, heads: int
) -> int:
    """Parameters of a :class:`ParityLSTM` (any number of ticks), by formula."""
    h, d = hidden_size, d_input
    lstm = 4 * h * (d + h) + 8 * h
    return (
        2 * d
        + (2 * d + d)
        + (d * d + d + 2 * d)
        + (h * d + d)
        + (4 * d * d + 4 * d)
        + lstm
        + 2 * h
        + (h * 2 * length + 2 * length)
    )


def matched_lstm(
    n_parameters: int,
    length: int,
    iterations: int,
    d_input: int,
    heads: int,
    tolerance: float = 0.05,
) -> ParityLSTM:
    """The :class:`ParityLSTM` whose parameter count is closest to ``n_parameters``.

    Searches the hidden size (the count grows with it, so a bisection finds the best width).

    Raises:
        ValueError: when no width comes within ``tolerance`` (relative) of ``n_parameters``, e.g.
            because the fixed input pipeline alone is already larger.
    """
    if n_parameters < 1:
        raise ValueError(f"n_parameters must be >= 1, got {n_parameters}")
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance}")

    def count(h: int) -> int:
        return lstm_parameter_count(length, h, d_input, heads)

    lo, hi = 1, 2
    while count(hi) < n_parameters:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # count(lo) < n <= count(hi) (or lo == 1)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) < n_parameters else (lo, mid)
    best = min((lo, hi), key=lambda h: abs(count(h) - n_parameters))
    if abs(count(best) - n_parameters) > tolerance * n_parameters:
        raise ValueError(
            f"no LSTM width has {n_parameters:,} parameters within {tolerance:.0%}: the closest, "
            f"hidden_size={best}, has {count(best):,}"
        )
    return ParityLSTM(length, best, iterations, d_input, heads)
