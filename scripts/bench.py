"""Train-step benchmark of the course CTM against the original tutorial's CTM, in one run.

    python scripts/bench.py                       # configs 000 and 001 and the lesson profiles, CPU or CUDA
    python scripts/bench.py --configs 000 001 --compile-reference   # on a GPU: also the compiled reference

A train step is forward, certainty-based loss, backward and an AdamW step on synthetic
MNIST-shaped input. Where the tutorial reference is available (``../shared/bench`` beside the
checkout, or ``--reference DIR``), both models are timed at the same configuration, alternating
in rounds so that a noisy machine affects both alike, and the ratio reference/course is printed. On a
GPU the course's step is also timed as one captured CUDA graph (``ctm_course.cuda_graph``, what ``fit``
uses there), and ``--compile-reference`` adds the reference under ``torch.compile``.
Results go to ``results/bench/<device>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
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

from ctm_course.config import lesson_config
from ctm_course.ctm import load_tutorial
from ctm_course.ctm.compat import TUTORIAL_ARGS
from ctm_course.cuda_graph import GraphedTrainStep, capturable_adamw
from ctm_course.losses import image_classification_loss
from ctm_course.profile import device_name
from ctm_course.results import results_dir

#: The two configurations of the issue (the English and the annotated Russian tutorial) and their batches.
CONFIGS: dict[str, tuple[dict[str, Any], int]] = {
    "000": (
        dict(
            iterations=15,
            d_model=128,
            d_input=128,
            memory_length=10,
            heads=2,
            n_synch_out=16,
            n_synch_action=16,
            memory_hidden_dims=8,
            out_dims=10,
        ),
        256,
    ),
    "001": (
        dict(
            iterations=30,
            d_model=128,
            d_input=32,
            memory_length=15,
            heads=1,
            n_synch_out=16,
            n_synch_action=16,
            memory_hidden_dims=8,
            out_dims=10,
        ),
        64,
    ),
}


def lesson_configs() -> dict[str, tuple[dict[str, Any], int]]:
    """Lesson 1's cpu and gpu profiles as benchmark configurations (tutorial-compatible arguments only)."""
    out = {}
    for prof in ("cpu", "gpu"):
        cfg = lesson_config("01_ctm_mnist", prof)
        model = dataclasses.asdict(cfg.model)
        out[f"lesson01-{prof}"] = (
            {k: v for k, v in model.items() if k in TUTORIAL_ARGS},
            cfg.train.batch_size,
        )
    return out


def find_reference(explicit: str | None = None) -> Any | None:
    """Import ``tutorial_reference_ctm`` from ``explicit`` or ``../shared/bench``; None when absent."""
    candidates = (
        [Path(explicit)]
        if explicit
        else [
            Path(__file__).resolve().parents[2] / "shared" / "bench",
            Path.cwd().parent / "shared" / "bench",
        ]
    )
    for folder in candidates:
        path = folder / "tutorial_reference_ctm.py"
        if path.is_file():
            spec = importlib.util.spec_from_file_location(
                "tutorial_reference_ctm", path
            )
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            return module
    return None


