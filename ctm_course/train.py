"""A small, honest training loop: progress bar, live curves, periodic evaluation, checkpoints, resume.

``fit`` knows nothing about CTMs: it takes a model, an endless resumable batch source, a
``step_fn(model, batch) -> (loss, metrics)`` and an optional ``evaluate(model) -> metrics``.
A run interrupted anywhere (a Colab disconnect, a kernel restart) resumes from its last
checkpoint with the same model, optimiser, schedule, batch order and random state.
"""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol

import numpy as np
import torch
from torch import nn

from .averaging import WeightAverage
from .cuda_graph import GraphedTrainStep, capturable_adamw

StepFn = Callable[[nn.Module, Any], "tuple[torch.Tensor, Mapping[str, float]]"]
EvalFn = Callable[[nn.Module], Mapping[str, float]]


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


@dataclass
class TrainConfig:
    """What ``fit`` needs to know. ``checkpoint_path=None`` disables checkpoints."""

    steps: int
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: str = "cosine"  # "cosine" (to 1% of lr) or "constant", after the linear warm-up
    grad_clip: float | None = None  # global gradient-norm clip
    eval_every: int = 500
    checkpoint_every: int = 500
    checkpoint_path: str | Path | None = None
    seed: int = 0
    progress: bool = True
    cuda_graph: bool = True  # on a CUDA device, replay each step as one captured graph (ctm_course.cuda_graph)
    log_every: int = 1  # read loss and metrics back to the host every N steps (one history row, their means)
    adam_eps: float = 1e-8  # AdamW's epsilon (Keras uses 1e-7)
    max_seconds: float | None = None  # a wall-clock budget: stop when it is spent (or after `steps`, if sooner)
    ema_decay: float | None = None  # keep a moving average of the weights (ctm_course.averaging); the result
    # of training is then the average: it is evaluated, checkpointed, and loaded into the model at the end

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1) (or None), got {self.ema_decay}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0 (or None), got {self.max_seconds}")
        if self.eval_every < 1 or self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("eval_every, checkpoint_every and log_every must be >= 1")
        if self.eval_every % self.log_every or self.checkpoint_every % self.log_every:
            raise ValueError(f"eval_every ({self.eval_every}) and checkpoint_every ({self.checkpoint_every}) must be "
                             f"multiples of log_every ({self.log_every})")


@dataclass
class TrainResult:
    """What a run produced. ``history['train']`` has one row per step, ``history['eval']`` one per evaluation."""

    steps: int
    seconds: float
    history: dict[str, list[dict[str, float]]] = field(default_factory=lambda: {"train": [], "eval": []})
    resumed_from: int | None = None


