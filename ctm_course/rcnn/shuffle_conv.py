"""A convolution with few channels computed on 2 x 2 pixel blocks (space to depth).

The lateral flow of conv1 (``c1c1``: 4 -> 4 channels, 5 x 5, on 96 x 96 maps in the cpu profile) is
the recurrent CNN's most expensive convolution on a CPU: with 4 channels the library's vectorised
kernels run mostly empty. Regrouping every ``r x r`` block of pixels into channels
(``pixel_unshuffle``) gives the same map with ``C * r * r`` channels on an ``H / r`` grid, where the
same convolution is an ordinary one with ``ceil``-sized kernels. With block size ``r``, output pixel
``o = r * i + a`` (``0 <= a < r``) and tap ``d`` (``0 <= d < K``) read input pixel
``r * i + a - p + d = r * (i - p / r + m) + c`` with ``m, c = divmod(a + d, r)``, so

    Y[(co, a), i] = sum_{ci, c, m} W'[(co, a), (ci, c), m] * X[(ci, c), i - p / r + m]

where ``W'`` holds tap ``w[co, ci, d]`` at ``(a, c, m)`` for ``a + d = m * r + c`` and zeros elsewhere
(``q = (r + K - 2) // r + 1`` taps per axis, 3 for ``K = 5, r = 2``). One ``conv2d`` on the blocks and a
``pixel_shuffle`` give the convolution exactly (up to float rounding), forward and backward; ``W'`` is
gathered from ``w`` on every call, so gradients reach ``w`` itself.

:class:`ShuffleConv2d` is an ``nn.Conv2d`` (same parameters, same state_dict) that takes this route on
the CPU; on other devices, and for strides, dilation, groups or sizes the blocks do not fit, it is the
plain module.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


@functools.lru_cache(maxsize=16)
def block_taps(c_out: int, c_in: int, k: int, r: int) -> torch.Tensor:
    """Index map ``(c_out * r * r, c_in * r * r, q, q)`` of the block kernel into ``w.flatten()`` padded by one
    zero (index ``c_out * c_in * k * k``): where block tap ``(a, c, m)`` takes ``w[co, ci, d]``, ``a + d = m * r + c``."""
    q = (r + k - 2) // r + 1
    zero = c_out * c_in * k * k
    index = torch.full((c_out, r, r, c_in, r, r, q, q), zero, dtype=torch.long)
    taps = torch.arange(zero).view(c_out, c_in, k, k)
    for a_h in range(r):
        for d_h in range(k):
            m_h, c_h = divmod(a_h + d_h, r)
            for a_w in range(r):
                for d_w in range(k):
                    m_w, c_w = divmod(a_w + d_w, r)
                    index[:, a_h, a_w, :, c_h, c_w, m_h, m_w] = taps[:, :, d_h, d_w]
    return index.view(c_out * r * r, c_in * r * r, q, q)


def conv2d_by_blocks(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    padding: int,
    r: int = 2,
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` (stride 1, square kernel) computed on ``r x r`` blocks.

    Args:
        x: ``(B, C_in, H, W)`` with ``H``, ``W`` and ``padding`` multiples of ``r``.
        weight: ``(C_out, C_in, K, K)``; bias: ``(C_out,)`` or None.

    Returns ``(B, C_out, H + 2 * padding - K + 1, W + 2 * padding - K + 1)``; raises ``ValueError`` where the
    sizes do not fit the blocks.
    """
    c_out, c_in, k, k_w = weight.shape
    if x.ndim != 4 or x.shape[1] != c_in or k != k_w:
        raise ValueError(
            f"x (B, C_in, H, W) and a square weight (C_out, C_in, K, K) do not fit: "
            f"{tuple(x.shape)} and {tuple(weight.shape)}"
        )
    h_out, w_out = x.shape[2] + 2 * padding - k + 1, x.shape[3] + 2 * padding - k + 1
    if (
        x.shape[2] % r
        or x.shape[3] % r
        or padding % r
        or h_out % r
        or w_out % r
        or h_out < 1
        or w_out < 1
    ):
        raise ValueError(
            f"blocks of {r} do not fit input {tuple(x.shape[2:])} with padding {padding} and kernel {k}"
        )
    index = block_taps(c_out, c_in, k, r).to(weight.device)
    blocks = F.pad(weight.flatten(), (0, 1))[index].contiguous(
        memory_format=torch.channels_last
    )
    b = bias.repeat_interleave(r * r) if bias is not None else None
    # with K - 1 a multiple of r (implied by the checks) the block conv has exactly h_out / r x w_out / r outputs
    return F.pixel_shuffle(
        F.conv2d(F.pixel_unshuffle(x, r), blocks, b, padding=padding // r), r
    )


class ShuffleConv2d(nn.Conv2d):
    """``nn.Conv2d`` that runs :func:`conv2d_by_blocks` with 2 x 2 blocks on the CPU (for the recurrent CNN's
    4-channel lateral flow a few % of a training step faster there); elsewhere, and where the blocks do not
    fit, it is the plain module."""

    block = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, (k_h, k_w), (p_h, p_w) = self.block, self.kernel_size, self.padding
        fits = (
            x.device.type == "cpu"
            and x.ndim == 4
            and self.stride == (1, 1)
            and self.dilation == (1, 1)
            and self.groups == 1
            and self.padding_mode == "zeros"
            and k_h == k_w
            and p_h == p_w
            and isinstance(p_h, int)
            and p_h % r == 0
            and x.shape[2] % r == 0
            and x.shape[3] % r == 0
            and (x.shape[2] + 2 * p_h - k_h + 1) % r == 0
            and (x.shape[3] + 2 * p_h - k_h + 1) % r == 0
        )
        if not fits:
            return super().forward(x)
        return conv2d_by_blocks(x, self.weight, self.bias, p_h, r)
