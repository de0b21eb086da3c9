"""An exponential moving average of a model's weights (a cousin of Polyak averaging, which takes their plain mean).

With a constant learning rate the weights keep jumping around the bottom of the valley they
have reached; their running average sits closer to its floor, and it usually generalises better
than the last iterate, at no cost in training steps. After optimiser step ``n`` the average moves
towards the current weights,

    theta_avg <- decay_n * theta_avg + (1 - decay_n) * theta,    decay_n = min(decay, (1 + n) / (10 + n))

where the warm-up ``(1 + n) / (10 + n)`` keeps a short run from remembering its random
initialisation (after 1 step the average is 80 % the new weights; ``decay`` is reached after
``(10 * decay - 1) / (1 - decay)`` steps, about 1,800 for 0.995). Buffers are copied, not averaged.

The average is PyTorch's own :class:`torch.optim.swa_utils.AveragedModel` with this update rule;
it starts at the initial weights, so ``n_averaged`` counts the optimiser steps plus one.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

MultiAvgFn = Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]


def warmup_decay(decay: float, n: torch.Tensor | float) -> torch.Tensor | float:
    """``decay_n = min(decay, (1 + n) / (10 + n))``, the decay of the ``n``-th update (n >= 1)."""
    if isinstance(n, torch.Tensor):
        return ((1 + n) / (10 + n)).clamp(max=decay)
    return min(decay, (1 + n) / (10 + n))


def warmup_ema(decay: float) -> MultiAvgFn:
    """The update rule above as an ``AveragedModel`` ``multi_avg_fn``.

    ``AveragedModel`` passes ``num_averaged``, the updates so far including the initial copy, so
    the ``n``-th optimiser step arrives with ``num_averaged == n``. The decay stays a tensor on the
    parameters' device: no host synchronisation per step on a GPU.
    """
    if not 0.0 < decay < 1.0:
        raise ValueError(f"decay must be in (0, 1), got {decay}")

    @torch.no_grad()
    def update(
        averaged: list[torch.Tensor],
        current: list[torch.Tensor],
        num_averaged: torch.Tensor,
    ) -> None:
        weight = 1.0 - warmup_decay(decay, num_averaged.to(averaged[0].dtype))
        # theta_avg += (1 - decay_n) * (theta - theta_avg)
        torch._foreach_lerp_(averaged, current, weight)

    return update


def weight_average(model: nn.Module, decay: float) -> AveragedModel:
    """An :class:`~torch.optim.swa_utils.AveragedModel` of ``model`` with the warm-up EMA above.

    Call ``average.update_parameters(model)`` after every optimiser step; ``average.module`` is the
    averaged network (evaluate it, or copy its ``state_dict`` into ``model``).
    """
    average = AveragedModel(model, multi_avg_fn=warmup_ema(decay))
    average.requires_grad_(False)
    average.update_parameters(model)  # start at the initial weights
    return average
