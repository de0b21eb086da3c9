"""The Continuous Thought Machine (Darlow et al., 2025, arXiv:2505.05522).

Notation (paper): t = 1..T internal ticks; D neurons; z^t (D,) post-activations; A^t (D, M) the
last M pre-activations of every neuron; S^t synchronisation of selected neuron pairs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from .attention import attend, project_keys_values
from .backbones import make_backbone, make_positional_embedding
from .certainty import certainty
from .config import CTMConfig
from .nlm import neuron_level_models
from .synapses import make_synapses
from .synchronisation import (
    DECAY_MAX,
    pair_indices,
    select_neurons,
    synch_size,
    synchronisation_step,
)
from .tracking import CTMTrack


class ContinuousThoughtMachine(nn.Module):
    """A CTM: attend to the input, let neurons process their own histories, read out synchronisation.

    ``forward(x)`` returns ``(predictions (B, out_dims, T), certainties (B, 2, T), S_out^T (B, S_out))``;
    ``forward(x, track=True)`` returns ``(predictions, certainties, CTMTrack)`` with every tick recorded.
    Built from a :class:`~ctm_course.ctm.CTMConfig` (argument names and meanings follow the reference
    implementation; see ``ctm_course.ctm.load_reference``).
    """

    def __init__(self, config: CTMConfig | None = None, **arguments: Any):
        """Build from ``config``, or from its fields as keyword arguments (``ContinuousThoughtMachine(
        iterations=..., d_model=..., ...)``); keywords given with a config replace its fields."""
        super().__init__()
        if config is None:
            config = CTMConfig(**arguments)
        elif arguments:
            config = config.replace(**arguments)
        self.config = config
        c = config
        self.iterations, self.d_model, self.d_input, self.heads = (
            c.iterations,
            c.d_model,
            c.d_input,
            c.heads,
        )
        self.memory_length, self.out_dims = c.memory_length, c.out_dims
        self.prediction_reshaper = list(c.prediction_reshaper)
        self.n_synch_out, self.n_synch_action = c.n_synch_out, c.n_synch_action
        self.neuron_select_type, self.backbone_type = (
            c.neuron_select_type,
            c.backbone_type,
        )
        self.synch_representation_size_out = synch_size(
            c.n_synch_out, c.neuron_select_type
        )
        self.synch_representation_size_action = synch_size(
            c.n_synch_action, c.neuron_select_type
        )
        d_model, d_input, memory_length = c.d_model, c.d_input, c.memory_length

        # --- input: backbone features -> tokens (B, N, d_input) ---
        self.backbone = make_backbone(c.backbone_type, d_input, c.in_channels)
        d_features = d_input if c.backbone_type != "none" else c.d_backbone
        self.positional_embedding = make_positional_embedding(
            c.positional_embedding_type, d_input
        )
        kv_in = nn.Linear(d_features, d_input) if d_features else nn.LazyLinear(d_input)
        self.kv_proj = nn.Sequential(kv_in, nn.LayerNorm(d_input))
        self.q_proj = nn.Linear(self.synch_representation_size_action, d_input)
        self.attention = nn.MultiheadAttention(
            d_input, c.heads, dropout=c.dropout, batch_first=True
        )

        # --- core: synapses and neuron-level models ---
        self.synapses = make_synapses(
            d_input + d_model, d_model, c.synapse_depth, c.dropout
        )
        self.trace_processor = neuron_level_models(
            d_model,
            memory_length,
            c.deep_nlms,
            c.memory_hidden_dims,
            c.do_layernorm_nlm,
            c.nlm_dropout,
        )
        self.start_activated_state = nn.Parameter(  # z^0
            torch.empty(d_model).uniform_(
                -math.sqrt(1 / d_model), math.sqrt(1 / d_model)
            )
        )
        self.start_trace = nn.Parameter(  # A^0
            torch.empty(d_model, memory_length).uniform_(
                -math.sqrt(1 / (d_model + memory_length)),
                math.sqrt(1 / (d_model + memory_length)),
            )
        )

        # --- synchronisation: neuron pairs (fixed at construction) and learnable decays ---
        rng = np.random.default_rng(c.selection_seed)
        for kind, n in (("out", c.n_synch_out), ("action", c.n_synch_action)):
            left, right = select_neurons(
                kind, c.neuron_select_type, d_model, n, c.n_random_pairing_self, rng
            )
            self.register_buffer(f"{kind}_neuron_indices_left", left)
            self.register_buffer(f"{kind}_neuron_indices_right", right)
        self.decay_params_out = nn.Parameter(
            torch.zeros(self.synch_representation_size_out)
        )
        self.decay_params_action = nn.Parameter(
            torch.zeros(self.synch_representation_size_action)
        )

        # --- output: synchronisation -> logits ---
        self.output_projector = nn.Sequential(
            nn.Linear(self.synch_representation_size_out, c.out_dims)
        )

    # ----------------------------------------------------------------------------------------------
    def expected_input(self) -> str:
        """The input shape ``forward`` takes, in words (for error messages)."""
        c = self.config
        if c.backbone_type == "tutorial-conv":
            return f"(B, {c.in_channels}, H, W) images"
        if c.backbone_type == "parity_backbone":
            return "(B, L) sequences of +-1"
        return f"(B, {c.d_backbone or 'C'}, ...) features"

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` naming the expected shape when ``x`` cannot be this model's input."""
        c = self.config
        if c.backbone_type == "tutorial-conv":
            ok = x.dim() == 4 and x.shape[1] == c.in_channels
        elif c.backbone_type == "parity_backbone":
            ok = x.dim() == 2
        else:
            ok = x.dim() >= 3 and (c.d_backbone is None or x.shape[1] == c.d_backbone)
        if not ok:
            channels = f" ({c.in_channels} channel{'s' if c.in_channels > 1 else ''})"
            hint = channels if c.backbone_type == "tutorial-conv" else ""
            raise ValueError(
                f"the CTM takes {self.expected_input()}{hint}, got shape {tuple(x.shape)}"
            )
        if c.backbone_type != "parity_backbone" and not x.is_floating_point():
            raise ValueError(
                f"the CTM takes floating-point input (e.g. images scaled to [0, 1] and "
                f"normalised), got {x.dtype}"
            )

    def compute_features(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Input -> tokens (B, N, d_input) and the spatial shape of the feature map."""
        self.check_input(x)
        features = self.backbone(x)
        features = features + self.positional_embedding(features)
        grid = tuple(features.shape[2:])
        return self.kv_proj(features.flatten(2).transpose(1, 2)), grid

    def synch_pairs(self, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
        left, right = (
            getattr(self, f"{kind}_neuron_indices_left"),
            getattr(self, f"{kind}_neuron_indices_right"),
        )
        return pair_indices(left, right, self.neuron_select_type)

    def compute_certainty(self, logits: torch.Tensor) -> torch.Tensor:
        return certainty(logits, self.prediction_reshaper)

    @torch.no_grad()
    def clamp_decay(self) -> None:
        """Keep every decay d in [0, 15] (in place, outside the graph, as the reference)."""
        self.decay_params_out.clamp_(0, DECAY_MAX)
        self.decay_params_action.clamp_(0, DECAY_MAX)

    # ----------------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, track: bool = False):
        kv, grid = self.compute_features(x)  # tokens (B, N, d_input)
        # keys and values projected once, used at every tick
        k, v = project_keys_values(self.attention, kv)
        B = kv.shape[0]
        self.clamp_decay()
        r_out = torch.exp(-self.decay_params_out)  # r = exp(-d), one per pair
        r_action = torch.exp(-self.decay_params_action)
        out_i, out_j = self.synch_pairs("out")
        act_i, act_j = self.synch_pairs("action")

        z = self.start_activated_state.expand(B, -1)  # z^0 (B, D)
        trace = self.start_trace.expand(B, -1, -1)  # A^0 (B, D, M)
        # S_out includes z^0; the action stream starts empty
        _, alpha_out, beta_out = synchronisation_step(z, 0.0, 0.0, r_out, out_i, out_j)
        alpha_act, beta_act = 0.0, 0.0
        predictions, certainties, record = [], [], []
        for _ in range(self.iterations):
            # S_action^t from z^0..z^(t-1) -> query -> attention output o^t
            s_action, alpha_act, beta_act = synchronisation_step(
                z, alpha_act, beta_act, r_action, act_i, act_j
            )
            q = self.q_proj(s_action)
            o, attn = attend(self.attention, q, k, v, need_weights=track)
            a = self.synapses(torch.cat((o, z), dim=-1))  # pre-activations a^t
            trace = torch.cat((trace[:, :, 1:], a.unsqueeze(-1)), -1)  # A^t: FIFO
            z = self.trace_processor(trace)  # z^t = NLM_d(A^t_d), per neuron
            s_out, alpha_out, beta_out = synchronisation_step(
                z, alpha_out, beta_out, r_out, out_i, out_j
            )
            y = self.output_projector(s_out)  # logits y^t
            predictions.append(y)
            certainties.append(self.compute_certainty(y))
            if track:
                record.append((a, z, attn, s_out, s_action))
        predictions = torch.stack(predictions, -1).float()  # (B, out_dims, T)
        certainties = torch.stack(certainties, -1).float()  # (B, 2, T)
        if not track:
            return predictions, certainties, s_out
        track_record = self._track(predictions, certainties, record, grid)
        return predictions, certainties, track_record

    @staticmethod
    def _track(predictions, certainties, record, grid) -> CTMTrack:
        def stacked(n: int) -> torch.Tensor:
            return torch.stack([r[n] for r in record]).detach().float().cpu()

        return CTMTrack(
            predictions=predictions.detach().cpu(),
            certainties=certainties.detach().cpu(),
            pre_activations=stacked(0),
            post_activations=stacked(1),
            attention=stacked(2),
            synch_out=stacked(3),
            synch_action=stacked(4),
            token_grid=tuple(grid) if len(grid) == 2 else None,
        )
