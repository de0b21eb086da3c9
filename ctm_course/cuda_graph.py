"""A whole train step captured once as a CUDA graph, then replayed: one launch instead of thousands.

A CTM tick is dozens of small kernels; a train step at T ticks is thousands of them (forward and
backward), so on a GPU the eager step is bound by the time Python and the driver need to *launch*
kernels, not by the GPU. A CUDA graph records the launches of one step (forward, loss, backward,
gradient clipping, optimiser step) once and replays them with a single call (PyTorch's
"whole-network capture", https://pytorch.org/docs/stable/notes/cuda.html#cuda-graphs).

What a captured step needs, and what :class:`GraphedTrainStep` takes care of:

- inputs of a fixed shape at fixed addresses: each batch is copied into static buffers;
- no host synchronisation inside the step (no ``.item()``, no data-dependent shapes): metrics are
  returned as tensors and read after the replay;
- an optimiser built with ``capturable=True`` and a tensor learning rate (so that a schedule can
  change it between replays): :func:`capturable_adamw`;
- a few eager warm-up steps on a side stream before the capture (they are real training steps).

If the capture fails (an op that cannot be captured, a ``.item()`` in the step), the step falls back
to eager execution with a printed note, so a lesson never breaks because of this optimisation.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import torch
from torch import nn

LossAndMetrics = Callable[[nn.Module, Any], "tuple[torch.Tensor, Mapping[str, Any]]"]


def capturable_adamw(
    params,
    lr: float,
    weight_decay: float = 0.0,
    device: torch.device | str = "cuda",
    **kwargs: Any,
) -> torch.optim.AdamW:
    """AdamW that can be captured in a CUDA graph: ``capturable=True`` and the learning rate as a device tensor."""
    return torch.optim.AdamW(
        params,
        lr=torch.tensor(lr, device=device),
        weight_decay=weight_decay,
        capturable=True,
        **kwargs,
    )


def _map(batch: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``fn`` applied to every tensor of a batch: a tensor, tuple, list, dict or dataclass of them."""
    if isinstance(batch, torch.Tensor):
        return fn(batch)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_map(b, fn) for b in batch)
    if isinstance(batch, dict):
        return {k: _map(v, fn) for k, v in batch.items()}
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        return dataclasses.replace(
            batch,
            **{
                f.name: _map(getattr(batch, f.name), fn)
                for f in dataclasses.fields(batch)
                if f.init
            },
        )
    if batch is None or isinstance(batch, (bool, int, float, str)):
        return batch
    raise TypeError(
        f"a CUDA-graphed step cannot copy a batch of type {type(batch).__name__}"
    )


def _copy_into(static: Any, batch: Any) -> None:
    """Copy every tensor of ``batch`` into the same place of ``static`` (the captured inputs)."""
    if isinstance(static, torch.Tensor):
        if static.shape != batch.shape:
            raise ValueError(
                f"a CUDA-graphed step needs batches of one shape: captured {tuple(static.shape)}, "
                f"got {tuple(batch.shape)}"
            )
        static.copy_(batch, non_blocking=True)
    elif isinstance(static, (tuple, list)):
        for s, b in zip(static, batch):
            _copy_into(s, b)
    elif isinstance(static, dict):
        for k in static:
            _copy_into(static[k], batch[k])
    elif dataclasses.is_dataclass(static):
        for f in dataclasses.fields(static):
            _copy_into(getattr(static, f.name), getattr(batch, f.name))


class GraphedTrainStep:
    """``step(batch) -> (loss, metrics)``: forward, loss, backward, clipping and optimiser step.

    Args:
        model: the module being trained (on a CUDA device).
        optimizer: built with ``capturable=True`` (see :func:`capturable_adamw`).
        loss_and_metrics: ``(model, batch) -> (scalar loss, {name: tensor})``, free of host synchronisation.
        grad_clip: clip the global gradient norm to this value (``None``: no clipping).
        warmup: eager steps (on a side stream) before the capture; they train like any other step.

    The returned tensors live in the graph's memory and are overwritten by the next call: read them
    (``float(loss)``) before calling again.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_and_metrics: LossAndMetrics,
        grad_clip: float | None = None,
        warmup: int = 3,
    ):
        if not torch.cuda.is_available():
            raise RuntimeError(
                "GraphedTrainStep needs a CUDA device; use an eager step on the CPU"
            )
        if not all(group.get("capturable", False) for group in optimizer.param_groups):
            raise ValueError(
                "the optimiser must be built with capturable=True (see capturable_adamw)"
            )
        self.model, self.optimizer, self.loss_and_metrics = (
            model,
            optimizer,
            loss_and_metrics,
        )
        self.grad_clip, self.warmup = grad_clip, warmup
        self.device = next(model.parameters()).device
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager = False  # set when the capture failed
        self.calls = 0
        self._static_batch: Any = None
        self._static_out: tuple[torch.Tensor, Mapping[str, Any]] | None = None

    def _step_body(self, batch: Any) -> tuple[torch.Tensor, Mapping[str, Any]]:
        loss, metrics = self.loss_and_metrics(self.model, batch)
        loss.backward()
        if self.grad_clip:
            nn.utils.clip_grad_norm_(
                self.model.parameters(), self.grad_clip, foreach=True
            )
        self.optimizer.step()
        return loss.detach(), {
            k: (v.detach() if isinstance(v, torch.Tensor) else v)
            for k, v in metrics.items()
        }

    def _eager(self, batch: Any) -> tuple[torch.Tensor, Mapping[str, Any]]:
        self.optimizer.zero_grad(set_to_none=True)
        return self._step_body(batch)

    def _capture(self, batch: Any) -> None:
        self._static_batch = _map(batch, lambda t: t.clone())
        # gradients are then allocated (not accumulated) in the graph
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._static_out = self._step_body(self._static_batch)
        self.graph = graph

    def __call__(self, batch: Any) -> tuple[torch.Tensor, Mapping[str, Any]]:
        batch = _map(batch, lambda t: t.to(self.device, non_blocking=True))
        self.calls += 1
        if self.eager:
            return self._eager(batch)
        if self.graph is None and self.calls <= self.warmup:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = self._eager(batch)
            torch.cuda.current_stream().wait_stream(side)
            return out
        if self.graph is None:
            try:
                self._capture(batch)
            except Exception as error:  # noqa: BLE001 - any capture failure falls back to eager steps
                self.eager, self.graph = True, None
                torch.cuda.synchronize()
                print(
                    f"CUDA graph capture failed ({type(error).__name__}: {str(error).splitlines()[0][:160]}); "
                    "training continues with eager steps."
                )
                return self._eager(batch)
        else:
            _copy_into(self._static_batch, batch)
        self.graph.replay()
        assert self._static_out is not None
        return self._static_out
