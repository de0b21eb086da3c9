"""Mixed precision: which autocast dtype a device gets, and the autocast context for it.

bf16 on CUDA (its exponent range is float32's, so no loss scaling is needed), full precision
elsewhere. Every training step and evaluation of the course that autocasts goes through these two.
"""

from __future__ import annotations

import torch


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """bf16 on CUDA (no loss scaling needed), ``None`` (full precision) elsewhere."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else None


def autocast(device: torch.device | str, dtype: torch.dtype | None) -> torch.autocast:
    """``torch.autocast`` on ``device``'s type to ``dtype``; disabled (full precision) when ``dtype`` is ``None``."""
    return torch.autocast(
        torch.device(device).type, dtype=dtype, enabled=dtype is not None
    )
