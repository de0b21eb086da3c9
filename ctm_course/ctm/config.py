"""The CTM's configuration: every constructor argument in one validated dataclass.

``CTMConfig(...)`` raises ``ValueError`` naming the argument and the allowed values as soon
as a combination cannot work, before any tensor is allocated. Names and meanings follow the
reference implementation, so a published checkpoint's argument dict builds one directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from .backbones import BACKBONE_TYPES, POSITIONAL_EMBEDDING_TYPES
from .synchronisation import SELECTION_TYPES


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class CTMConfig:
    """Sizes and choices of a :class:`~ctm_course.ctm.ContinuousThoughtMachine`.

    Args:
        iterations: T, the internal ticks.
        d_model: D, the neurons.
        d_input: width of the attention tokens and of its output o^t.
        heads: attention heads (must divide ``d_input``).
        n_synch_out, n_synch_action: neurons (``first-last``) or pairs (``random-pairing``)
            read out for S_out (the output) and S_action (the attention query).
        synapse_depth: 1 = one linear layer (+ GLU); > 1 = a U-Net MLP of that depth.
        memory_length: M, pre-activations each neuron remembers (A^t is D x M).
        deep_nlms: two-layer neuron-level models (else one layer).
        memory_hidden_dims: hidden width of each deep NLM.
        do_layernorm_nlm: LayerNorm over each neuron's history before its NLM.
        backbone_type: input encoder (:data:`~ctm_course.ctm.backbones.BACKBONE_TYPES`).
        positional_embedding_type: added to the backbone's features.
        out_dims: logits per tick.
        prediction_reshaper: shape of one prediction for the certainty (``(-1,)``: flat).
        dropout, dropout_nlm: dropout rates (``dropout_nlm=None``: same as ``dropout``).
        neuron_select_type: ``first-last``, ``random`` or ``random-pairing``.
        n_random_pairing_self: pairs of a neuron with itself (``random-pairing``).
        in_channels: image channels of the convolutional backbones.
        d_backbone: feature width when ``backbone_type='none'`` (``None``: inferred lazily).
        selection_seed: seed of the (fixed) random neuron selection.
    """

    iterations: int
    d_model: int
    d_input: int
    heads: int
    n_synch_out: int
    n_synch_action: int
    synapse_depth: int = 1
    memory_length: int = 10
    deep_nlms: bool = True
    memory_hidden_dims: int = 8
    do_layernorm_nlm: bool = False
    backbone_type: str = "none"
    positional_embedding_type: str = "none"
    out_dims: int = 10
    prediction_reshaper: tuple[int, ...] = (-1,)
    dropout: float = 0.0
    dropout_nlm: float | None = None
    neuron_select_type: str = "first-last"
    n_random_pairing_self: int = 0
    in_channels: int = 1
    d_backbone: int | None = None
    selection_seed: int = 0

    def __post_init__(self) -> None:
        # a list from JSON or a profile row becomes a tuple, so the config stays hashable
        object.__setattr__(
            self, "prediction_reshaper", tuple(int(s) for s in self.prediction_reshaper)
        )
        _check(self.iterations >= 1, f"iterations must be >= 1, got {self.iterations}")
        _check(
            self.d_model >= 1 and self.d_input >= 1,
            f"d_model and d_input must be >= 1, got {self.d_model}, {self.d_input}",
        )
        _check(
            self.heads >= 1 and self.d_input % self.heads == 0,
            f"heads must be >= 1 and divide d_input={self.d_input}, got heads={self.heads}",
        )
        _check(
            self.memory_length >= 1,
            f"memory_length must be >= 1, got {self.memory_length}",
        )
        _check(
            self.synapse_depth >= 1,
            f"synapse_depth must be >= 1, got {self.synapse_depth}",
        )
        _check(
            self.memory_hidden_dims >= 1,
            f"memory_hidden_dims must be >= 1, got {self.memory_hidden_dims}",
        )
        _check(
            self.neuron_select_type in SELECTION_TYPES,
            f"neuron_select_type must be one of {SELECTION_TYPES}, got {self.neuron_select_type!r}",
        )
        _check(
            self.backbone_type in BACKBONE_TYPES,
            f"backbone_type must be one of {BACKBONE_TYPES}, got {self.backbone_type!r}",
        )
        _check(
            self.positional_embedding_type in POSITIONAL_EMBEDDING_TYPES,
            f"positional_embedding_type must be one of {POSITIONAL_EMBEDDING_TYPES}, "
            f"got {self.positional_embedding_type!r}",
        )
        _check(
            self.backbone_type != "none" or self.positional_embedding_type == "none",
            "positional_embedding_type must be 'none' when backbone_type is 'none'",
        )
        _check(
            self.n_synch_out >= 1 and self.n_synch_action >= 1,
            f"n_synch_out and n_synch_action must be >= 1, got {self.n_synch_out}, {self.n_synch_action}",
        )
        _check(
            self.neuron_select_type != "first-last"
            or self.n_synch_out + self.n_synch_action <= self.d_model,
            f"n_synch_out + n_synch_action must be <= d_model for 'first-last' (disjoint blocks), got "
            f"{self.n_synch_out} + {self.n_synch_action} > {self.d_model}",
        )
        _check(
            self.neuron_select_type != "random-pairing"
            or 0
            <= self.n_random_pairing_self
            < min(self.n_synch_out, self.n_synch_action),
            f"n_random_pairing_self must be >= 0 and < n_synch_out and n_synch_action, "
            f"got {self.n_random_pairing_self}",
        )
        _check(
            0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"
        )
        _check(
            0.0 <= self.nlm_dropout < 1.0,
            f"dropout_nlm must be in [0, 1), got {self.dropout_nlm}",
        )
        _check(
            self.prediction_reshaper == (-1,)
            or math.prod(self.prediction_reshaper) == self.out_dims,
            f"prediction_reshaper {list(self.prediction_reshaper)} must be [-1] or multiply to "
            f"out_dims={self.out_dims}",
        )
        _check(
            self.in_channels >= 1, f"in_channels must be >= 1, got {self.in_channels}"
        )

    @property
    def nlm_dropout(self) -> float:
        """The NLMs' dropout rate (``dropout_nlm``, or ``dropout`` when that is ``None``)."""
        return self.dropout if self.dropout_nlm is None else self.dropout_nlm

    def replace(self, **changes: Any) -> CTMConfig:
        """A copy with ``changes`` applied (and validated), e.g. ``config.replace(iterations=8)``."""
        return replace(self, **changes)