def lr_factor(step: int, config: TrainConfig, time_fraction: float = 0.0) -> float:
    """Multiplier of the base learning rate at ``step``: linear warm-up, then cosine or constant.

    With a time budget (``config.max_seconds``) the cosine follows whichever is further along, the
    steps or ``time_fraction`` (the share of the budget spent), so it ends when the budget does.
    """
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    progress = max((step - config.warmup_steps) / max(1, config.steps - config.warmup_steps), time_fraction)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _save(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: an interrupted save never leaves a broken checkpoint


def fit(model: nn.Module, batches: ResumableBatches, step_fn: StepFn, config: TrainConfig,
        evaluate: EvalFn | None = None, on_log: Callable[[int, Mapping[str, float], Mapping[str, float] | None], None]
        | None = None, optimizer: torch.optim.Optimizer | None = None) -> TrainResult:
    """Train ``model`` for ``config.steps`` optimiser steps (resuming from ``config.checkpoint_path`` if present),
    or until ``config.max_seconds`` of training time are spent, whichever comes first.

    ``step_fn(model, batch)`` returns the loss and a dict of metrics (tensors or floats); ``fit`` does the
    backward pass and the AdamW step (on a GPU the whole step is replayed as one CUDA graph). Loss and
    metrics are summed on the device and read back every ``config.log_every`` steps: one row of
    ``history['train']`` (their means) and one ``on_log`` call per read-back. Raises ``FloatingPointError``
    (and keeps the last good checkpoint) when the loss is not finite. With ``config.ema_decay`` a moving
    average of the weights (:class:`~ctm_course.averaging.WeightAverage`) is what ``evaluate`` sees and
    what ``model`` holds when ``fit`` returns.
    """
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    # cuDNN's fused RNN kernels are left out of graph capture: an LSTM baseline trains eagerly
    graphed = (config.cuda_graph and device.type == "cuda"
               and not any(isinstance(m, nn.RNNBase) for m in model.modules()))
    if optimizer is None and graphed:
        optimizer = capturable_adamw(model.parameters(), config.lr, config.weight_decay, device, eps=config.adam_eps)
    # on a CPU the fused kernel updates all parameters in one pass (3 % of a step of lesson 5's network)
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                               eps=config.adam_eps, fused=device.type == "cpu" or None)
    graphed = graphed and all(group.get("capturable", False) for group in optimizer.param_groups)
    clock = {"fraction": 0.0}  # share of config.max_seconds spent (0 without a budget)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config, clock["fraction"]))
    average = WeightAverage(model, config.ema_decay) if config.ema_decay is not None else None
    result = TrainResult(steps=0, seconds=0.0)
    path = Path(config.checkpoint_path) if config.checkpoint_path else None
    seed_everything(config.seed)

    if path is not None and path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for group in optimizer.param_groups:  # a capturable optimiser keeps its tensor lr on the device
            if isinstance(group["lr"], torch.Tensor):
                group["lr"] = group["lr"].to(device)
        scheduler.load_state_dict(state["scheduler"])
        if average is not None:
            average.load_state_dict(state["average"])
        batches.load_state_dict(state["batches"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        result.steps, result.seconds, result.history = state["step"], state["seconds"], state["history"]
        result.resumed_from = result.steps
        print(f"Resumed from checkpoint {path.name} at step {result.steps:,} of {config.steps:,}.")

    def checkpoint() -> None:
        if path is not None:
            _save(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "batches": batches.state_dict(),
                         **({"average": average.state_dict()} if average is not None else {}),
                         "torch_rng": torch.get_rng_state(),
                         **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
                         "step": result.steps, "seconds": result.seconds,
                         "history": result.history, "config": {k: str(v) for k, v in asdict(config).items()}})

    model.train()
    step = GraphedTrainStep(model, optimizer, step_fn, config.grad_clip) if graphed else None
    bar = tqdm(total=config.steps, initial=result.steps, disable=not config.progress, dynamic_ncols=True)
    started = time.perf_counter() - result.seconds
    sums: dict[str, torch.Tensor | float] = {}  # loss and metrics summed on the device since the last log
    since = 0
    if config.max_seconds is not None:  # a resumed run continues its budget
        clock["fraction"] = result.seconds / config.max_seconds
    finished = result.steps >= config.steps or clock["fraction"] >= 1.0
    while not finished:
        if step is not None:  # forward, backward, clipping and optimiser step replayed as one CUDA graph
            loss, metrics = step(next(batches))
        else:
            loss, metrics = step_fn(model, next(batches))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
        if average is not None:
            average.update(model)
        if config.max_seconds is not None:  # the host is at most log_every steps ahead of the device (read-back)
            clock["fraction"] = (time.perf_counter() - started) / config.max_seconds
        scheduler.step()
        result.steps += 1
        since += 1
        finished = result.steps >= config.steps or clock["fraction"] >= 1.0
        for key, value in {"loss": loss, **metrics}.items():  # no host sync here: added on the device
            value = value.detach() if isinstance(value, torch.Tensor) else value
            sums[key] = sums[key] + value if key in sums else value
        bar.update(1)
        if result.steps % config.log_every and not finished:
            continue
        means = {key: float(value) / since for key, value in sums.items()}  # the host reads back here only
        sums, since = {}, 0
        if not math.isfinite(means["loss"]):
            bar.close()
            raise FloatingPointError(
                f"the loss became {means['loss']} before step {result.steps:,}; training stopped. The last checkpoint "
                f"({path or 'none: checkpoints are off'}) holds the last good state. Try a smaller lr "
                f"(now {config.lr:g}) or gradient clipping (grad_clip).")
        row = {"step": result.steps, "loss": means.pop("loss"), "lr": float(scheduler.get_last_lr()[0]), **means}
        result.history["train"].append(row)

        evaluated = None
        if evaluate is not None and (result.steps % config.eval_every == 0 or finished):
            evaluated_model = average.module if average is not None else model
            evaluated_model.eval()
            with torch.no_grad():
                evaluated = {"step": result.steps, **dict(evaluate(evaluated_model))}
            model.train()
            result.history["eval"].append(evaluated)
        result.seconds = time.perf_counter() - started
        if on_log is not None:
            on_log(result.steps, row, evaluated)
        shown = {k: f"{v:.3f}" for k, v in row.items() if k not in ("step", "lr")}
        if result.history["eval"]:
            shown.update({f"eval_{k}": f"{v:.3f}" for k, v in result.history["eval"][-1].items() if k != "step"})
        bar.set_postfix(shown, refresh=False)
        if result.steps % config.checkpoint_every == 0 or finished:
            checkpoint()
    bar.close()
    if result.steps < config.steps and config.max_seconds is not None:
        print(f"Time budget of {config.max_seconds:g} s spent after {result.steps:,} of {config.steps:,} steps.")
    if average is not None:  # the result of training is the average (the checkpoint keeps both)
        model.load_state_dict(average.module.state_dict())
    model.eval()
    return result


def _package_digest() -> str:
    """A hash of the ctm_course sources: a checkpoint made by other code is never resumed."""
    import hashlib

    digest = hashlib.sha1()
    for source in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def checkpoint_path(lesson: str, profile_name: str, settings: Mapping[str, Any], folder: str | Path | None = None
                    ) -> Path:
    """``checkpoints/<lesson>-<profile>-<hash>.pt`` for a run with these settings and this package version.

    The hash covers the settings and the package sources, so changing either starts a fresh run,
    while re-running the same notebook (or resuming after a disconnect) picks up where it stopped.
    ``folder`` defaults to ``<repository>/checkpoints`` (``./checkpoints`` outside the repository).
    """
    import hashlib
    import json

    from .results import repo_root

    key = hashlib.sha1((json.dumps(settings, sort_keys=True, default=str) + _package_digest()).encode()).hexdigest()
    if folder is None:
        root = repo_root()
        folder = (root if root is not None else Path.cwd()) / "checkpoints"
    return Path(folder) / f"{lesson}-{profile_name}-{key[:10]}.pt"
