"""The per-tick record a CTM returns with ``track=True``."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from ..metrics import most_certain_tick


@dataclass
class CTMTrack:
    """Everything the CTM computed, tick by tick, for one batch (detached, on the CPU, float32).

    Shapes use B = batch, T = ticks, D = neurons (``d_model``), N = attended tokens, C = ``out_dims``.

    Attributes:
        predictions: (B, C, T) logits at every tick.
        certainties: (B, 2, T) ``[normalised entropy, 1 - normalised entropy]`` at every tick.
        pre_activations: (T, B, D) synapse outputs a^t (newest column of the trace).
        post_activations: (T, B, D) neuron-level-model outputs z^t.
        attention: (T, B, heads, 1, N) attention weights of the single query over the N tokens.
        synch_out: (T, B, S_out) output synchronisation S_out^t.
        synch_action: (T, B, S_action) action synchronisation S_action^t (the attention query's source).
        token_grid: (H, W) of the backbone's feature map when the tokens came from an image, else None;
            ``attention[..., :].reshape(..., H, W)`` puts the weights back on the image.
    """

    predictions: torch.Tensor
    certainties: torch.Tensor
    pre_activations: torch.Tensor
    post_activations: torch.Tensor
    attention: torch.Tensor
    synch_out: torch.Tensor
    synch_action: torch.Tensor
    token_grid: tuple[int, int] | None = None

    @property
    def ticks(self) -> int:
        return self.predictions.shape[-1]

    def most_certain_tick(self) -> torch.Tensor:
        """(B,) index of the tick with the highest certainty (first one on ties):
        :func:`ctm_course.metrics.most_certain_tick` of ``certainties``."""
        return most_certain_tick(self.certainties)

    def select(self, index: int | slice) -> "CTMTrack":
        """The record of a sub-batch (batch axis indexed by ``index``), keeping every axis."""
        idx = slice(index, index + 1) if isinstance(index, int) else index
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "token_grid":
                out[f.name] = value
            elif f.name in ("predictions", "certainties"):
                out[f.name] = value[idx]
            else:
                out[f.name] = value[:, idx]
        return CTMTrack(**out)
