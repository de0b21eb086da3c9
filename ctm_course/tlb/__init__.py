"""Lesson 4: the Temporal Latent Bottleneck (TLB) on CIFAR-10, and a ViT baseline.

- :class:`TLBConfig`, :class:`ViTConfig` (``config.py``): the models' checked settings; the widths
  they share (:class:`TransformerConfig`) and a block's own (:class:`BlockConfig`).
- :class:`AttentionBlock` (``attention.py``): LayerNorms on query, key and value, attention, residual FFN.
- :class:`PatchEmbedding`, :func:`chunk` (``embedding.py``): image -> tokens -> chunks.
- :class:`TemporalLatentBottleneck` (``model.py``): fast and slow streams, ``mode="keras"``,
  ``"keras-tf"`` or ``"paper"``.
- :class:`ViTBaseline`, :func:`matched_vit` (``vit.py``): the same blocks without recurrence.
- :data:`KERAS`, :func:`build` (``presets.py``): the Keras example's recipe, runs from profile rows;
  :data:`KERAS_LOG`: the last epoch of the example's own training log.
- :func:`train_classifier`, :func:`evaluate_accuracy` (``train.py``): device-resident training loop;
  :func:`autocast_dtype` (from :mod:`ctm_course.precision`): bf16 on CUDA.
- ``python -m ctm_course.tlb.run`` (``run.py``): train and test one model without the notebook.
- ``plots.py``: patches and chunks, attention overlays, the comparison bars, the seed spread.
- ``ablation.py``: the lesson's ablations (``n_state``, no top-down) repeated over seeds.
"""

from ..parameters import count_parameters
from ..precision import autocast_dtype
from .attention import AttentionBlock
from .config import MODES, BlockConfig, TLBConfig, TransformerConfig, ViTConfig
from .embedding import PatchEmbedding, chunk
from .model import TemporalLatentBottleneck, block_plan
from .presets import (
    KERAS,
    KERAS_LOG,
    PRESETS,
    build,
    steps_of,
    train_config,
    with_overrides,
)
from .train import evaluate_accuracy, train_classifier
from .vit import ViTBaseline, matched_vit

__all__ = [
    "KERAS",
    "KERAS_LOG",
    "MODES",
    "PRESETS",
    "AttentionBlock",
    "BlockConfig",
    "PatchEmbedding",
    "TLBConfig",
    "TemporalLatentBottleneck",
    "TransformerConfig",
    "ViTBaseline",
    "ViTConfig",
    "autocast_dtype",
    "block_plan",
    "build",
    "chunk",
    "count_parameters",
    "evaluate_accuracy",
    "matched_vit",
    "steps_of",
    "train_config",
    "train_classifier",
    "with_overrides",
]
