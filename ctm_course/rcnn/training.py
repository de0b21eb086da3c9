"""Training and evaluation of the recurrent CNN on freshly generated stimuli.

:class:`SideBySide` trains networks on the same batches (the gain network and its feedforward
control). The lesson and the command-line run (:mod:`ctm_course.rcnn.run`, which adds a wall-clock budget
through ``TrainConfig.max_seconds``) both train with :func:`ctm_course.train.fit` and
:func:`step_fn`: checkpoints, resume, live curves, and on a GPU each step replayed as one CUDA graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..evaluate import batched
from ..precision import autocast, autocast_dtype
from ..train import TrainConfig, TrainResult, fit
from .model import RecurrentCNN
from .stimuli import Stimuli


def memory_format(device) -> torch.memory_format:
    """``channels_last`` (faster convolutions on CPUs and GPUs for this model)."""
    return torch.channels_last


def prepare(images: torch.Tensor, device) -> torch.Tensor:
    """``(B, 1, H, W)`` images moved to ``device`` (non-blocking) in :func:`memory_format`."""
    return images.to(device, non_blocking=True).contiguous(
        memory_format=memory_format(device)
    )


class SideBySide(nn.Module):
    """Networks trained side by side on the same batches, e.g.
    ``SideBySide(gain=RecurrentCNN(4), feedforward=RecurrentCNN(4, lateral=False, topdown=False))``.

    They share nothing but the data: :func:`step_fn` minimises the sum of their losses, and each
    network's weights receive only the gradient of its own loss, so with an optimiser that treats
    every weight on its own (Adam, AdamW without a global gradient-norm clip) each trains exactly as
    it would alone on the same batches. The first network is the main one: :func:`step_fn` names
    its batch accuracy ``accuracy`` and prefixes the others' metrics with their names.
    """

    def __init__(self, **networks: RecurrentCNN):
        super().__init__()
        if not networks:
            raise ValueError("SideBySide needs at least one network, e.g. gain=...")
        self.networks = nn.ModuleDict(networks)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.networks)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{name: log-probabilities (B, 20)}`` of every network on ``x`` ``(B, 1, 100, 100)``."""
        return {name: net(x) for name, net in self.networks.items()}


PAPER_TRAINING_IMAGES = 300_000 * 32
"""The images the paper's networks trained on: 300,000 steps of batch 32, each freshly drawn."""


def paper_budget_share(steps: int, batch_size: int) -> float:
    """The fraction of the paper's training images that ``steps`` batches of ``batch_size`` see."""
    return steps * batch_size / PAPER_TRAINING_IMAGES


def gain_and_control(n_feats: int, t_steps: int, device="cpu") -> SideBySide:
    """The lesson's pair: the gain network 0111 (``gain``) and its feedforward control B without
    flows (``feedforward``), built in that order (so that after ``seed_everything(seed)`` they start
    from the lesson's weights for that seed), on ``device`` in :func:`memory_format`."""
    return SideBySide(
        gain=RecurrentCNN(n_feats, t_steps),
        feedforward=RecurrentCNN(n_feats, t_steps, lateral=False, topdown=False),
    ).to(device, memory_format=memory_format(device))


def start_from_feedforward(
    gain: RecurrentCNN, feedforward: RecurrentCNN
) -> RecurrentCNN:
    """Give ``gain`` the feedforward sweep of ``feedforward`` and set its recurrent flows to zero.

    ``gain`` receives conv1, conv2, fc1 and the readout fc2 of ``feedforward`` (a network without
    flows, the paper's B, of the same ``n_feats`` and ``t_steps``), and every weight and bias of
    its flows is set to 0. With every flow at zero each gain factor is 1 + G = 1 and each bias 0,
    so ``gain`` computes exactly what ``feedforward`` computes: the same log-probabilities
    ``(B, 20)``. Training then moves the flows away from zero, since their weights still receive
    gradients (dL/dW = dL/dG times the flow's source). Returns ``gain``.
    """
    if feedforward.connections:
        raise ValueError(
            f"feedforward must be a network without recurrent flows (B), got {feedforward.name} "
            f"with {len(feedforward.connections)} connections"
        )
    sizes = (gain.n_feats, gain.t_steps), (feedforward.n_feats, feedforward.t_steps)
    if sizes[0] != sizes[1]:
        raise ValueError(
            f"the networks differ in (n_feats, t_steps): gain {sizes[0]}, "
            f"feedforward {sizes[1]}"
        )
    with torch.no_grad():
        for name in ("conv1", "conv2", "fc1", "fc2"):
            for key, value in getattr(feedforward, name).state_dict().items():
                getattr(getattr(gain, name), key).copy_(value)
        for name, _, _, _ in gain.connections:
            for branch in gain.branches:
                for parameter in getattr(gain, name + branch).parameters():
                    parameter.zero_()
    return gain


