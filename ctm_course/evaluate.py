"""Run a model over a whole data set in batches: the one evaluation loop, and a CTM's per-tick outputs.

:func:`batched` is the loop every evaluation shares (eval mode, no gradients, the model's mode
restored afterwards); :func:`predict` collects a CTM's predictions and certainties with it.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import torch
from torch import nn

Out = TypeVar("Out")


@torch.no_grad()
def batched(
    model: nn.Module,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    fn: Callable[..., Out],
    batch_size: int,
) -> list[Out]:
    """``fn`` on consecutive batches of ``inputs``, with ``model`` in eval mode and without gradients.

    Args:
        model: switched to eval mode for the loop and back to its former mode afterwards (also on errors).
        inputs: one ``(N, ...)`` tensor, or a tuple of tensors of the same length N sliced together
            (e.g. images and labels).
        fn: called as ``fn(batch)`` (one tensor) or ``fn(*batches)`` (a tuple) on slices of at most
            ``batch_size`` along the first axis, where ``inputs`` live: ``fn`` moves them and runs the model.
        batch_size: items per batch.

    Returns:
        ``fn``'s results, one per batch, in order.

    Raises:
        ValueError: ``batch_size`` < 1, or the tensors of ``inputs`` differ in length.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    several = not isinstance(inputs, torch.Tensor)
    tensors = tuple(inputs) if several else (inputs,)
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(
            f"inputs must have the same length, got {[len(t) for t in tensors]}"
        )
    was_training = model.training
    model.eval()
    try:
        return [
            fn(*(t[start : start + batch_size] for t in tensors))
            for start in range(0, n, batch_size)
        ]
    finally:
        model.train(was_training)


def predict(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int = 500,
    device: torch.device | str | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All predictions and certainties of a CTM-like ``model`` on ``images`` (N, ...): (N, C, T), (N, 2, T).

    Each batch is moved to ``device`` (default: the model's), passed through ``transform`` when given,
    and the model's first two outputs are kept as float32 on the CPU (see :func:`batched`).
    """
    device = device or next(model.parameters()).device

    def run(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.to(device)
        p, c = model(transform(x) if transform is not None else x)[:2]
        return p.float().cpu(), c.float().cpu()

    outputs = batched(model, images, run, batch_size)
    return torch.cat([p for p, _ in outputs]), torch.cat([c for _, c in outputs])
