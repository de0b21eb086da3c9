"""An exponential moving average of a model's weights (a cousin of Polyak averaging, which takes their plain mean).

With a constant learning rate the weights keep jumping around the bottom of the valley they
have reached; their running average sits closer to its floor, and it usually generalises better
than the last iterate, at no cost in training steps. After optimiser step ``n`` the average moves
towards the current weights,

    theta_avg <- decay_n * theta_avg + (1 - decay_n) * theta,    decay_n = min(decay, (1 + n) / (10 + n))

where the warm-up ``(1 + n) / (10 + n)`` keeps a short run from remembering its random
initialisation (after 1 step the average is 80 % the new weights; ``decay`` is reached after
``(10 * decay - 1) / (1 - decay)`` steps, about 1,800 for 0.995). Buffers are copied, not averaged.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

import torch
from torch import nn


class WeightAverage:
    """The moving average of ``model``'s parameters, kept in ``self.module`` (a frozen copy of ``model``).

    Args:
        model: the network being trained.
        decay: the largest per-step decay (0 < decay < 1); the average spans about ``1 / (1 - decay)`` steps.
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.module = copy.deepcopy(model).requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next :meth:`update` will use."""
        n = self.updates + 1
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current parameters (call after each optimiser step)."""
        averaged, current = list(self.module.parameters()), list(model.parameters())
        if len(averaged) != len(current):
            raise ValueError("model does not have the parameters of the averaged copy")
        torch._foreach_lerp_(averaged, current, 1.0 - self.current_decay())  # avg += (1 - d) * (theta - avg)
        for mine, theirs in zip(self.module.buffers(), model.buffers()):
            mine.copy_(theirs)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}  # the decay comes from the caller

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
