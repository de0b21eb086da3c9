"""A CTM that reconstructs windows of a multivariate time series, with a certainty that means something.

Shapes: B windows, C channels, W time steps per window, T internal ticks.

    x (B, C, W) --TemporalBackbone--> features (B, d, W) --+ 1-D rotational position--> W tokens
    --ContinuousThoughtMachine (backbone 'none')--> per tick: W*C reconstructed values + 1 log-variance

Certainty. The CTM's own certainty, ``1 - normalised entropy of a softmax``, assumes its output is a
probability distribution over classes. A reconstruction is a vector of real numbers, so a softmax over
it measures nothing (the seed notebook's mistake). Here the CTM predicts, at every tick, one extra
number: the log-variance ``log s^2`` of its own reconstruction error. It is trained with the Gaussian
negative log-likelihood ``0.5 * (mse / s^2 + log s^2)``, which is smallest when ``s^2`` equals the
error the model actually makes; the certainty at a tick is then ``1 / (1 + s^2)``: 1 when the model
expects a perfect reconstruction, 0.5 when it expects an error as large as the signal's variance.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from ..ctm import ContinuousThoughtMachine
from ..ctm.backbones import RotationalEmbedding1D
from ..evaluate import batched
from ..losses import two_tick_selection

LOG_VAR_BOUND = 6.0
"""The predicted log-variance is squashed smoothly into (-6, 6): variances from 0.0025 to 400."""


class TemporalBackbone(nn.Module):
    """Two 1-D convolutions along time: ``(B, C, W) -> (B, d, W)``, one feature vector per time step.

    Each output step sees 1 + 4 + 8 = 13 input steps (kernel 5, then kernel 5 with dilation 2).
    """

    def __init__(self, channels: int, d: int, kernel: int = 5):
        super().__init__()
        if channels < 1 or d < 1:
            raise ValueError(f"channels and d must be >= 1, got {channels}, {d}")
        self.net = nn.Sequential(
            nn.Conv1d(channels, d, kernel, padding=kernel // 2),
            nn.GELU(),
            nn.Conv1d(d, d, kernel, padding=2 * (kernel // 2), dilation=2),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def regression_certainty(log_var: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` predicted log-variances -> ``(B, 2, T)`` certainties in the CTM's layout.

    Index 1 is the certainty ``c = 1 / (1 + s^2) = sigmoid(-log s^2)``, index 0 is ``1 - c``.
    """
    c = torch.sigmoid(-log_var)
    return torch.stack((1 - c, c), dim=1)


class ReconstructionCTM(nn.Module):
    """The one :class:`ContinuousThoughtMachine`, wrapped to reconstruct ``(B, C, W)`` windows.

    Args:
        channels: C.
        window: W.
        d_backbone: width of the temporal backbone's features (the CTM's ``d_backbone``).
        ctm: the CTM's arguments (``iterations``, ``d_model``, ``d_input``, ``heads``, ...). ``backbone_type``,
            ``positional_embedding_type``, ``out_dims`` and ``d_backbone`` are set here.

    ``forward(x)`` returns ``(reconstructions (B, C, W, T), certainties (B, 2, T), log_var (B, T))``;
    ``forward(x, track=True)`` adds the CTM's :class:`~ctm_course.ctm.tracking.CTMTrack`.
    """

    def __init__(
        self, channels: int, window: int, d_backbone: int, ctm: Mapping[str, Any]
    ):
        super().__init__()
        fixed = {"backbone_type", "positional_embedding_type", "out_dims", "d_backbone"}
        if fixed & set(ctm):
            raise ValueError(
                f"ctm must not set {sorted(fixed & set(ctm))}: ReconstructionCTM sets them"
            )
        self.channels, self.window = channels, window
        self.backbone = TemporalBackbone(channels, d_backbone)
        # the CTM's 'custom-rotational-1d' needs a built-in backbone, so the wrapper adds the position itself
        self.positional_embedding = RotationalEmbedding1D(d_backbone)
        self.ctm = ContinuousThoughtMachine(
            **ctm,
            backbone_type="none",
            positional_embedding_type="none",
            d_backbone=d_backbone,
            out_dims=window * channels + 1,
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, W)`` windows -> ``(B, d, W)`` features tagged with their position in the window."""
        if x.dim() != 3 or x.shape[1:] != (self.channels, self.window):
            raise ValueError(
                f"expected windows (B, {self.channels}, {self.window}), got {tuple(x.shape)}"
            )
        f = self.backbone(x)
        return f + self.positional_embedding(f)

    def forward(self, x: torch.Tensor, track: bool = False):
        out = self.ctm(self.features(x), track=track)
        y = out[0]  # (B, W*C + 1, T)
        B, _, T = y.shape
        reconstructions = y[:, :-1].reshape(B, self.channels, self.window, T)
        # (B, T), smooth bound
        log_var = LOG_VAR_BOUND * torch.tanh(y[:, -1] / LOG_VAR_BOUND)
        certainties = regression_certainty(log_var)
        if track:
            return reconstructions, certainties, log_var, out[2]
        return reconstructions, certainties, log_var


def per_tick_mse(reconstructions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``(B, C, W, T)`` and ``(B, C, W)`` -> ``(B, T)`` mean squared error at every tick."""
    return (reconstructions - targets.unsqueeze(-1)).pow(2).mean(dim=(1, 2))