def make_step(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable
) -> Callable[[], None]:
    """A closure doing one full eager train step (forward, loss, backward, AdamW)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, eps=1e-8)

    def step() -> None:
        predictions, certainties, _ = model(x)
        loss, _ = loss_fn(predictions, certainties, y)
        loss.backward()
        opt.step()
        opt.zero_grad()

    return step


def make_graphed_step(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor
) -> Callable[[], None]:
    """The same train step replayed as one CUDA graph (``ctm_course.cuda_graph``), as ``fit`` does on a GPU."""
    opt = capturable_adamw(model.parameters(), lr=1e-4, device=x.device, eps=1e-8)

    def loss_and_metrics(
        net: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
    ):
        predictions, certainties, _ = net(batch[0])
        return image_classification_loss(predictions, certainties, batch[1])[0], {}

    graphed = GraphedTrainStep(model, opt, loss_and_metrics)

    def step() -> None:
        graphed((x, y))
        if graphed.eager:
            raise RuntimeError("the CUDA graph capture failed (see the message above)")

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


def bench_config(
    name: str,
    config: dict[str, Any],
    batch: int,
    device: torch.device,
    steps: int,
    rounds: int,
    reference: Any | None,
    compile_reference: bool = False,
    graphs: bool | None = None,
) -> dict[str, Any]:
    """Time every variant at one configuration, alternating rounds; the median per variant is reported.

    Variants: ``course`` (eager), ``course-graph`` (one CUDA graph per step; CUDA only, on by default there),
    ``reference`` (the tutorial's CTM, eager) and ``reference-compile`` (``torch.compile``, on request).
    ``speedup`` compares the course's fastest variant with the eager reference, ``speedup_vs_compile``
    with the compiled one.
    """
    graphs = device.type == "cuda" if graphs is None else graphs
    torch.manual_seed(0)
    x = torch.randn(batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    variants = {
        "course": make_step(
            load_tutorial(config).to(device).train(), x, y, image_classification_loss
        )
    }
    if graphs:
        variants["course-graph"] = make_graphed_step(
            load_tutorial(config).to(device).train(), x, y
        )
    if reference is not None:
        ref = reference.ContinuousThoughtMachine(**config).to(device)
        with torch.no_grad():
            ref(x[:1])  # materialise its lazy layers
        ref.register_forward_pre_hook(reference.clamp_decay_params)
        variants["reference"] = make_step(ref, x, y, reference.get_loss)
        if compile_reference:
            variants["reference-compile"] = make_step(
                torch.compile(ref), x, y, reference.get_loss
            )
    warmup: dict[str, float] = {}
    for key, fn in variants.items():  # warm-up (graph capture, compilation)
        started = time.perf_counter()
        for _ in range(5):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        warmup[key] = time.perf_counter() - started
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds):  # alternate, so that machine noise hits every variant alike
        for key, fn in variants.items():
            samples[key].append(time_steps(fn, steps, device))
    median = {key: statistics.median(values) for key, values in samples.items()}
    best = min((k for k in median if k.startswith("course")), key=median.get)
    row: dict[str, Any] = {
        "config": name,
        "batch": batch,
        "model": config,
        "step_s": median,
        "course_step_s": median[best],
        "course_variant": best,
        "samples": samples,
        "warmup_s": warmup,
    }
    if "reference" in median:
        row["reference_step_s"] = median["reference"]
        row["speedup"] = median["reference"] / median[best]
    if "reference-compile" in median:
        row["reference_compile_step_s"] = median["reference-compile"]
        row["speedup_vs_compile"] = median["reference-compile"] / median[best]
    return row


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--configs",
        nargs="+",
        default=None,
        help="names among 000 001 lesson01-cpu lesson01-gpu",
    )
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternating rounds (the median is reported)",
    )
    parser.add_argument(
        "--compile-reference",
        action="store_true",
        help="also time the tutorial reference under torch.compile",
    )
    parser.add_argument(
        "--no-graphs",
        action="store_true",
        help="on CUDA, skip the course's CUDA-graph step",
    )
    parser.add_argument(
        "--reference", default=None, help="folder holding tutorial_reference_ctm.py"
    )
    parser.add_argument(
        "--output", default=None, help="JSON path (default results/bench/<device>.json)"
    )
    args = parser.parse_args(argv)
    available = {**CONFIGS, **lesson_configs()}
    names = args.configs or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        parser.error(f"unknown config(s) {unknown}; choose from {sorted(available)}")
    device = torch.device(args.device)
    reference = find_reference(args.reference)
    if reference is None:
        print(
            "tutorial reference not found (../shared/bench): timing the course CTM only"
        )
    dev = device_name(device)
    # e.g. cpu-x86-64-2-cores-2-threads
    slug = re.sub(r"[^a-z0-9]+", "-", dev.lower()).strip("-")
    out = Path(args.output) if args.output else results_dir() / "bench" / f"{slug}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        config, batch = available[name]
        row = bench_config(
            name,
            config,
            batch,
            device,
            args.steps,
            args.rounds,
            reference,
            args.compile_reference,
            False if args.no_graphs else None,
        )
        rows.append(row)
        times = "  ".join(f"{k} {v * 1e3:.1f} ms" for k, v in row["step_s"].items())
        ratios = "".join(
            f"  {label} {row[key]:.2f}x"
            for key, label in (
                ("speedup", "vs reference"),
                ("speedup_vs_compile", "vs compiled reference"),
            )
            if key in row
        )
        print(f"{name:13s} batch {batch:4d}  {times}{ratios}", flush=True)
        # after each config: a cut run keeps its rows
        out.write_text(
            json.dumps(
                {
                    "device": dev,
                    "torch": torch.__version__,
                    "python": platform.python_version(),
                    "threads": torch.get_num_threads(),
                    "steps_per_round": args.steps,
                    "rounds": args.rounds,
                    "compile_reference": args.compile_reference,
                    "configs": rows,
                },
                indent=2,
            )
            + "\n"
        )
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
