"""Training and evaluation of the recurrent CNN on freshly generated stimuli.

The lesson trains with :func:`ctm_course.train.fit` (checkpoints, resume, live curves) and
:func:`step_fn`; :func:`train_for_seconds` is the lean loop of the command-line run
(:mod:`ctm_course.rcnn.run`): a wall-clock budget, no host synchronisation in the step, bf16
autocast on a GPU, a learning rate that follows the elapsed fraction of the budget.
"""
from __future__ import annotations

import math
import time
from typing import Iterator

import torch
import torch.nn.functional as F

from .model import RecurrentCNN
from .stimuli import Stimuli


def memory_format(device) -> torch.memory_format:
    """``channels_last`` (faster convolutions on CPUs and GPUs for this model)."""
    return torch.channels_last


def prepare(images: torch.Tensor, device) -> torch.Tensor:
    return images.to(device, non_blocking=True).contiguous(memory_format=memory_format(device))


def step_fn(model: RecurrentCNN, batch: Stimuli):
    """One training step for :func:`ctm_course.train.fit`: NLL of the category, and the batch accuracy."""
    device = next(model.parameters()).device
    log_probs = model(prepare(batch.images, device))
    target = batch.labels["category"].to(device)
    loss = F.nll_loss(log_probs, target)
    return loss, {"accuracy": (log_probs.detach().argmax(1) == target).float().mean()}  # a tensor: no host sync


@torch.no_grad()
def accuracy(model: RecurrentCNN, stimuli: Stimuli, batch_size: int = 250) -> tuple[float, float]:
    """Category accuracy on the cluttered images and on their clean twins."""
    device = next(model.parameters()).device
    model.eval()
    hits = torch.zeros(2, device=device)
    for start in range(0, len(stimuli), batch_size):
        part = stimuli[start:start + batch_size]
        y = part.labels["category"].to(device)
        for i, images in enumerate((part.images, part.clean)):
            hits[i] += (model(prepare(images, device)).argmax(1) == y).sum()
    cluttered, clean = (hits / len(stimuli)).tolist()
    return cluttered, clean


def time_lr(fraction: float, warmup: float = 0.02, floor: float = 0.05) -> float:
    """Learning-rate factor at ``fraction`` of the time budget: linear warm-up, then cosine to ``floor``."""
    if fraction < warmup:
        return (fraction + 1e-3) / warmup
    progress = min(1.0, (fraction - warmup) / (1 - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def train_for_seconds(model: RecurrentCNN, batches: Iterator[Stimuli], seconds: float, lr: float = 1e-3,
                      max_steps: int | None = None, log_every: int = 100, bf16: bool | None = None,
                      verbose: bool = True) -> dict:
    """Train until ``seconds`` of wall time (or ``max_steps``) have passed; returns steps, seconds and losses.

    The loss is read back every ``log_every`` steps only (no host synchronisation per step).
    ``bf16`` (default: on CUDA) runs the forward pass under bf16 autocast.
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    device = next(model.parameters()).device
    bf16 = device.type == "cuda" if bf16 is None else bf16
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses, steps = [], 0
    running = torch.zeros((), device=device)
    start = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - start
        if elapsed >= seconds or (max_steps is not None and steps >= max_steps):
            break
        for group in optimizer.param_groups:
            group["lr"] = lr * time_lr(elapsed / seconds)
        batch = next(batches)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            log_probs = model(prepare(batch.images, device))
        loss = F.nll_loss(log_probs.float(), batch.labels["category"].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running += loss.detach()
        steps += 1
        if steps % log_every == 0:
            mean = (running / log_every).item()  # the only synchronisation, every log_every steps
            running.zero_()
            if not math.isfinite(mean):
                raise FloatingPointError(f"the loss became {mean} at step {steps}; try a smaller lr (now {lr:g})")
            losses.append({"step": steps, "seconds": round(time.perf_counter() - start, 2), "loss": mean})
            if verbose:
                print(f"step {steps:6d}  {losses[-1]['seconds']:7.1f} s  loss {mean:.3f}", flush=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    model.eval()
    return {"steps": steps, "seconds": time.perf_counter() - start, "losses": losses}
