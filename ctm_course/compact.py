"""Weights stored with 8 bits: how a shipped model stays under the course's 5 MB per file.

Lesson 5's gain network has 3.5 million weights, almost all of them in the three matrices that
turn fc1's activity into the top-down gains of the layers below (``fc1xg``, ``fc1c1g``,
``fc1c2g``): 14 MB in float32. :func:`pack` stores every large matrix as signed 8-bit integers
with one float32 scale per row (symmetric per-row quantisation), so that each weight is off by at
most half its row's step,

    w[i, j] ≈ s[i] * q[i, j],   s[i] = max_j |w[i, j]| / 127,   q[i, j] ∈ {-127, ..., 127},

and keeps every other tensor as it is. :func:`unpack` turns the packed dict back into a plain
float32 ``state_dict``. What the quantisation costs is measured, not assumed: the script that
trains a shipped model records its accuracy before packing and after unpacking.
"""

from __future__ import annotations

import torch

INT8_SUFFIX = "::int8"
SCALE_SUFFIX = "::scale"
MIN_PACKED_NUMEL = 100_000
"""Matrices with at least this many entries are packed; smaller tensors stay float32."""


def _packable(value: torch.Tensor, min_numel: int) -> bool:
    return value.is_floating_point() and value.dim() == 2 and value.numel() >= min_numel


def pack(
    state: dict[str, torch.Tensor], min_numel: int = MIN_PACKED_NUMEL
) -> dict[str, torch.Tensor]:
    """``state`` with each float matrix of ≥ ``min_numel`` entries as ``key::int8``, ``(R, C)``
    int8, and ``key::scale``, ``(R, 1)`` float32; every other tensor unchanged (detached, on
    the CPU)."""
    if min_numel < 1:
        raise ValueError(f"min_numel must be positive, got {min_numel}")
    packed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if INT8_SUFFIX in key or SCALE_SUFFIX in key:
            raise ValueError(f"{key!r} already looks packed")
        value = value.detach().cpu()
        if not _packable(value, min_numel):
            packed[key] = value.clone()
            continue
        weight = value.float()
        scale = weight.abs().amax(dim=1, keepdim=True) / 127  # s_i, (R, 1)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # all-zero rows
        packed[key + INT8_SUFFIX] = torch.round(weight / scale).to(torch.int8)
        packed[key + SCALE_SUFFIX] = scale
    return packed


def unpack(packed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 ``state_dict`` a packed dict stands for (a plain one comes back as it is)."""
    state: dict[str, torch.Tensor] = {}
    for key, value in packed.items():
        if key.endswith(SCALE_SUFFIX):
            if key.removesuffix(SCALE_SUFFIX) + INT8_SUFFIX not in packed:
                raise ValueError(f"{key!r} has no {INT8_SUFFIX} partner")
            continue
        if key.endswith(INT8_SUFFIX):
            name = key.removesuffix(INT8_SUFFIX)
            scale = packed.get(name + SCALE_SUFFIX)
            if scale is None:
                raise ValueError(f"{key!r} has no {SCALE_SUFFIX} partner")
            state[name] = value.float() * scale  # w ≈ s q
        else:
            state[key] = value
    return state


def packed_bytes(packed: dict[str, torch.Tensor]) -> int:
    """The bytes the tensors of a (packed) dict hold: what the file costs, give or take a few kB."""
    return sum(value.numel() * value.element_size() for value in packed.values())
