"""The parity task of lesson 2: data, accuracies, the attention-order analysis and an LSTM baseline.

A sequence ``x`` of L values in {-1, +1} is shown to the model all at once; at every position l
the model must say whether the prefix ``x_0 .. x_l`` holds an odd number of -1s:

    y_l = #{m <= l : x_m = -1} mod 2        (1 = odd = the product of the prefix is -1)

exactly as the reference ``ParityDataset`` defines it. A model answers with logits
``(B, 2L, T)`` (two classes per position, at each of T internal ticks), read as ``(B, L, 2, T)``.

- :func:`parity_targets`, :class:`ParityBatches` (fresh random sequences, resumable),
  :func:`parity_test_set` (a fixed, seeded test set);
- :func:`parity_predictions`, :func:`parity_accuracy`, :func:`parity_accuracy_per_tick`,
  :func:`accuracy_per_position`, :func:`evaluate_parity`;
- :func:`attention_order`: which position the model looks at, tick by tick;
- :class:`ParityLSTM` and :func:`matched_lstm`: an LSTM with the CTM's input pipeline and ticks,
  its width chosen so that it has (within 5%) as many parameters as the CTM.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .ctm.backbones import ParityBackbone, RotationalEmbedding1D
from .ctm.certainty import certainty
from .parameters import count_parameters

__all__ = ["ParityBatches", "ParityLSTM", "accuracy_per_position", "attention_order", "count_parameters",
           "evaluate_parity", "lstm_parameter_count", "matched_lstm", "parity_accuracy", "parity_accuracy_per_tick",
           "parity_model_args", "parity_predictions", "parity_targets", "parity_test_set", "random_sequences"]


# ----------------------------------------------------------------------------------------- data
def parity_targets(x: torch.Tensor) -> torch.Tensor:
    """Cumulative parity of ±1 sequences: (B, L) or (L,) values -> same shape, int64 in {0, 1}.

    ``y_l = (number of -1 among x_0..x_l) mod 2``; e.g. ``[1, 1, -1, -1, 1] -> [0, 0, 1, 0, 0]``.

    Raises:
        ValueError: when ``x`` is not 1-D or 2-D or holds values other than -1 and +1.
    """
    if x.dim() not in (1, 2):
        raise ValueError(f"x must be (L,) or (B, L), got shape {tuple(x.shape)}")
    if not bool(((x == 1) | (x == -1)).all()):
        raise ValueError("x must contain only -1 and +1")
    return torch.cumsum((x == -1).long(), dim=-1) % 2


def random_sequences(n: int, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` uniform random ±1 sequences of ``length``: (n, length) float32."""
    if n < 1 or length < 1:
        raise ValueError(f"n and length must be >= 1, got n={n}, length={length}")
    bits = torch.randint(0, 2, (n, length), generator=generator)
    return (2 * bits - 1).float()


def _batch_seed(seed: int, index: int) -> int:
    """A distinct 63-bit seed for every (seed, batch index) pair."""
    return (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) % (1 << 63)


