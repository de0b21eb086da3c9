"""Which budget a lesson runs with: ``smoke``, ``cpu`` or ``gpu``.

Every lesson takes its sizes (training steps, data, width, ticks) from a profile table in
:mod:`ctm_course.config`; this module only decides *which* row of that table applies.
"""

from __future__ import annotations

import os

import torch

PROFILES = ("smoke", "cpu", "gpu")
ENV_VAR = "CTM_COURSE_PROFILE"
QUICK_ENV_VAR = "CTM_COURSE_QUICK"
_QUICK_VALUES = {"1": True, "true": True, "yes": True, "on": True}
_QUICK_VALUES.update({"": False, "0": False, "false": False, "no": False, "off": False})


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


def quick_mode() -> bool:
    """``True`` when ``$CTM_COURSE_QUICK`` asks for the quick mode of ``make gpu-check``.

    In quick mode a lesson keeps its profile's models, batch sizes and data but trains a few
    hundred steps (:func:`ctm_course.quick.quick`): it proves that the row runs end to end, not
    that it learns. Values: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``
    (unset or empty: off).
    """
    value = os.environ.get(QUICK_ENV_VAR, "").strip().lower()
    if value not in _QUICK_VALUES:
        raise ValueError(
            f"{QUICK_ENV_VAR}={value!r} is not a switch; allowed: 1, true, yes, on "
            "(quick mode) or 0, false, no, off (unset: off)"
        )
    return _QUICK_VALUES[value]


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
