"""A small, honest training loop: progress bar, live curves, periodic evaluation, checkpoints, resume.

``fit`` knows nothing about CTMs: it takes a model, an endless resumable batch source, a
``step_fn(model, batch) -> (loss, metrics)`` and an optional ``evaluate(model) -> metrics``.
A run interrupted anywhere (a Colab disconnect, a kernel restart) resumes from its last
checkpoint with the same model, optimiser, schedule, batch order and random state.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol

import numpy as np
import torch
from torch import nn

from .averaging import weight_average
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .cuda_graph import GraphedTrainStep, capturable_adamw

StepFn = Callable[[nn.Module, Any], "tuple[torch.Tensor, Mapping[str, float]]"]
EvalFn = Callable[[nn.Module], Mapping[str, float]]
OnLog = Callable[[int, Mapping[str, float], "Mapping[str, float] | None"], None]


class ResumableBatches(Protocol):
    def __iter__(self) -> Iterator[Any]: ...
    def __next__(self) -> Any: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: Mapping) -> None: ...


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def _every(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{name} must be >= 1 (or None), got {value}")


@dataclass
class TrainConfig:
    """What ``fit`` needs to know. ``checkpoint_path=None`` disables checkpoints.

    ``eval_every`` / ``checkpoint_every`` set to ``None`` evaluate / checkpoint only after the last step.
    """

    steps: int
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    # "cosine" (to 1% of lr) or "constant", after the linear warm-up
    schedule: str = "cosine"
    grad_clip: float | None = None  # global gradient-norm clip
    eval_every: int | None = 500
    checkpoint_every: int | None = 500
    checkpoint_path: str | Path | None = None
    seed: int = 0
    progress: bool = True
    cuda_graph: bool = True  # on a CUDA device, replay each step as one captured graph (ctm_course.cuda_graph)
    log_every: int = 1  # read loss and metrics back to the host every N steps (one history row, their means)
    adam_eps: float = 1e-8  # AdamW's epsilon (Keras uses 1e-7)
    # a wall-clock budget: stop when it is spent (or after `steps`, if sooner)
    max_seconds: float | None = None
    # evaluate and return a moving average of the weights (ctm_course.averaging)
    ema_decay: float | None = None

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.warmup_steps:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(
                f"schedule must be 'cosine' or 'constant', got {self.schedule!r}"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(
                f"grad_clip must be > 0 (or None for no clipping), got {self.grad_clip}"
            )
        if not self.adam_eps > 0:
            raise ValueError(f"adam_eps must be > 0, got {self.adam_eps}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(
                f"ema_decay must be in (0, 1) (or None), got {self.ema_decay}"
            )
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(
                f"max_seconds must be > 0 (or None), got {self.max_seconds}"
            )
        if self.log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {self.log_every}")
        for name in ("eval_every", "checkpoint_every"):
            every = getattr(self, name)
            _every(name, every)
            if every is not None and every % self.log_every:
                raise ValueError(
                    f"{name} ({every}) must be a multiple of log_every ({self.log_every})"
                )


@dataclass
class TrainResult:
    """What a run produced. ``history['train']`` has one row per log, ``history['eval']`` one per evaluation."""

    steps: int
    seconds: float
    history: dict[str, list[dict[str, float]]] = field(
        default_factory=lambda: {"train": [], "eval": []}
    )
    resumed_from: int | None = None


def warmup_for(steps: int, warmup_steps: int) -> int:
    """The course's one warm-up rule: ``warmup_steps``, but never more than a fifth of a (short) run."""
    return min(warmup_steps, steps // 5)


def lr_factor(step: int, config: TrainConfig, time_fraction: float = 0.0) -> float:
    """Multiplier of the base learning rate at ``step``: linear warm-up, then cosine or constant.

    Without a time budget this is a function of the step alone. With one (``config.max_seconds``)
    the cosine follows whichever is further along, the steps or ``time_fraction`` (the share of the
    budget spent), so that it reaches its floor when training stops: a schedule of steps alone would
    be cut off at a high learning rate on a host slower than the one the budget was chosen on. A
    ``constant`` schedule does not depend on the host at all.
    """
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    progress = max(
        (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps),
        time_fraction,
    )
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _optimizer(
    model: nn.Module, config: TrainConfig, graphed: bool
) -> torch.optim.Optimizer:
    """AdamW: capturable for a CUDA graph, fused on a CPU (one pass over all parameters)."""
    device = next(model.parameters()).device
    if graphed:
        return capturable_adamw(
            model.parameters(),
            config.lr,
            config.weight_decay,
            device,
            eps=config.adam_eps,
        )
    return torch.optim.AdamW(
        model.parameters(),
        lr=config.lr,
        weight_decay=config.weight_decay,
        eps=config.adam_eps,
        fused=device.type == "cpu" or None,
    )


class _Run:
    """The state of one call of :func:`fit`; each method is one part of the loop."""

    def __init__(
        self,
        model: nn.Module,
        batches: ResumableBatches,
        step_fn: StepFn,
        config: TrainConfig,
        evaluate: EvalFn | None,
        on_log: OnLog | None,
    ):
        self.model, self.batches, self.step_fn, self.config = (
            model,
            batches,
            step_fn,
            config,
        )
        self.evaluate_fn, self.on_log = evaluate, on_log
        self.device = next(model.parameters()).device
        # cuDNN's fused RNN kernels are left out of graph capture: an LSTM baseline trains eagerly
        graphed = (
            config.cuda_graph
            and self.device.type == "cuda"
            and not any(isinstance(m, nn.RNNBase) for m in model.modules())
        )
        self.optimizer = _optimizer(model, config, graphed)
        # share of config.max_seconds spent (0 without a budget)
        self.time_fraction = 0.0
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, config, self.time_fraction)
        )
        self.average = (
            weight_average(model, config.ema_decay)
            if config.ema_decay is not None
            else None
        )
        self.result = TrainResult(steps=0, seconds=0.0)
        self.path = Path(config.checkpoint_path) if config.checkpoint_path else None
        self.graph_step = (
            GraphedTrainStep(model, self.optimizer, step_fn, config.grad_clip)
            if graphed
            else None
        )
        self.sums: dict[
            str, torch.Tensor | float
        ] = {}  # loss and metrics summed on the device since the last log
        self.since = 0

    # --- resume and checkpoint -------------------------------------------------------------------
    def resume(self) -> None:
        state = load_checkpoint(self.path)
        try:
            self.restore(state)
        except (KeyError, RuntimeError, TypeError, ValueError) as error:
            raise CheckpointError(
                f"the checkpoint {self.path} belongs to another model or run and cannot "
                f"resume this one ({type(error).__name__}: {str(error)[:300]}). Delete it "
                "(or move it aside) and run again to train from the start."
            ) from error
        r = self.result
        print(
            f"Resumed from checkpoint {self.path.name} at step {r.steps:,} of {self.config.steps:,}."
        )

    def restore(self, state: Mapping[str, Any]) -> None:
        """Model, optimiser, schedule, average, batch position, RNGs and history from ``state``."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        # a capturable optimiser keeps its tensor lr on the device
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"] = group["lr"].to(self.device)
        self.scheduler.load_state_dict(state["scheduler"])
        if self.average is not None:
            self.average.load_state_dict(state["average"])
        self.batches.load_state_dict(state["batches"])
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        r = self.result
        r.steps, r.seconds, r.history = (
            state["step"],
            state["seconds"],
            state["history"],
        )
        r.resumed_from = r.steps

    def checkpoint(self) -> None:
        if self.path is None:
            return
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "batches": self.batches.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "step": self.result.steps,
            "seconds": self.result.seconds,
            "history": self.result.history,
            "config": {k: str(v) for k, v in asdict(self.config).items()},
        }
        if self.average is not None:
            state["average"] = self.average.state_dict()
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        save_checkpoint(self.path, state)

    # --- one optimiser step ----------------------------------------------------------------------
    def step(self, started: float) -> None:
        config = self.config
        # forward, backward, clipping and optimiser step as one CUDA graph
        if self.graph_step is not None:
            loss, metrics = self.graph_step(next(self.batches))
        else:
            loss, metrics = self.step_fn(self.model, next(self.batches))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
            self.optimizer.step()
        if self.average is not None:
            self.average.update_parameters(self.model)
        # the host is at most log_every steps ahead of the device (read-back)
        if config.max_seconds is not None:
            self.time_fraction = (time.perf_counter() - started) / config.max_seconds
        self.scheduler.step()
        self.result.steps += 1
        self.since += 1
        for key, value in {
            "loss": loss,
            **metrics,
        }.items():  # no host sync here: added on the device
            value = value.detach() if isinstance(value, torch.Tensor) else value
            self.sums[key] = self.sums[key] + value if key in self.sums else value

    @property
    def finished(self) -> bool:
        return self.result.steps >= self.config.steps or self.time_fraction >= 1.0

    def due(self, every: int | None) -> bool:
        return self.finished or (every is not None and self.result.steps % every == 0)

    # --- log, evaluate ---------------------------------------------------------------------------
    def log(self) -> dict[str, float]:
        """Read the sums back (the only host sync), check the loss, append one history row."""
        means = {key: float(value) / self.since for key, value in self.sums.items()}
        self.sums, self.since = {}, 0
        if not math.isfinite(means["loss"]):
            raise FloatingPointError(
                f"the loss became {means['loss']} before step {self.result.steps:,}; training stopped. The last "
                f"checkpoint ({self.path or 'none: checkpoints are off'}) holds the last good state. Try a "
                f"smaller lr (now {self.config.lr:g}) or gradient clipping (grad_clip)."
            )
        row = {
            "step": self.result.steps,
            "loss": means.pop("loss"),
            "lr": float(self.scheduler.get_last_lr()[0]),
            **means,
        }
        self.result.history["train"].append(row)
        return row

    def evaluate(self) -> dict[str, float]:
        """``evaluate`` on the averaged weights (with ``ema_decay``) or the model, in eval mode."""
        evaluated_model = (
            self.average.module if self.average is not None else self.model
        )
        evaluated_model.eval()
        with torch.no_grad():
            evaluated = {
                "step": self.result.steps,
                **dict(self.evaluate_fn(evaluated_model)),
            }
        self.model.train()
        self.result.history["eval"].append(evaluated)
        return evaluated


def _postfix(history: dict[str, list[dict[str, float]]]) -> dict[str, str]:
    shown = {
        k: f"{v:.3f}"
        for k, v in history["train"][-1].items()
        if k not in ("step", "lr")
    }
    if history["eval"]:
        shown.update(
            {
                f"eval_{k}": f"{v:.3f}"
                for k, v in history["eval"][-1].items()
                if k != "step"
            }
        )
    return shown


def fit(
    model: nn.Module,
    batches: ResumableBatches,
    step_fn: StepFn,
    config: TrainConfig,
    evaluate: EvalFn | None = None,
    on_log: OnLog | None = None,
) -> TrainResult:
    """Train ``model`` for ``config.steps`` optimiser steps (resuming from ``config.checkpoint_path`` if present),
    or until ``config.max_seconds`` of training time are spent, whichever comes first.

    ``step_fn(model, batch)`` returns the loss and a dict of metrics (tensors or floats); ``fit`` does the
    backward pass and the AdamW step (on a GPU the whole step is replayed as one CUDA graph). Loss and
    metrics are summed on the device and read back every ``config.log_every`` steps: one row of
    ``history['train']`` (their means) and one ``on_log(step, row, evaluated_or_None)`` call per read-back.
    Raises ``FloatingPointError`` (and keeps the last good checkpoint) when the loss is not finite. With
    ``config.ema_decay`` a moving average of the weights (:mod:`ctm_course.averaging`) is what
    ``evaluate`` sees and what ``model`` holds when ``fit`` returns.
    """
    from tqdm.auto import tqdm

    run = _Run(model, batches, step_fn, config, evaluate, on_log)
    seed_everything(config.seed)
    if run.path is not None and run.path.is_file():
        run.resume()
    result = run.result

    model.train()
    bar = tqdm(
        total=config.steps,
        initial=result.steps,
        disable=not config.progress,
        dynamic_ncols=True,
    )
    started = time.perf_counter() - result.seconds
    if config.max_seconds is not None:  # a resumed run continues its budget
        run.time_fraction = result.seconds / config.max_seconds
    try:
        while not run.finished:
            run.step(started)
            bar.update(1)
            if not run.due(config.log_every):
                continue
            row = run.log()
            evaluated = (
                run.evaluate()
                if evaluate is not None and run.due(config.eval_every)
                else None
            )
            result.seconds = time.perf_counter() - started
            if on_log is not None:
                on_log(result.steps, row, evaluated)
            bar.set_postfix(_postfix(result.history), refresh=False)
            if run.due(config.checkpoint_every):
                run.checkpoint()
    finally:
        bar.close()
    if result.steps < config.steps and config.max_seconds is not None:
        print(
            f"Time budget of {config.max_seconds:g} s spent after {result.steps:,} of {config.steps:,} steps."
        )
    # the result of training is the average (the checkpoint keeps both)
    if run.average is not None:
        model.load_state_dict(run.average.module.state_dict())
    model.eval()
    return result
