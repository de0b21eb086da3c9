"""The Continuous Thought Machine (Darlow et al., 2025, arXiv:2505.05522).

Notation (paper): t = 1..T internal ticks; D neurons; z^t (D,) post-activations; A^t (D, M) the
last M pre-activations of every neuron; S^t synchronisation of selected neuron pairs.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import (BACKBONE_TYPES, POSITIONAL_EMBEDDING_TYPES, make_backbone,
                        make_positional_embedding)
from .certainty import certainty
from .nlm import neuron_level_models
from .synapses import make_synapses
from .synchronisation import (DECAY_MAX, SELECTION_TYPES, pair_indices, select_neurons, synch_size,
                              synchronisation_step)
from .tracking import CTMTrack


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


class ContinuousThoughtMachine(nn.Module):
    """A CTM: attend to the input, let neurons process their own histories, read out synchronisation.

    ``forward(x)`` returns ``(predictions (B, out_dims, T), certainties (B, 2, T), S_out^T (B, S_out))``;
    ``forward(x, track=True)`` returns ``(predictions, certainties, CTMTrack)`` with every tick recorded.
    Argument names and meanings follow the reference implementation; see ``ctm_course.ctm.load_reference``.
    """

    def __init__(self, iterations: int, d_model: int, d_input: int, heads: int, n_synch_out: int,
                 n_synch_action: int, synapse_depth: int = 1, memory_length: int = 10, deep_nlms: bool = True,
                 memory_hidden_dims: int = 8, do_layernorm_nlm: bool = False, backbone_type: str = "none",
                 positional_embedding_type: str = "none", out_dims: int = 10,
                 prediction_reshaper: Sequence[int] = (-1,), dropout: float = 0.0, dropout_nlm: float | None = None,
                 neuron_select_type: str = "first-last", n_random_pairing_self: int = 0, in_channels: int = 1,
                 d_backbone: int | None = None, selection_seed: int = 0):
        super().__init__()
        _check(iterations >= 1, f"iterations must be >= 1, got {iterations}")
        _check(d_model >= 1 and d_input >= 1, f"d_model and d_input must be >= 1, got {d_model}, {d_input}")
        _check(heads >= 1 and d_input % heads == 0,
               f"heads must be >= 1 and divide d_input={d_input}, got heads={heads}")
        _check(memory_length >= 1, f"memory_length must be >= 1, got {memory_length}")
        _check(synapse_depth >= 1, f"synapse_depth must be >= 1, got {synapse_depth}")
        _check(memory_hidden_dims >= 1, f"memory_hidden_dims must be >= 1, got {memory_hidden_dims}")
        _check(neuron_select_type in SELECTION_TYPES,
               f"neuron_select_type must be one of {SELECTION_TYPES}, got {neuron_select_type!r}")
        _check(backbone_type in BACKBONE_TYPES, f"backbone_type must be one of {BACKBONE_TYPES}, got {backbone_type!r}")
        _check(positional_embedding_type in POSITIONAL_EMBEDDING_TYPES,
               f"positional_embedding_type must be one of {POSITIONAL_EMBEDDING_TYPES}, "
               f"got {positional_embedding_type!r}")
        _check(backbone_type != "none" or positional_embedding_type == "none",
               "positional_embedding_type must be 'none' when backbone_type is 'none'")
        _check(n_synch_out >= 1 and n_synch_action >= 1,
               f"n_synch_out and n_synch_action must be >= 1, got {n_synch_out}, {n_synch_action}")
        _check(neuron_select_type != "first-last" or n_synch_out + n_synch_action <= d_model,
               f"n_synch_out + n_synch_action must be <= d_model for 'first-last' (disjoint blocks), got "
               f"{n_synch_out} + {n_synch_action} > {d_model}")
        _check(max(n_synch_out, n_synch_action) <= d_model or neuron_select_type != "first-last",
               "n_synch_out and n_synch_action must be <= d_model")
        _check(neuron_select_type != "random-pairing" or 0 <= n_random_pairing_self < min(n_synch_out, n_synch_action),
               f"n_random_pairing_self must be >= 0 and < n_synch_out and n_synch_action, got {n_random_pairing_self}")
        _check(0.0 <= dropout < 1.0, f"dropout must be in [0, 1), got {dropout}")
        dropout_nlm = dropout if dropout_nlm is None else dropout_nlm
        _check(0.0 <= dropout_nlm < 1.0, f"dropout_nlm must be in [0, 1), got {dropout_nlm}")
        reshaper = [int(s) for s in prediction_reshaper]
        _check(reshaper == [-1] or int(np.prod(reshaper)) == out_dims,
               f"prediction_reshaper {reshaper} must be [-1] or multiply to out_dims={out_dims}")

        self.iterations, self.d_model, self.d_input, self.heads = iterations, d_model, d_input, heads
        self.memory_length, self.out_dims, self.prediction_reshaper = memory_length, out_dims, reshaper
        self.n_synch_out, self.n_synch_action = n_synch_out, n_synch_action
        self.neuron_select_type, self.backbone_type = neuron_select_type, backbone_type
        self.synch_representation_size_out = synch_size(n_synch_out, neuron_select_type)
        self.synch_representation_size_action = synch_size(n_synch_action, neuron_select_type)

        # --- input: backbone features -> tokens (B, N, d_input) ---
        self.backbone = make_backbone(backbone_type, d_input, in_channels)
        if backbone_type == "tutorial-conv":
            self.backbone.to(memory_format=torch.channels_last)
        d_features = d_input if backbone_type != "none" else d_backbone
        self.positional_embedding = make_positional_embedding(positional_embedding_type, d_input)
        kv_in = nn.Linear(d_features, d_input) if d_features else nn.LazyLinear(d_input)
        self.kv_proj = nn.Sequential(kv_in, nn.LayerNorm(d_input))
        self.q_proj = nn.Linear(self.synch_representation_size_action, d_input)
        self.attention = nn.MultiheadAttention(d_input, heads, dropout=dropout, batch_first=True)

        # --- core: synapses and neuron-level models ---
        self.synapses = make_synapses(d_input + d_model, d_model, synapse_depth, dropout)
        self.trace_processor = neuron_level_models(d_model, memory_length, deep_nlms, memory_hidden_dims,
                                                   do_layernorm_nlm, dropout_nlm)
        self.start_activated_state = nn.Parameter(  # z^0
            torch.empty(d_model).uniform_(-math.sqrt(1 / d_model), math.sqrt(1 / d_model)))
        self.start_trace = nn.Parameter(  # A^0
            torch.empty(d_model, memory_length).uniform_(-math.sqrt(1 / (d_model + memory_length)),
                                                         math.sqrt(1 / (d_model + memory_length))))

        # --- synchronisation: neuron pairs (fixed at construction) and learnable decays ---
        rng = np.random.default_rng(selection_seed)
        for kind, n in (("out", n_synch_out), ("action", n_synch_action)):
            left, right = select_neurons(kind, neuron_select_type, d_model, n, n_random_pairing_self, rng)
            self.register_buffer(f"{kind}_neuron_indices_left", left)
            self.register_buffer(f"{kind}_neuron_indices_right", right)
        self.decay_params_out = nn.Parameter(torch.zeros(self.synch_representation_size_out))
        self.decay_params_action = nn.Parameter(torch.zeros(self.synch_representation_size_action))

        # --- output: synchronisation -> logits ---
        self.output_projector = nn.Sequential(nn.Linear(self.synch_representation_size_out, out_dims))

    # ----------------------------------------------------------------------------------------------
    def compute_features(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Input -> tokens (B, N, d_input) and the spatial shape of the feature map."""
        if x.dim() == 4 and self.backbone_type == "tutorial-conv":
            x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions, same values
        features = self.backbone(x)
        features = features + self.positional_embedding(features)
        grid = tuple(features.shape[2:])
        return self.kv_proj(features.flatten(2).transpose(1, 2)), grid

    def attention_keys_values(self, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project the tokens to per-head keys and values once per forward: (B, heads, N, d_head) each.

        ``nn.MultiheadAttention`` would redo this projection at every tick although the tokens never change.
        """
        B, N, d = kv.shape
        _, w_k, w_v = self.attention.in_proj_weight.chunk(3)
        _, b_k, b_v = self.attention.in_proj_bias.chunk(3)
        k = F.linear(kv, w_k, b_k).view(B, N, self.heads, d // self.heads).transpose(1, 2)
        v = F.linear(kv, w_v, b_v).view(B, N, self.heads, d // self.heads).transpose(1, 2)
        return k, v

    def attend(self, query: torch.Tensor, k: torch.Tensor, v: torch.Tensor, need_weights: bool
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One query per sample against the tokens: (B, d_input) -> output (B, d_input), weights (B, heads, 1, N)."""
        B, d = query.shape
        w_q, b_q = self.attention.in_proj_weight[:d], self.attention.in_proj_bias[:d]
        q = F.linear(query, w_q, b_q).view(B, self.heads, 1, d // self.heads)
        p = self.attention.dropout if self.training else 0.0
        if need_weights or q.device.type == "cpu":  # one query: plain matmuls beat the fused kernel on a CPU
            weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
            out = F.dropout(weights, p) @ v if p > 0 else weights @ v
            weights = weights if need_weights else None
        else:  # fused kernel on the GPU, no weights materialised
            weights, out = None, F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.attention.out_proj(out.reshape(B, d)), weights

    def synch_pairs(self, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
        left, right = getattr(self, f"{kind}_neuron_indices_left"), getattr(self, f"{kind}_neuron_indices_right")
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
        kv, grid = self.compute_features(x)              # tokens (B, N, d_input)
        k, v = self.attention_keys_values(kv)            # projected once, used every tick
        B = kv.shape[0]
        self.clamp_decay()
        r_out = torch.exp(-self.decay_params_out)        # r = exp(-d), one per pair
        r_action = torch.exp(-self.decay_params_action)
        out_i, out_j = self.synch_pairs("out")
        act_i, act_j = self.synch_pairs("action")

        z = self.start_activated_state.expand(B, -1)     # z^0 (B, D)
        trace = self.start_trace.expand(B, -1, -1)       # A^0 (B, D, M)
        # S_out includes z^0; the action stream starts empty
        _, alpha_out, beta_out = synchronisation_step(z, 0.0, 0.0, r_out, out_i, out_j)
        alpha_act, beta_act = 0.0, 0.0
        predictions, certainties, record = [], [], []
        for _ in range(self.iterations):
            # S_action^t from z^0..z^(t-1) -> query -> attention output o^t
            s_action, alpha_act, beta_act = synchronisation_step(
                z, alpha_act, beta_act, r_action, act_i, act_j)
            o, attn = self.attend(self.q_proj(s_action), k, v, need_weights=track)
            a = self.synapses(torch.cat((o, z), dim=-1))  # pre-activations a^t (B, D)
            trace = torch.cat((trace[:, :, 1:], a.unsqueeze(-1)), dim=-1)  # A^t: FIFO
            z = self.trace_processor(trace)               # z^t = NLM_d(A^t_d), per neuron
            s_out, alpha_out, beta_out = synchronisation_step(
                z, alpha_out, beta_out, r_out, out_i, out_j)
            y = self.output_projector(s_out)              # logits y^t
            predictions.append(y)
            certainties.append(self.compute_certainty(y))
            if track:
                record.append((a, z, attn, s_out, s_action))
        predictions = torch.stack(predictions, -1).float()   # (B, out_dims, T)
        certainties = torch.stack(certainties, -1).float()   # (B, 2, T)
        if not track:
            return predictions, certainties, s_out
        return predictions, certainties, self._track(predictions, certainties, record, grid)

    @staticmethod
    def _track(predictions, certainties, record, grid) -> CTMTrack:
        def stacked(n: int) -> torch.Tensor:
            return torch.stack([r[n] for r in record]).detach().float().cpu()

        return CTMTrack(predictions=predictions.detach().cpu(), certainties=certainties.detach().cpu(),
                        pre_activations=stacked(0), post_activations=stacked(1), attention=stacked(2),
                        synch_out=stacked(3), synch_action=stacked(4),
                        token_grid=tuple(grid) if len(grid) == 2 else None)