def feedforward_first(
    gain: RecurrentCNN,
    feedforward: RecurrentCNN,
    batches,
    config: TrainConfig,
    evaluate=None,
    on_log=None,
) -> TrainResult:
    """Phase one of the course's CPU recipe: ``feedforward`` (B) trains alone on ``batches`` with
    :func:`step_fn` (:func:`ctm_course.train.fit` with ``config``; its metrics are named as in
    phase two, ``feedforward_loss`` and ``feedforward_accuracy``), then ``gain`` starts from it
    (:func:`start_from_feedforward`). ``batches`` go on from where phase one left them, so phase
    two, both networks side by side, trains on the batches that follow. Returns phase one's
    result. A B step costs about a tenth of a gain-network step on a CPU."""
    result = fit(
        feedforward,
        batches,
        step_fn,
        config,
        evaluate=evaluate,
        on_log=None
        if on_log is None
        else lambda step, row, ev: on_log(step, as_feedforward(row), ev),
    )
    result.history["train"] = [as_feedforward(row) for row in result.history["train"]]
    start_from_feedforward(gain, feedforward)
    return result


def as_feedforward(row: dict[str, float]) -> dict[str, float]:
    """A history row of B trained alone, with its loss and accuracy named as when it trains beside
    the gain network (``feedforward_loss``, ``feedforward_accuracy``)."""
    names = {"loss": "feedforward_loss", "accuracy": "feedforward_accuracy"}
    return {names.get(key, key): value for key, value in row.items()}


def joined_history(
    first: TrainResult | None, second: TrainResult
) -> dict[str, list[dict[str, float]]]:
    """The two phases' histories as one: phase one's rows (B alone, :func:`feedforward_first`),
    then phase two's with their steps counted on from phase one's last."""
    if first is None:
        return second.history
    offset = first.steps
    return {
        part: first.history[part]
        + [{**row, "step": row["step"] + offset} for row in second.history[part]]
        for part in ("train", "eval")
    }


def step_fn(model: RecurrentCNN | SideBySide, batch: Stimuli, bf16: bool | None = None):
    """One training step for :func:`ctm_course.train.fit`: NLL of the category, and the batch accuracy.

    For a :class:`SideBySide`, the sum of the networks' losses; ``accuracy`` is the first network's,
    ``<name>_loss`` and ``<name>_accuracy`` the others'. ``bf16`` (default: on CUDA) runs the
    forward pass under bf16 autocast; the loss is taken in float32.
    """
    device = next(model.parameters()).device
    dtype = autocast_dtype(device) if bf16 is None else torch.bfloat16 if bf16 else None
    images = prepare(batch.images, device)
    target = batch.labels["category"].to(device)
    with autocast(device, dtype):
        outputs = (
            model(images) if isinstance(model, SideBySide) else {"": model(images)}
        )
    total, metrics = 0.0, {}
    for i, (name, log_probs) in enumerate(outputs.items()):
        log_probs = log_probs.float()
        loss = F.nll_loss(log_probs, target)
        # a tensor: no host sync
        hits = (log_probs.detach().argmax(1) == target).float().mean()
        total = total + loss
        if i == 0:
            metrics["accuracy"] = hits
        else:
            metrics[f"{name}_loss"], metrics[f"{name}_accuracy"] = loss.detach(), hits
    return total, metrics


def eval_batch_size(device) -> int:
    """Images per forward pass when evaluating: 64 on a CPU (small batches stay in cache, which made
    evaluation about 1.7x faster than batches of 250), 500 on a GPU."""
    return 64 if torch.device(device).type == "cpu" else 500


def predict(
    model: RecurrentCNN, images: torch.Tensor, batch_size: int | None = None
) -> torch.Tensor:
    """The predicted category of each of ``images`` ``(N, 1, 100, 100)``: ``(N,)`` int64 on the model's device.

    The model runs in eval mode without gradients (:func:`ctm_course.evaluate.batched`) on batches that
    :func:`prepare` moves (``channels_last``); ``batch_size`` defaults to :func:`eval_batch_size`."""
    device = next(model.parameters()).device
    batch_size = batch_size or eval_batch_size(device)
    return torch.cat(
        batched(
            model, images, lambda x: model(prepare(x, device)).argmax(1), batch_size
        )
    )


def accuracy(
    model: RecurrentCNN,
    stimuli: Stimuli,
    batch_size: int | None = None,
    clean: bool = True,
) -> tuple[float, float | None]:
    """Category accuracy on the cluttered images and on their clean twins (``None`` with ``clean=False``,
    which halves the work, e.g. for evaluations during training).

    ``batch_size`` defaults to :func:`eval_batch_size`."""
    labels = stimuli.labels["category"].to(next(model.parameters()).device)

    def score(images: torch.Tensor) -> float:
        return (predict(model, images, batch_size) == labels).float().mean().item()

    return score(stimuli.images), (score(stimuli.clean) if clean else None)
