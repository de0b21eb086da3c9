"""Train-time data augmentation on whole batches (vectorised, no per-sample Python loop).

Apply these to *training* batches only. Augmenting the test set (as the original MNIST CTM
tutorial did) measures accuracy on a different, randomly perturbed test set each time and makes
the numbers noisy and incomparable.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

Range = float | tuple[float, float] | Sequence[float]


def shift_images(
    images: torch.Tensor, shifts: torch.Tensor, max_shift: int | None = None
) -> torch.Tensor:
    """Translate each image by whole pixels, filling with zeros.

    Args:
        images: ``(B, C, H, W)``.
        shifts: ``(B, 2)`` integer ``(dy, dx)`` per image; the pixel at ``(i, j)`` moves to
            ``(i + dy, j + dx)`` (down and right for positive values). Pixels moved off the
            image are lost.
        max_shift: a bound on ``|shifts|`` when known; it saves reading the shifts back from the
            device (a host synchronisation that a CUDA graph cannot capture).

    Returns:
        ``(B, C, H, W)``, same dtype and device as ``images``.
    """
    if images.ndim != 4:
        raise ValueError(
            f"shift_images: images must be (B, C, H, W), got shape {tuple(images.shape)}"
        )
    b, c, h, w = images.shape
    if shifts.shape != (b, 2):
        raise ValueError(
            f"shift_images: shifts must be ({b}, 2), got shape {tuple(shifts.shape)}"
        )
    shifts = shifts.to(device=images.device, dtype=torch.long)
    pad = (
        max_shift
        if max_shift is not None
        else (int(shifts.abs().max()) if shifts.numel() else 0)
    )
    if pad == 0:
        return images.clone()
    # (B, C, H + 2p, W + 2p), zeros outside
    padded = F.pad(images, (pad, pad, pad, pad))
    dev = images.device
    # out[b, :, i, j] = padded[b, :, i - dy + p, j - dx + p]
    rows = torch.arange(h, device=dev)[None, :] + pad - shifts[:, :1]  # (B, H)
    cols = torch.arange(w, device=dev)[None, :] + pad - shifts[:, 1:]  # (B, W)
    bi = torch.arange(b, device=dev)[:, None, None, None]
    ci = torch.arange(c, device=dev)[None, :, None, None]
    return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def random_shift(
    images: torch.Tensor, max_shift: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Translate each image by a random whole number of pixels, with zero padding.

    Each image gets its own ``(dy, dx)``, drawn uniformly from ``-max_shift .. max_shift``
    (inclusive) as ``torch.randint(-max_shift, max_shift + 1, (B, 2), generator=generator)``.

    Args:
        images: ``(B, C, H, W)``.
        max_shift: largest shift in pixels along each axis (``0`` returns a copy).
        generator: a seeded ``torch.Generator`` for reproducible shifts (on the CPU or on the
            images' device); the global RNG of the images' device when ``None``.

    Returns:
        ``(B, C, H, W)``, same dtype and device.
    """
    if max_shift < 0:
        raise ValueError(f"random_shift: max_shift must be >= 0, got {max_shift}")
    if max_shift == 0:
        return images.clone()
    # on a GPU: no host copy
    gen_device = generator.device if generator is not None else images.device
    shifts = torch.randint(
        -max_shift,
        max_shift + 1,
        (images.shape[0], 2),
        generator=generator,
        device=gen_device,
    )
    return shift_images(images, shifts, max_shift)


def _uniform(
    lo_hi: tuple[float, float],
    n: int,
    generator: torch.Generator | None,
    device: torch.device,
) -> torch.Tensor:
    lo, hi = lo_hi
    return lo + (hi - lo) * torch.rand(n, generator=generator, device=device)


def _as_range(value: Range | None, name: str, symmetric: bool) -> tuple[float, float]:
    if value is None:
        return (0.0, 0.0) if symmetric else (1.0, 1.0)
    if isinstance(value, (int, float)):
        if not symmetric:
            raise ValueError(
                f"random_affine: {name} must be a (min, max) pair, got {value!r}"
            )
        if value < 0:
            raise ValueError(f"random_affine: {name} must be >= 0, got {value}")
        return (-float(value), float(value))
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(
            f"random_affine: {name} must satisfy min <= max, got {value!r}"
        )
    return lo, hi


def random_affine(
    images: torch.Tensor,
    degrees: Range = 0.0,
    translate: tuple[float, float] | None = None,
    scale: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rotate, translate and scale each image by its own random amounts (bilinear, zero fill).

    Parameters follow ``torchvision.transforms.RandomAffine``, but the whole batch is warped at
    once with ``F.affine_grid`` / ``F.grid_sample``.

    Args:
        images: ``(B, C, H, W)`` floating point.
        degrees: rotation angle range in degrees; a number ``d`` means ``(-d, d)``.
        translate: ``(a, b)``: shift by up to ``a * W`` pixels horizontally and ``b * H``
            vertically, in either direction; ``None`` for no translation.
        scale: ``(min, max)`` zoom factor; ``None`` for no scaling.
        generator: seeded ``torch.Generator`` (on the CPU or on the images' device); the
            global RNG when ``None``.

    Returns:
        ``(B, C, H, W)``, same dtype and device; values stay within the input's range.
    """
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(
            f"random_affine: images must be floating point (B, C, H, W), got {images.dtype} {tuple(images.shape)}"
        )
    b, _, h, w = images.shape
    dev = images.device
    gdev = generator.device if generator is not None else torch.device("cpu")
    angle = _uniform(_as_range(degrees, "degrees", True), b, generator, gdev) * (
        math.pi / 180
    )
    if translate is not None:
        tx_max, ty_max = (float(v) for v in translate)
        if not (0 <= tx_max <= 1 and 0 <= ty_max <= 1):
            raise ValueError(
                f"random_affine: translate fractions must be in [0, 1], got {translate!r}"
            )
    else:
        tx_max = ty_max = 0.0
    tx = _uniform((-tx_max * w, tx_max * w), b, generator, gdev)  # pixels
    ty = _uniform((-ty_max * h, ty_max * h), b, generator, gdev)
    s = _uniform(_as_range(scale, "scale", False), b, generator, gdev)
    if bool((s <= 0).any()):
        raise ValueError(f"random_affine: scale must be positive, got {scale!r}")
    angle, tx, ty, s = (
        t.to(device=dev, dtype=torch.float32) for t in (angle, tx, ty, s)
    )

    # Forward map in pixel units (centre origin): p_out = s R(angle) p_in + t.
    # affine_grid wants the inverse, in normalised units: n_in = D^-1 A^-1 (D n_out - t),
    # with D = diag(W/2, H/2) and A^-1 = R(-angle) / s.
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    half_w, half_h = w / 2.0, h / 2.0
    a11, a12 = cos, sin * (half_h / half_w)
    a21, a22 = -sin * (half_w / half_h), cos
    b1 = -(cos * tx + sin * ty) / half_w
    b2 = -(-sin * tx + cos * ty) / half_h
    # (B, 2, 3)
    theta = torch.stack(
        [torch.stack([a11, a12, b1], -1), torch.stack([a21, a22, b2], -1)], 1
    )
    grid = F.affine_grid(
        theta.to(images.dtype), list(images.shape), align_corners=False
    )
    return F.grid_sample(
        images, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
