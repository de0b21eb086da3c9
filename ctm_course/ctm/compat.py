"""Compatibility API: build the course CTM from other implementations' arguments and load their weights.

* :func:`load_reference` takes the constructor arguments of the paper repository's ``models/ctm.py``
  (a dict, as stored in published checkpoints) and a state_dict in that repository's layout.
* :func:`load_tutorial` does the same for the original MNIST tutorial's CTM (its 2-conv backbone,
  NLMs without temperature, ``trace_processor.<i>`` keys).

Both return the model in eval mode.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import torch

from .model import ContinuousThoughtMachine

REFERENCE_ARGS = (
    "iterations",
    "d_model",
    "d_input",
    "heads",
    "n_synch_out",
    "n_synch_action",
    "synapse_depth",
    "memory_length",
    "deep_nlms",
    "memory_hidden_dims",
    "do_layernorm_nlm",
    "backbone_type",
    "positional_embedding_type",
    "out_dims",
    "prediction_reshaper",
    "dropout",
    "dropout_nlm",
    "neuron_select_type",
    "n_random_pairing_self",
)
TUTORIAL_ARGS = (
    "iterations",
    "d_model",
    "d_input",
    "memory_length",
    "heads",
    "n_synch_out",
    "n_synch_action",
    "out_dims",
    "memory_hidden_dims",
    "dropout",
)


def _as_dict(config: Mapping[str, Any] | str) -> dict[str, Any]:
    return json.loads(config) if isinstance(config, str) else dict(config)


def _check_args(config: Mapping[str, Any], allowed: tuple[str, ...], who: str) -> None:
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown {who} argument(s) {unknown}; allowed: {list(allowed)}"
        )


def _load(
    model: ContinuousThoughtMachine, state_dict: Mapping[str, torch.Tensor]
) -> None:
    missing, unexpected = model.load_state_dict(dict(state_dict), strict=False)
    # NLM temperatures are absent from layouts without them; their default 1.0 is the identity.
    missing = [k for k in missing if not k.endswith(".T")]
    if missing or unexpected:
        raise ValueError(
            f"state_dict does not fit the configuration: missing {missing}, unexpected {unexpected}"
        )


def load_reference(
    config: Mapping[str, Any] | str,
    state_dict: Mapping[str, torch.Tensor] | None = None,
) -> ContinuousThoughtMachine:
    """Course CTM from the reference repository's constructor arguments (dict or JSON string).

    Keys are those of ``ContinuousThoughtMachine.__init__`` in the reference ``models/ctm.py``;
    the reference's ``neuron_select_type`` default is ``'random-pairing'``.
    """
    cfg = _as_dict(config)
    _check_args(cfg, REFERENCE_ARGS, "reference CTM")
    cfg.setdefault("neuron_select_type", "random-pairing")
    d_backbone = None
    if state_dict is not None and cfg.get("backbone_type") == "none":
        d_backbone = state_dict["kv_proj.0.weight"].shape[1]
    model = ContinuousThoughtMachine(**cfg, d_backbone=d_backbone)
    if state_dict is not None:
        _load(model, state_dict)
    return model.eval()


def load_tutorial(
    config: Mapping[str, Any] | str,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    in_channels: int = 1,
) -> ContinuousThoughtMachine:
    """Course CTM from the original MNIST tutorial's constructor arguments and state_dict layout."""
    cfg = _as_dict(config)
    _check_args(cfg, TUTORIAL_ARGS, "tutorial CTM")
    model = ContinuousThoughtMachine(
        **cfg,
        synapse_depth=1,
        deep_nlms=True,
        backbone_type="tutorial-conv",
        positional_embedding_type="none",
        neuron_select_type="first-last",
        in_channels=in_channels,
    )
    if state_dict is not None:
        renamed = {
            (
                f"trace_processor.0.{k.split('.', 1)[1]}"
                if k.startswith("trace_processor.")
                else k
            ): v
            for k, v in state_dict.items()
        }
        # first-last selection is implicit in the tutorial (slices): take the index buffers from the model
        renamed.update(
            {k: v for k, v in model.state_dict().items() if "neuron_indices" in k}
        )
        _load(model, renamed)
    return model.eval()
