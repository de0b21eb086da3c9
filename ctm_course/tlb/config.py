"""The configuration of lesson 4's models: frozen dataclasses that check themselves.

Three layers, each adding what its model needs:

* :class:`BlockConfig`: the widths of one :class:`~ctm_course.tlb.AttentionBlock`;
* :class:`TransformerConfig`: the block widths plus the image, the patches and the classes:
  everything a TLB and its ViT baseline share (:meth:`TransformerConfig.shared`);
* :class:`TLBConfig` (chunks, layers, mode, state) and :class:`ViTConfig` (depth).

A config raises ``ValueError`` naming the argument and the allowed values as soon as a
combination cannot work, before any tensor is allocated. A model takes a config or its fields
as keywords: ``TemporalLatentBottleneck(config)`` or ``TemporalLatentBottleneck(mode="paper")``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from .embedding import patch_grid

MODES = ("keras", "keras-tf", "paper")
INITS = ("torch", "keras")

C = TypeVar("C", bound="BlockConfig")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True, kw_only=True)
class BlockConfig:
    """Widths of an attention block (defaults: the Keras example's).

    Args:
        embed_dim: token width ``E``.
        heads: attention heads; must divide ``embed_dim`` (head width ``E / heads``).
        mlp_ratio: the feed-forward net's hidden width is ``mlp_ratio * embed_dim``.
        dropout: dropout after the feed-forward net.
        attn_dropout: dropout on the attention probabilities.
    """

    embed_dim: int = 64
    heads: int = 1
    mlp_ratio: int = 4
    dropout: float = 0.2
    attn_dropout: float = 0.2

    def __post_init__(self) -> None:
        dim, heads = self.embed_dim, self.heads
        _check(
            dim >= 1 and heads >= 1 and dim % heads == 0,
            f"AttentionBlock: heads ({heads}) must divide the embedding width dim ({dim})",
        )
        _check(
            0 <= self.dropout < 1 and 0 <= self.attn_dropout < 1,
            f"AttentionBlock: dropout and attn_dropout must be in [0, 1), got "
            f"{self.dropout}, {self.attn_dropout}",
        )

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied (and checked), e.g. ``config.replace(heads=2)``."""
        return replace(self, **changes)

    @classmethod
    def of(cls: type[C], config: C | None = None, **arguments: Any) -> C:
        """``config`` with ``arguments`` replacing its fields, or a new one from ``arguments``."""
        if config is None:
            return cls(**arguments)
        if not isinstance(config, cls):
            raise TypeError(
                f"expected a {cls.__name__}, got {type(config).__name__}: pass "
                f"{cls.__name__}(...) or keyword arguments"
            )
        return config.replace(**arguments) if arguments else config


@dataclass(frozen=True, kw_only=True)
class TransformerConfig(BlockConfig):
    """The block widths, the images, the patches and the classes.

    Args:
        image_size: side ``S`` of the (square) input images; a multiple of ``patch_size``.
        patch_size: patch side ``p``; ``N = (S / p)^2`` tokens.
        num_classes: outputs (logits, no softmax).
        embed_dim, heads, mlp_ratio, dropout, attn_dropout: see :class:`BlockConfig`.
    """

    image_size: int = 48
    patch_size: int = 4
    num_classes: int = 10

    def __post_init__(self) -> None:
        patch_grid(self.image_size, self.patch_size)
        super().__post_init__()

    @property
    def num_patches(self) -> int:
        """Tokens per image, ``N = (S / p)^2``."""
        return patch_grid(self.image_size, self.patch_size) ** 2

    def shared(self) -> dict[str, Any]:
        """The fields of :class:`TransformerConfig` alone: what a TLB and a ViT share."""
        return {f.name: getattr(self, f.name) for f in fields(TransformerConfig)}


@dataclass(frozen=True, kw_only=True)
class TLBConfig(TransformerConfig):
    """A :class:`~ctm_course.tlb.TemporalLatentBottleneck` (defaults: the Keras example's).

    Args:
        chunk_size: tokens per chunk ``K``; must divide ``N``.
        r: self-attention blocks per cross-attention block (the "ratio"); in ``paper`` mode it
            must divide ``num_layers``.
        num_layers: self-attention blocks in the perceptual module (before the Keras
            example's flat-index quirk in ``keras`` mode).
        mode: ``"keras"`` (the Keras example), ``"keras-tf"`` (its first, TensorFlow revision)
            or ``"paper"`` (:mod:`ctm_course.tlb.model`).
        n_state: slow-stream vectors in ``paper`` mode (default ``chunk_size``); the Keras modes
            always use ``chunk_size`` of them.
        init: ``"torch"`` (PyTorch's default initialisation) or ``"keras"``
            (:func:`~ctm_course.tlb.model.keras_initialisation`).
        image_size, patch_size, num_classes, embed_dim, heads, mlp_ratio, dropout,
            attn_dropout: see :class:`TransformerConfig`.
    """

    chunk_size: int = 8
    r: int = 2
    num_layers: int = 4
    mode: str = "keras"
    n_state: int | None = None
    init: str = "torch"

    def __post_init__(self) -> None:
        name, r, layers, n_state = (
            "TemporalLatentBottleneck",
            self.r,
            self.num_layers,
            self.n_state,
        )
        _check(
            self.mode in MODES,
            f"{name}: mode must be one of {MODES}, got {self.mode!r}",
        )
        _check(
            self.init in INITS,
            f"{name}: init must be 'torch' or 'keras', got {self.init!r}",
        )
        _check(
            r >= 1 and layers >= 1,
            f"{name}: r ({r}) and num_layers ({layers}) must be >= 1",
        )
        _check(
            self.mode != "paper" or layers % r == 0,
            f"{name}: in paper mode r ({r}) must divide num_layers ({layers})",
        )
        _check(
            self.mode == "paper" or n_state in (None, self.chunk_size),
            f"{name}: {self.mode} mode ties the state to chunk_size ({self.chunk_size}); "
            f"n_state={n_state} needs mode='paper'",
        )
        _check(
            n_state is None or n_state >= 1,
            f"{name}: n_state must be >= 1, got {n_state}",
        )
        super().__post_init__()
        _check(
            self.chunk_size >= 1 and self.num_patches % self.chunk_size == 0,
            f"{name}: chunk_size ({self.chunk_size}) must divide the number of patches "
            f"({self.num_patches} = ({self.image_size} / {self.patch_size})^2)",
        )

    @property
    def state_size(self) -> int:
        """Slow-stream vectors: ``n_state``, or ``chunk_size`` when that is ``None``."""
        return self.chunk_size if self.n_state is None else self.n_state

    @property
    def num_chunks(self) -> int:
        """Chunks per image, ``N / K``."""
        return self.num_patches // self.chunk_size


@dataclass(frozen=True, kw_only=True)
class ViTConfig(TransformerConfig):
    """A :class:`~ctm_course.tlb.ViTBaseline`: ``depth`` self-attention blocks over all tokens.

    Args:
        depth: blocks (>= 1).
        image_size, patch_size, num_classes, embed_dim, heads, mlp_ratio, dropout,
            attn_dropout: see :class:`TransformerConfig`.
    """

    depth: int = 7

    def __post_init__(self) -> None:
        _check(self.depth >= 1, f"ViTBaseline: depth must be >= 1, got {self.depth}")
        super().__post_init__()


__all__ = [
    "INITS",
    "MODES",
    "BlockConfig",
    "TLBConfig",
    "TransformerConfig",
    "ViTConfig",
]
