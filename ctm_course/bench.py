"""Train-step benchmark of the course CTM against the original tutorial's CTM, in one run.

    python -m ctm_course.bench                       # configs 000 and 001 and the lesson profiles, CPU or CUDA
    python -m ctm_course.bench --configs 000 --steps 10 --compile

A train step is forward, certainty-based loss, backward and an AdamW step on synthetic
MNIST-shaped input. Where the tutorial reference is available (``../shared/bench`` beside the
checkout, or ``--reference DIR``), both models are timed at the same configuration, alternating
in rounds so that a noisy machine affects both alike, and the ratio reference/course is printed.
Results go to ``results/bench/<device>.json``.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .config import lesson_config
from .ctm import load_tutorial
from .losses import image_classification_loss
from .profile import device_name
from .results import results_dir

#: The two configurations of the issue (the English and the annotated Russian tutorial) and their batches.
CONFIGS: dict[str, tuple[dict[str, Any], int]] = {
    "000": (dict(iterations=15, d_model=128, d_input=128, memory_length=10, heads=2, n_synch_out=16,
                 n_synch_action=16, memory_hidden_dims=8, out_dims=10), 256),
    "001": (dict(iterations=30, d_model=128, d_input=32, memory_length=15, heads=1, n_synch_out=16,
                 n_synch_action=16, memory_hidden_dims=8, out_dims=10), 64),
}
TUTORIAL_KEYS = ("iterations", "d_model", "d_input", "memory_length", "heads", "n_synch_out", "n_synch_action",
                 "out_dims", "memory_hidden_dims", "dropout")


def lesson_configs() -> dict[str, tuple[dict[str, Any], int]]:
    """Lesson 1's cpu and gpu profiles as benchmark configurations (tutorial-compatible arguments only)."""
    out = {}
    for prof in ("cpu", "gpu"):
        cfg = lesson_config("01_ctm_mnist", prof)
        out[f"lesson01-{prof}"] = ({k: v for k, v in cfg["model"].items() if k in TUTORIAL_KEYS}, cfg["batch_size"])
    return out


def find_reference(explicit: str | None = None) -> Any | None:
    """Import ``tutorial_reference_ctm`` from ``explicit`` or ``../shared/bench``; None when absent."""
    candidates = [Path(explicit)] if explicit else [Path(__file__).resolve().parents[2] / "shared" / "bench",
                                                    Path.cwd().parent / "shared" / "bench"]
    for folder in candidates:
        path = folder / "tutorial_reference_ctm.py"
        if path.is_file():
            spec = importlib.util.spec_from_file_location("tutorial_reference_ctm", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            return module
    return None


def make_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable) -> Callable[[], None]:
    """A closure doing one full train step (forward, loss, backward, AdamW)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, eps=1e-8)

    def step() -> None:
        predictions, certainties, _ = model(x)
        loss, _ = loss_fn(predictions, certainties, y)
        loss.backward()
        opt.step()
        opt.zero_grad()

    return step


def time_steps(step: Callable[[], None], n: int, device: torch.device) -> float:
    """Mean seconds per step over ``n`` steps."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / n


def bench_config(name: str, config: dict[str, Any], batch: int, device: torch.device, steps: int, rounds: int,
                 reference: Any | None, compile_: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    x = torch.randn(batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    ours = load_tutorial(config).to(device).train()
    steps_fns = {"course": make_step(torch.compile(ours) if compile_ else ours, x, y, image_classification_loss)}
    if reference is not None:
        ref = reference.ContinuousThoughtMachine(**config).to(device)
        with torch.no_grad():
            ref(x[:1])  # materialise its lazy layers
        ref.register_forward_pre_hook(reference.clamp_decay_params)
        steps_fns["reference"] = make_step(torch.compile(ref) if compile_ else ref, x, y, reference.get_loss)
    for fn in steps_fns.values():  # warm-up (and compilation)
        for _ in range(3):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in steps_fns}
    for _ in range(rounds):  # alternate, so that machine noise hits both
        for key, fn in steps_fns.items():
            samples[key].append(time_steps(fn, steps, device))
    row: dict[str, Any] = {"config": name, "batch": batch, "model": config, "compile": compile_,
                           "course_step_s": statistics.median(samples["course"]), "samples": samples}
    if reference is not None:
        row["reference_step_s"] = statistics.median(samples["reference"])
        row["speedup"] = row["reference_step_s"] / row["course_step_s"]
    return row


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=None, help="names among 000 001 lesson01-cpu lesson01-gpu")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (the median is reported)")
    parser.add_argument("--compile", action="store_true", help="torch.compile both models")
    parser.add_argument("--reference", default=None, help="folder holding tutorial_reference_ctm.py")
    parser.add_argument("--output", default=None, help="JSON path (default results/bench/<device>.json)")
    args = parser.parse_args(argv)
    available = {**CONFIGS, **lesson_configs()}
    names = args.configs or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        parser.error(f"unknown config(s) {unknown}; choose from {sorted(available)}")
    device = torch.device(args.device)
    reference = find_reference(args.reference)
    if reference is None:
        print("tutorial reference not found (../shared/bench): timing the course CTM only")
    rows = []
    for name in names:
        config, batch = available[name]
        row = bench_config(name, config, batch, device, args.steps, args.rounds, reference, args.compile)
        rows.append(row)
        ratio = f"  reference {row['reference_step_s']:.4f} s  speed-up {row['speedup']:.2f}x" if reference else ""
        print(f"{name:13s} batch {batch:4d}  course {row['course_step_s']:.4f} s/step{ratio}", flush=True)
    dev = device_name(device)
    slug = re.sub(r"[^a-z0-9]+", "-", dev.lower()).strip("-")  # e.g. cpu-x86-64-2-cores-2-threads
    out = Path(args.output) if args.output else results_dir() / "bench" / f"{slug}{'-compile' if args.compile else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": dev, "torch": torch.__version__, "python": platform.python_version(),
                               "threads": torch.get_num_threads(), "steps_per_round": args.steps,
                               "rounds": args.rounds, "compile": args.compile, "configs": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
