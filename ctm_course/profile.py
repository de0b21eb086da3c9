"""Which budget a lesson runs with: ``smoke``, ``cpu`` or ``gpu``.

Every lesson takes its sizes (training steps, data, width, ticks) from a profile table in
:mod:`ctm_course.config`; this module only decides *which* row of that table applies.
"""

from __future__ import annotations

import os

import torch

PROFILES = ("smoke", "cpu", "gpu")
ENV_VAR = "CTM_COURSE_PROFILE"


def profile() -> str:
    """Return the active profile.

    ``$CTM_COURSE_PROFILE`` wins when set (one of ``smoke``, ``cpu``, ``gpu``); otherwise
    ``gpu`` when CUDA is available and ``cpu`` when it is not.
    """
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value:
        if value not in PROFILES:
            raise ValueError(
                f"{ENV_VAR}={value!r} is not a profile; allowed: {', '.join(PROFILES)}"
            )
        return value
    return "gpu" if torch.cuda.is_available() else "cpu"


def device() -> torch.device:
    """The device lessons train on: CUDA when available, else CPU (whatever the profile)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(dev: torch.device | None = None) -> str:
    """A human-readable name of ``dev`` (GPU model, or the CPU and its core count)."""
    dev = dev or device()
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    import platform

    cpu = platform.processor() or platform.machine()
    return f"CPU ({cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