def reconstruction_loss(
    reconstructions: torch.Tensor,
    log_var: torch.Tensor,
    targets: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-tick Gaussian NLL, then the CTM's two-tick selection: returns ``(loss, t2 (B,))``.

    ``L[b, t] = 0.5 * (mse[b, t] / s^2[b, t] + log s^2[b, t])`` (the constant ``0.5 log 2 pi`` is
    dropped); ``t1`` = the tick with the lowest ``L``, ``t2`` = the most certain tick (smallest
    predicted variance); ``loss = (mean L[t1] + mean L[t2]) / 2``. (The source tutorial trained
    on the last tick instead: ``two_tick_selection(nll, certainty, use_most_certain=False)``.)
    """
    if reconstructions.dim() != 4 or reconstructions.shape[:3] != targets.shape:
        raise ValueError(
            f"expected reconstructions (B, C, W, T) and targets (B, C, W), got "
            f"{tuple(reconstructions.shape)} and {tuple(targets.shape)}"
        )
    if log_var.shape != (reconstructions.shape[0], reconstructions.shape[-1]):
        raise ValueError(
            f"log_var must be (B, T) = {(reconstructions.shape[0], reconstructions.shape[-1])}, "
            f"got {tuple(log_var.shape)}"
        )
    mse = per_tick_mse(reconstructions, targets)
    nll = 0.5 * (mse * torch.exp(-log_var) + log_var)
    return two_tick_selection(nll, regression_certainty(log_var))


def reconstruct(
    model: ReconstructionCTM,
    x: torch.Tensor,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    track: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Run ``model`` in eval mode without gradients on ``(N, C, W)`` windows in batches
    (:func:`ctm_course.evaluate.batched`); everything is returned on the CPU.

    Returns ``(reconstructions (N, C, W, T), certainties (N, 2, T))``. With ``track=True``, like
    ``model(x, track=True)``, also what the CTM does over each window, tick by tick:

    - ``attention (N, T, W)``: the weights of the CTM's single query over the window's W time
      steps at every tick, averaged over the heads (each row sums to 1);
    - ``post_activations (N, T, D)``: the D neurons' post-activations z^t at every tick.
    """
    device = device or next(model.parameters()).device

    def run(windows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = model(windows.to(device), track=track)
        r, c = out[0].cpu(), out[1].cpu()
        if not track:
            return r, c
        attention = out[3].attention.mean(dim=2).squeeze(2)  # (T, B, W)
        return r, c, attention.transpose(0, 1), out[3].post_activations.transpose(0, 1)

    outputs = batched(model, x, run, batch_size)
    return tuple(torch.cat(parts) for parts in zip(*outputs))


def errors_at(
    reconstructions: torch.Tensor, targets: torch.Tensor, ticks: torch.Tensor | int
) -> np.ndarray:
    """Squared error per window and step at one tick per window: ``(N, C, W, T)``, ``(N, C, W)``, ``(N,)`` or an
    int -> ``(N, W)`` (mean over channels)."""
    N = len(targets)
    if isinstance(ticks, int):
        ticks = torch.full((N,), ticks % reconstructions.shape[-1], dtype=torch.long)
    chosen = reconstructions[torch.arange(N), :, :, ticks]  # (N, C, W)
    return (chosen - targets).pow(2).mean(dim=1).numpy()
