"""Training and evaluation of CIFAR-10 classifiers: the course's ``fit`` with the Keras pipeline.

Every batch is augmented on the training device in a few batched operations
(:func:`ctm_course.data.cifar10.keras_train_transform`), the forward pass runs under bf16
autocast on CUDA, and ``fit`` reads numbers back only every ``log_every`` steps, checkpoints,
resumes exactly and, on a GPU, replays each step as one CUDA graph (the TLB's chunk loop is
many small kernels: launch-bound without it).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..data.cifar10 import keras_train_transform, test_transform
from ..data.image_data import ImageData
from ..data.loader import InfiniteBatches
from ..evaluate import batched
from ..precision import autocast
from ..train import TrainConfig, TrainResult, fit

OnLog = Callable[[int, Mapping[str, float], "Mapping[str, float] | None"], None]


def evaluate_accuracy(
    model: nn.Module,
    data: ImageData,
    image_size: int,
    batch_size: int = 1000,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``model`` on all of ``data`` (test pipeline: resize only).

    The model runs in eval mode without gradients (:func:`ctm_course.evaluate.batched`), under
    ``amp_dtype`` autocast; the sums stay on the device until the end (one read-back).
    """
    device = next(model.parameters()).device
    correct = torch.zeros((), device=device)
    loss = torch.zeros((), device=device)

    def run(images: torch.Tensor, labels: torch.Tensor) -> None:
        nonlocal correct, loss
        x = images.to(device, non_blocking=True)
        y = labels.to(device, non_blocking=True)
        with autocast(device, amp_dtype):
            logits = model(test_transform(x, image_size)).float()
        loss += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(-1) == y).sum()

    batched(model, (data.images, data.labels), run, batch_size)
    n = len(data)
    return {"accuracy": correct.item() / n, "loss": loss.item() / n}


def train_classifier(
    model: nn.Module,
    data: ImageData,
    config: TrainConfig,
    *,
    batch_size: int,
    image_size: int,
    resize_to: int | None = None,
    amp_dtype: torch.dtype | None = None,
    adam_eps: float = 1e-7,
    log_every: int = 10,
    evaluate: Callable[[nn.Module], Mapping[str, float]] | None = None,
    on_log: OnLog | None = None,
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` (uint8 images) with cross-entropy, through :func:`ctm_course.train.fit`.

    Each batch is reshuffled per epoch (:class:`ctm_course.data.InfiniteBatches`, last partial batch
    dropped: constant shapes), moved to the model's device and augmented there by
    :func:`keras_train_transform`; the forward pass runs under ``amp_dtype`` autocast (bf16 on CUDA).
    AdamW uses Keras' ``eps=1e-7``. ``fit`` reads loss and accuracy back every ``log_every`` steps (one
    history row each), checkpoints and resumes exactly, and on a GPU replays each step as one CUDA graph.
    ``forward(model, images)``, if given, computes the training logits in place of
    ``model(images)``: the TLB's :meth:`~ctm_course.tlb.TemporalLatentBottleneck.forward_batched`
    (the same logits with fewer sequential block calls).

    Raises:
        ValueError: ``batch_size`` is larger than the data set, or ``checkpoint_every`` or
            ``eval_every`` is not a multiple of ``log_every``.
        FloatingPointError: the loss is not finite (checked at each log step).
    """
    if not 1 <= batch_size <= len(data):
        raise ValueError(
            f"train_classifier: batch_size must be in 1..{len(data)}, got {batch_size}"
        )
    # checks eval/checkpoint vs log_every
    config = replace(config, log_every=log_every, adam_eps=adam_eps)
    device = next(model.parameters()).device

    def step_fn(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
        images, labels = (t.to(device, non_blocking=True) for t in batch)
        # training batches only
        x = keras_train_transform(images, image_size, resize_to)
        with autocast(device, amp_dtype):
            logits = (net(x) if forward is None else forward(net, x)).float()
        loss = F.cross_entropy(logits, labels)
        return loss, {"accuracy": (logits.detach().argmax(-1) == labels).float().mean()}

    batches = InfiniteBatches(data, batch_size, seed=config.seed, device=device)
    return fit(model, batches, step_fn, config, evaluate=evaluate, on_log=on_log)