class ParityBatches:
    """Endless batches of fresh random parity problems, resumable from a checkpoint.

    Batch ``k`` is drawn from a ``torch.Generator`` seeded with a function of ``(seed, k)``, so
    the whole stream is fixed by ``seed`` and the state is one integer: a run resumed with
    :meth:`load_state_dict` sees exactly the batches it would have seen without interruption.
    This is the ``InfiniteBatches`` protocol that :func:`ctm_course.train.fit` expects.

    Args:
        length: sequence length L.
        batch_size: sequences per batch B.
        seed: fixes the stream (use another seed than the test set's).
        device: where to put each batch.

    Yields:
        ``(x (B, L) float32 in {-1, +1}, y (B, L) int64 in {0, 1})``.
    """

    def __init__(self, length: int, batch_size: int, seed: int = 0, device: torch.device | str | None = None):
        if length < 1:
            raise ValueError(f"ParityBatches: length must be >= 1, got {length}")
        if batch_size < 1:
            raise ValueError(f"ParityBatches: batch_size must be >= 1, got {batch_size}")
        self.length, self.batch_size, self.seed, self.device = length, batch_size, seed, device
        self.position = 0  # index of the next batch

    def __iter__(self) -> "ParityBatches":
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(_batch_seed(self.seed, self.position))
        self.position += 1
        x = random_sequences(self.batch_size, self.length, g)
        y = parity_targets(x)
        if self.device is not None:
            x, y = x.to(self.device), y.to(self.device)
        return x, y

    def state_dict(self) -> dict[str, int]:
        """``position`` (batches drawn so far) and the settings that fix the stream."""
        return {"position": self.position, "seed": self.seed, "batch_size": self.batch_size, "length": self.length}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Continue from a :meth:`state_dict`.

        Raises:
            ValueError: the state belongs to a stream with another seed, batch size or length.
        """
        for key in ("seed", "batch_size", "length"):
            if key in state and int(state[key]) != getattr(self, key):
                raise ValueError(f"ParityBatches.load_state_dict: saved {key}={state[key]!r} differs from this "
                                 f"stream's {getattr(self, key)!r}; the batches would not continue")
        position = int(state["position"])
        if position < 0:
            raise ValueError(f"ParityBatches.load_state_dict: position must be >= 0, got {position}")
        self.position = position


def parity_test_set(n: int, length: int, seed: int = 12345) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed test set: ``n`` random sequences from a seeded generator -> (x (n, L), y (n, L)).

    (The reference draws a fresh "test" set each evaluation; a fixed one makes runs comparable.)
    """
    x = random_sequences(n, length, torch.Generator().manual_seed(seed))
    return x, parity_targets(x)


# -------------------------------------------------------------------------------------- metrics
def _check_outputs(predictions: torch.Tensor, targets: torch.Tensor) -> tuple[int, int, int]:
    if predictions.dim() != 3 or targets.dim() != 2:
        raise ValueError(f"expected predictions (B, 2L, T) and targets (B, L), got {tuple(predictions.shape)} and "
                         f"{tuple(targets.shape)}")
    B, out, T = predictions.shape
    if targets.shape[0] != B or out != 2 * targets.shape[1]:
        raise ValueError(f"predictions (B, 2L, T) = {tuple(predictions.shape)} do not fit targets (B, L) = "
                         f"{tuple(targets.shape)}")
    return B, targets.shape[1], T


