"""A transposed convolution computed as a small convolution followed by a pixel shuffle.

The recurrent CNN's top-down flows upsample with large strides (conv2 -> conv1: kernel 16, stride 10;
conv2 -> input: kernel 20, stride 10; conv1 -> input: kernel 7, stride 3). On a CPU, PyTorch runs
such a ``ConvTranspose2d`` through a slow generic path: on 2 cores the three flows took about a
third of a training step. The same map can be written with fast kernels only. With stride ``s``,
kernel ``K`` and ``q = ceil(K / s)``, output pixel ``o = j * s + b`` (``0 <= b < s``) receives

    y[j * s + b] = sum_{a < q} x[j - a] * w[a * s + b]        (w padded with zeros to q * s taps)

which, for every offset ``b``, is an ordinary ``q x q`` convolution of ``x`` (padded by ``q - 1``)
with the flipped kernel taps ``w[(q - 1 - a) * s + b]``. So one ``conv2d`` with ``C_out * s * s`` output
channels, then ``pixel_shuffle(s)`` and a crop to ``(H - 1) * s + K`` give the transposed convolution
exactly (up to float rounding), forward and backward.

:class:`ShuffleConvTranspose2d` is an ``nn.ConvTranspose2d`` (same parameters, same state_dict) that
takes this route on the CPU; on other devices it calls the library kernel (cuDNN is fast there).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def conv_transpose_by_shuffle(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int
) -> torch.Tensor:
    """``F.conv_transpose2d(x, weight, bias, stride)`` (no padding, dilation or groups) via conv2d + pixel shuffle.

    Args:
        x: ``(B, C_in, H, W)``.
        weight: ``(C_in, C_out, K_h, K_w)``, the layout of ``nn.ConvTranspose2d``.
        bias: ``(C_out,)`` or None.
        stride: the same stride ``s`` along both axes.

    Returns ``(B, C_out, (H - 1) * s + K_h, (W - 1) * s + K_w)``.
    """
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[0]:
        raise ValueError(
            f"x (B, C_in, H, W) and weight (C_in, C_out, K_h, K_w) do not fit: "
            f"{tuple(x.shape)} and {tuple(weight.shape)}"
        )
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    c_in, c_out, k_h, k_w = weight.shape
    s = stride
    q_h, q_w = math.ceil(k_h / s), math.ceil(k_w / s)
    # taps a * s + b -> (a, b); flip a so that a plain (cross-correlating) conv2d sums x[j - a] * w[a * s + b]
    w = (
        F.pad(weight, (0, q_w * s - k_w, 0, q_h * s - k_h))
        .view(c_in, c_out, q_h, s, q_w, s)
        .flip(2, 4)
    )
    # channel (c_out, b_h, b_w)
    w = w.permute(1, 3, 5, 0, 2, 4).reshape(c_out * s * s, c_in, q_h, q_w)
    b = bias.repeat_interleave(s * s) if bias is not None else None
    y = F.pixel_shuffle(F.conv2d(x, w, b, padding=(q_h - 1, q_w - 1)), s)
    return y[:, :, : (x.shape[2] - 1) * s + k_h, : (x.shape[3] - 1) * s + k_w]


class ShuffleConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` that runs :func:`conv_transpose_by_shuffle` on the CPU (measured 1.5-7x faster
    there for the recurrent CNN's flows, forward and backward); elsewhere, and for padding, dilation,
    groups or unequal strides it is the plain module."""

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        plain = (
            x.device.type != "cpu"
            or output_size is not None
            or self.groups != 1
            or self.stride[0] != self.stride[1]
            or any(self.padding)
            or any(self.output_padding)
            or self.dilation != (1, 1)
            or self.padding_mode != "zeros"
        )
        if plain:
            return super().forward(x, output_size)
        return conv_transpose_by_shuffle(x, self.weight, self.bias, self.stride[0])
