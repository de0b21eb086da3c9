"""What the command-line runs of the lessons share: the parser's common flags and the device.

``python -m ctm_course.tlb.run`` and ``python -m ctm_course.rcnn.run`` train a lesson's model
without the notebook. Both take ``--profile``, ``--device``, ``--seed``, ``--data-root`` and
``--out``; a flag left out means "the profile's value".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Mapping

import torch

from .profile import PROFILES


def run_parser(
    description: str, profile_help: str, data_help: str
) -> argparse.ArgumentParser:
    """A parser with the flags every run takes: --profile, --device, --seed, --data-root, --out."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", choices=PROFILES, default=None, help=profile_help)
    parser.add_argument(
        "--device", default=None, help="cuda, cpu, ... (default: cuda when available)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=None, help=data_help)
    parser.add_argument(
        "--out", type=Path, default=None, help="write the results here as JSON"
    )
    return parser


def add_overrides(
    parser: argparse.ArgumentParser,
    kinds: Mapping[str, type],
    helps: Mapping[str, str] | None = None,
) -> None:
    """Add a flag ``--some-name`` for each ``some_name: type`` of ``kinds``; each defaults to
    ``None``, which keeps the profile's value."""
    helps = helps or {}
    for name, kind in kinds.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            help=helps.get(name, f"override the profile's {name}"),
        )


def device_and_profile(args: argparse.Namespace) -> tuple[torch.device, str]:
    """``--device`` (default: CUDA when available) and ``--profile`` (default: gpu on CUDA)."""
    device = torch.device(
        args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    )
    return device, args.profile or ("gpu" if device.type == "cuda" else "cpu")


def write_json(path: Path | None, result: dict[str, Any]) -> None:
    """Write ``result`` to ``path`` (folders created) and say so; nothing when ``path`` is None."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"wrote {path}")