def parity_predictions(predictions: torch.Tensor) -> torch.Tensor:
    """(B, 2L, T) logits -> (B, L, T) predicted parity (argmax of each position's two logits)."""
    if predictions.dim() != 3 or predictions.shape[1] % 2:
        raise ValueError(f"predictions must be (B, 2L, T), got {tuple(predictions.shape)}")
    B, out, T = predictions.shape
    return predictions.reshape(B, out // 2, 2, T).argmax(2)


def _most_certain(certainties: torch.Tensor) -> torch.Tensor:
    if certainties.dim() != 3 or certainties.shape[1] != 2:
        raise ValueError(f"certainties must be (B, 2, T), got {tuple(certainties.shape)}")
    return certainties[:, 1].argmax(-1)


def parity_correct_at(predictions: torch.Tensor, targets: torch.Tensor, ticks: torch.Tensor) -> torch.Tensor:
    """(B, 2L, T) logits, (B, L) parities, (B,) ticks -> (B, L) bool: each position right at its sequence's tick.

    No checks and no host synchronisation, so a CUDA-graphed train step can report it.
    """
    read = parity_predictions(predictions)[torch.arange(predictions.shape[0], device=predictions.device), :, ticks]
    return read == targets.to(read.device)


def parity_accuracy(predictions: torch.Tensor, targets: torch.Tensor, certainties: torch.Tensor | None = None,
                    ticks: torch.Tensor | None = None) -> dict[str, float]:
    """Per-position and whole-sequence accuracy, each sequence read at one tick.

    Args:
        predictions: (B, 2L, T) logits.
        targets: (B, L) parities.
        certainties: (B, 2, T); each sequence is read at its most certain tick (the default).
        ticks: (B,) ticks to read instead (e.g. all ``T - 1`` for the last tick).

    Returns:
        ``{"per_position": fraction of correct positions, "sequence": fraction of sequences with all
        L positions correct}``.
    """
    B, L, T = _check_outputs(predictions, targets)
    if ticks is None:
        if certainties is None:
            raise ValueError("give certainties (B, 2, T) or ticks (B,)")
        ticks = _most_certain(certainties)
    ticks = ticks.to(predictions.device)
    if ticks.shape != (B,) or bool((ticks < 0).any()) or bool((ticks >= T).any()):
        raise ValueError(f"ticks must be (B,) = ({B},) with values in 0..{T - 1}")
    correct = parity_correct_at(predictions, targets, ticks)
    return {"per_position": correct.float().mean().item(), "sequence": correct.all(1).float().mean().item()}


def parity_accuracy_per_tick(predictions: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2L, T), (B, L) -> per-position accuracy (T,) and whole-sequence accuracy (T,) at every tick."""
    _check_outputs(predictions, targets)
    correct = parity_predictions(predictions) == targets.to(predictions.device).unsqueeze(-1)  # (B, L, T)
    return correct.float().mean((0, 1)), correct.all(1).float().mean(0)


def accuracy_per_position(predictions: torch.Tensor, targets: torch.Tensor, certainties: torch.Tensor) -> torch.Tensor:
    """(B, 2L, T), (B, L), (B, 2, T) -> (L,) accuracy of each position at the most certain tick."""
    B, L, T = _check_outputs(predictions, targets)
    ticks = _most_certain(certainties).to(predictions.device)
    read = parity_predictions(predictions)[torch.arange(B, device=predictions.device), :, ticks]
    return (read == targets.to(read.device)).float().mean(0)


@torch.no_grad()
def evaluate_parity(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000,
                    device: torch.device | str | None = None) -> dict[str, Any]:
    """Run ``model`` over a test set (x (N, L), y (N, L)); return its outputs and accuracies.

    Returns a dict with ``predictions`` (N, 2L, T) and ``certainties`` (N, 2, T) (on the CPU),
    ``per_position`` and ``sequence`` (floats, most certain tick), ``per_position_per_tick`` and
    ``sequence_per_tick`` ((T,) tensors) and ``by_position`` ((L,) tensor).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs = [model(x[i:i + batch_size].to(device))[:2] for i in range(0, len(x), batch_size)]
    model.train(was_training)
    predictions = torch.cat([p.float().cpu() for p, _ in outputs])
    certainties = torch.cat([c.float().cpu() for _, c in outputs])
    accuracy = parity_accuracy(predictions, y, certainties)
    per_tick, sequence_per_tick = parity_accuracy_per_tick(predictions, y)
    return {"predictions": predictions, "certainties": certainties, **accuracy,
            "per_position_per_tick": per_tick, "sequence_per_tick": sequence_per_tick,
            "by_position": accuracy_per_position(predictions, y, certainties)}


# ------------------------------------------------------------------------------ attention order
def attention_order(attention: torch.Tensor) -> dict[str, Any]:
    """Where the model looks, tick by tick: the argmax of the attention (mean over heads).

    Args:
        attention: (T, B, heads, 1, N) attention weights, as in ``CTMTrack.attention``.

    Returns:
        ``position`` (T, B) the most attended position per tick and sequence; ``mean_position``
        (T,) its mean over sequences; ``correlation`` (B,) Pearson correlation between tick and
        attended position per sequence (0 where the position never moves); ``mean_correlation``;
        ``forward_fraction`` and ``reverse_fraction``: the share of sequences with correlation
        above 0.5 or below -0.5; ``strategy``: ``"forward"``, ``"reverse"`` or ``"mixed"``
        (neither order holds for at least half of the sequences).
    """
    if attention.dim() != 5 or attention.shape[3] != 1:
        raise ValueError(f"attention must be (T, B, heads, 1, N), got {tuple(attention.shape)}")
    T = attention.shape[0]
    if T < 2:
        raise ValueError("attention_order needs at least 2 ticks")
    position = attention.float().mean(2)[:, :, 0].argmax(-1)  # (T, B)
    p = position.float() - position.float().mean(0)
    t = torch.arange(T, dtype=torch.float32).unsqueeze(1) - (T - 1) / 2
    denominator = (p.pow(2).sum(0) * t.pow(2).sum(0)).sqrt()
    correlation = torch.where(denominator > 0, (p * t).sum(0) / denominator.clamp_min(1e-12), torch.zeros(()))
    forward = (correlation > 0.5).float().mean().item()
    reverse = (correlation < -0.5).float().mean().item()
    strategy = "forward" if forward >= 0.5 else "reverse" if reverse >= 0.5 else "mixed"
    return {"position": position, "mean_position": position.float().mean(1), "correlation": correlation,
            "mean_correlation": correlation.mean().item(), "forward_fraction": forward,
            "reverse_fraction": reverse, "strategy": strategy}


# ----------------------------------------------------------------------------------- the models
def parity_model_args(length: int, **model: Any) -> dict[str, Any]:
    """``ContinuousThoughtMachine`` arguments for parity of ``length``: the parity backbone, the 1-D
    rotational positional embedding, ``out_dims = 2L`` and ``prediction_reshaper = [L, 2]``, plus ``model``."""
    if length < 2:
        raise ValueError(f"length must be >= 2, got {length}")
    return {**model, "backbone_type": "parity_backbone", "positional_embedding_type": "custom-rotational-1d",
            "out_dims": 2 * length, "prediction_reshaper": [length, 2]}


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

    def __init__(self, length: int, hidden_size: int, iterations: int, d_input: int, heads: int):
        super().__init__()
        for name, value in (("length", length), ("hidden_size", hidden_size), ("iterations", iterations),
                            ("d_input", d_input), ("heads", heads)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if d_input % heads:
            raise ValueError(f"heads must divide d_input={d_input}, got heads={heads}")
        self.length, self.hidden_size, self.iterations, self.heads = length, hidden_size, iterations, heads
        self.prediction_reshaper = [length, 2]
        self.backbone = ParityBackbone(2, d_input)
        self.positional_embedding = RotationalEmbedding1D(d_input)
        self.kv_proj = nn.Sequential(nn.Linear(d_input, d_input), nn.LayerNorm(d_input))
        self.q_proj = nn.Linear(hidden_size, d_input)
        self.attention = nn.MultiheadAttention(d_input, heads, batch_first=True)
        self.lstm = nn.LSTMCell(d_input, hidden_size)
        bound = math.sqrt(1 / hidden_size)
        self.start_hidden_state = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))
        self.start_cell_state = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))
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
            o, w = self.attention(self.q_proj(h).unsqueeze(1), kv, kv, need_weights=track,
                                  average_attn_weights=False)
            h, c = self.lstm(o.squeeze(1), (h, c))
            y = self.output_projector(h)
            predictions.append(y)
            certainties.append(certainty(y, self.prediction_reshaper))
            if track:
                attention.append(w.detach().float().cpu())  # (B, heads, 1, L)
        predictions = torch.stack(predictions, -1).float()
        certainties = torch.stack(certainties, -1).float()
        return predictions, certainties, (torch.stack(attention) if track else h)


def lstm_parameter_count(length: int, hidden_size: int, d_input: int, heads: int) -> int:
    """Parameters of a :class:`ParityLSTM` (any number of ticks), by formula."""
    h, d = hidden_size, d_input
    lstm = 4 * h * (d + h) + 8 * h
    return (2 * d + (2 * d + d) + (d * d + d + 2 * d) + (h * d + d) + (4 * d * d + 4 * d) + lstm + 2 * h
            + (h * 2 * length + 2 * length))


def matched_lstm(n_parameters: int, length: int, iterations: int, d_input: int, heads: int,
                 tolerance: float = 0.05) -> ParityLSTM:
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
        raise ValueError(f"no LSTM width has {n_parameters:,} parameters within {tolerance:.0%}: the closest, "
                         f"hidden_size={best}, has {count(best):,}")
    return ParityLSTM(length, best, iterations, d_input, heads)
