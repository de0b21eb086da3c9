"""The Temporal Latent Bottleneck (Didolkar et al., 2022) for images, in three modes.

An image becomes a sequence of ``N`` patch tokens, cut into ``N / K`` chunks of ``K`` tokens.
Chunk by chunk, two streams work together:

* the **fast stream** (perceptual module F): a small Transformer that sees only the current chunk.
  Its self-attention blocks mix the chunk's tokens; its cross-attention blocks let the chunk read
  the slow stream (top-down). The fast stream is not carried from one chunk to the next.
* the **slow stream** (the temporal latent bottleneck I): a few state vectors, updated once per
  chunk by a cross-attention block whose queries are the state and whose keys and values are the
  chunk's fast-stream output. It is the only memory that crosses chunks.

``mode="keras"`` is the Keras example (its Keras 3 revision, last modified 2024-11-12), quirks
included: its block list is ``[sa0, ca0, sa1, sa2, ca2, sa3]`` (a cross block after self block
``i`` when ``i % r == 0``), but the loop re-applies a block as cross-attention when its *list
index* is a multiple of ``r``, so ``sa0``, ``sa1`` and ``ca2`` serve twice (self and cross) and
``ca0`` serves as self-attention: 6 self and 3 cross applications instead of 4 and 2. A block
that serves twice has separate attention weights for the two roles and one feed-forward net
for both; the other blocks have no cross-attention weights (Keras creates a layer's weights at
its first call, and their ``slow_stream_attention`` is never called). The state is ``K`` zero
vectors, and the classifier reads the last chunk's fast stream. With more than one head the
example's ``MultiHeadAttention(key_dim=embed_dim)`` would give every head the full width; here
the heads split it (the same for the example's one head).

``mode="keras-tf"`` is the example's first revision, written for TensorFlow: the same plan,
but a block that serves twice uses its one attention for both roles.

``init="keras"`` starts from Keras' initialisers (:func:`keras_initialisation`) instead of
PyTorch's; it did not help in the measured runs of ``keras-tf`` (the results page), so the
default stays PyTorch's.

``mode="paper"`` follows the paper and its authors' Flax code: after every ``r`` self-attention
blocks, one cross-attention block with its own weights; ``n_state`` learned state vectors whatever
the chunk size; the classifier reads the LayerNorm of the final state, averaged over its vectors.
Two things of that code are missing: the position embedding it adds to the state at every chunk,
and per-chunk token positions (here each of the ``N`` patches has its own learned position).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .attention import Attention, AttentionBlock
from .config import TLBConfig
from .embedding import PatchEmbedding, chunk


def block_plan(
    mode: str, num_layers: int, r: int
) -> tuple[list[str], list[tuple[str, str]]]:
    """The perceptual module's block names and the order in which one chunk applies them.

    Returns:
        ``(names, schedule)``: ``names`` are the blocks (each with its own weights), ``schedule`` is a
        list of ``(name, role)`` with role ``"self"`` (attend within the chunk) or ``"cross"`` (attend
        to the slow stream).
    """
    names: list[str] = []
    schedule: list[tuple[str, str]] = []
    if mode in ("keras", "keras-tf"):
        for i in range(num_layers):
            names.append(f"pm_self_attn_{i}")
            if i % r == 0:
                names.append(f"pm_cross_attn_ffn_{i}")
        # the example's loop: the flat list index decides
        for j, name in enumerate(names):
            schedule.append((name, "self"))
            if j % r == 0:
                schedule.append((name, "cross"))
    else:
        for i in range(num_layers):
            names.append(f"self_attn_{i}")
            schedule.append((names[-1], "self"))
            if (i + 1) % r == 0:
                names.append(f"cross_attn_{i}")
                schedule.append((names[-1], "cross"))
    return names, schedule


def _glorot_uniform_(weight: torch.Tensor, fan_in: int, fan_out: int) -> None:
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(weight, -bound, bound)


@torch.no_grad()
def keras_initialisation(model: nn.Module) -> None:
    """Give ``model`` the Keras example's initial weights: Glorot-uniform kernels and zero biases.

    PyTorch's ``nn.Linear`` and ``nn.Conv2d`` start from a Kaiming-uniform draw; Keras' ``Dense``,
    ``Conv2D`` and ``MultiHeadAttention`` from Glorot-uniform with fans computed from the *kernel's*
    shape. For ``MultiHeadAttention`` the query, key and value kernels have shape
    ``(E, heads, E / heads)``, which Keras reads as fan-in ``heads * E`` and fan-out ``E * E / heads``
    (for one head of 64: 64 and 4,096), so these projections start about three times smaller than a
    Dense layer of the same size. With the example's short budget (about 600 steps at lr 1e-4) the start
    matters. LayerNorms (ones and zeros) and the position table (uniform +-0.05) already match.
    """
    attention_fans = {}  # q/k/v projection -> Keras' (fan_in, fan_out) for its EinsumDense kernel
    for module in model.modules():
        if isinstance(module, Attention):
            e, heads = module.q_proj.in_features, module.heads
            for proj in (module.q_proj, module.k_proj, module.v_proj):
                attention_fans[proj] = (heads * e, e * (e // heads))
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            fans = attention_fans.get(module) or nn.init._calculate_fan_in_and_fan_out(
                module.weight
            )
            _glorot_uniform_(module.weight, *fans)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


class TemporalLatentBottleneck(nn.Module):
    """TLB image classifier; ``forward(images (B, 3, S, S)) -> logits (B, num_classes)``.

    Built from a :class:`~ctm_course.tlb.config.TLBConfig` (sizes, mode, state, initialisation;
    checked there), or from its fields as keywords (``TemporalLatentBottleneck(mode="paper",
    embed_dim=128)``); keywords given with a config replace its fields.
    """

    def __init__(self, config: TLBConfig | None = None, **arguments: Any) -> None:
        super().__init__()
        self.config = c = TLBConfig.of(config, **arguments)
        self.embed = PatchEmbedding(c.image_size, c.patch_size, c.embed_dim)
        self.mode, self.chunk_size, self.embed_dim = c.mode, c.chunk_size, c.embed_dim
        self.n_state, self.num_chunks = c.state_size, c.num_chunks
        names, self.schedule = block_plan(c.mode, c.num_layers, c.r)
        cross_blocks = {name for name, role in self.schedule if role == "cross"}
        # fast stream F; in keras mode a block that also cross-attends has weights for it
        self.perceptual = nn.ModuleDict(
            {
                name: AttentionBlock(
                    c,
                    separate_cross_attention=c.mode == "keras" and name in cross_blocks,
                )
                for name in names
            }
        )
        self.tlb = AttentionBlock(c)  # slow-stream update I
        if c.mode == "paper":
            self.initial_state = nn.Parameter(
                torch.randn(self.n_state, c.embed_dim) * 0.02
            )
            self.norm_state = nn.LayerNorm(c.embed_dim)
        self.head = nn.Linear(c.embed_dim, c.num_classes)
        if c.init == "keras":
            keras_initialisation(self)

    def initial(self, batch: int, like: torch.Tensor) -> torch.Tensor:
        """The slow stream before the first chunk: ``(B, n_state, E)``."""
        if self.mode != "paper":
            return like.new_zeros(batch, self.n_state, self.embed_dim)
        return self.initial_state.to(like.dtype).expand(batch, -1, -1)

    def readout(self, fast: torch.Tensor, slow: torch.Tensor) -> torch.Tensor:
        """What the classifier reads after the last chunk, ``(B, E)``."""
        if self.mode == "paper":
            return self.norm_state(slow).mean(1)  # the bottleneck itself
        return fast.mean(1)  # the last chunk's fast stream

    def forward(
        self, images: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``(B, 3, S, S)`` images -> logits ``(B, num_classes)``.

        With ``return_attention`` also the slow stream's attention over each chunk's tokens,
        ``(B, num_chunks, heads, n_state, K)`` (each row sums to 1 over the ``K`` tokens).
        :meth:`forward_batched` computes the same with fewer sequential block calls.
        """
        chunks = chunk(self.embed(images), self.chunk_size)  # (B, T, K, E)
        return self.read(chunks, self.schedule, return_attention)

    def read(
        self,
        chunks: torch.Tensor,
        schedule: list[tuple[str, str]],
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The two streams over the chunks ``(B, T, K, E)``, one chunk after the other."""
        slow = self.initial(len(chunks), chunks)  # (B, n_state, E)
        maps = []
        for t in range(chunks.shape[1]):
            fast = chunks[:, t]  # (B, K, E): the fast stream sees only chunk t
            for name, role in schedule:  # F: within the chunk, reading the slow stream
                fast, _ = self.perceptual[name](fast, slow if role == "cross" else None)
            slow, attn = self.tlb(slow, fast, return_attention)  # I: once per chunk
            maps.append(attn)
        logits = self.head(self.readout(fast, slow))
        return (logits, torch.stack(maps, 1)) if return_attention else logits

    def forward_batched(
        self, images: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` with fewer sequential block calls: the blocks before the first
        cross-attention do not read the slow stream, so they run on all chunks at once, as one
        batch of ``B * T`` rows."""
        chunks = chunk(self.embed(images), self.chunk_size)  # (B, T, K, E)
        b, t, k, e = chunks.shape
        first = next(
            (i for i, (_, role) in enumerate(self.schedule) if role == "cross"),
            len(self.schedule),
        )
        fast = chunks.reshape(b * t, k, e)
        for name, _ in self.schedule[:first]:
            fast, _ = self.perceptual[name](fast)
        return self.read(fast.view(b, t, k, e), self.schedule[first:], return_attention)
