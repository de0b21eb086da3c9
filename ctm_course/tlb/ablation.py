"""Lesson 4's two experiments with the bottleneck, repeated over seeds.

Each variant of the ``paper``-mode model (:data:`VARIANTS`: the reference, one or sixteen state
vectors, no top-down attention) is trained for a few steps with the course's paper-mode recipe and
tested. One run per variant cannot tell an effect from luck, so :func:`seed_study` repeats every
variant over seeds (the seed sets the initial weights and the order of the batches) and reports each
variant's accuracies; the lesson draws them beside its own runs. Usage::

    python -m ctm_course.tlb.ablation --profile cpu --seeds 0 1 2 --out results/ablations/04_tlb_cifar10-cpu.json

:func:`recorded_ablations` reads that file back for the lesson.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .. import studies
from ..cli import device_and_profile, run_parser, write_json
from ..data.image_data import ImageData
from ..precision import autocast_dtype
from ..studies import spread
from ..train import seed_everything
from .model import TemporalLatentBottleneck
from .presets import train_config
from .train import evaluate_accuracy, train_classifier

LESSON = "04_tlb_cifar10"
TEST_IMAGES = 2000
"""Test images of every ablation run (the first of a seeded subset of the test split)."""


def without_top_down(model: TemporalLatentBottleneck) -> TemporalLatentBottleneck:
    """``model`` with every ``"cross"`` entry removed from its schedule: the fast stream never reads
    the slow stream (the blocks stay, unused)."""
    model.schedule = [(name, role) for name, role in model.schedule if role != "cross"]
    return model


def _variant(n_state: int | None = None, top_down: bool = True):
    def make(paper_model: dict[str, Any]) -> TemporalLatentBottleneck:
        args = {**paper_model, **({} if n_state is None else {"n_state": n_state})}
        model = TemporalLatentBottleneck(**args)
        return model if top_down else without_top_down(model)

    return make


VARIANTS: dict[str, Callable[[dict[str, Any]], TemporalLatentBottleneck]] = {
    "reference": _variant(),
    "n_state=1": _variant(n_state=1),
    "n_state=16": _variant(n_state=16),
    "no top-down": _variant(top_down=False),
}
"""The variants of the lesson's experiments, each built from the profile's ``paper`` model arguments."""


def ablation_accuracy(
    model: TemporalLatentBottleneck,
    train: ImageData,
    test: ImageData,
    recipe: dict[str, Any],
    steps: int,
    device: torch.device | str,
    seed: int = 0,
) -> float:
    """Train ``model`` for ``steps`` steps with ``recipe`` (a run's ``train`` dict; batches drawn with
    ``seed``) and return its accuracy on ``test``. Runs all chunks of a block at once
    (:meth:`TemporalLatentBottleneck.forward_batched`, equal to the chunk loop)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = torch.device(device)
    config = train_config(
        recipe,
        steps,
        eval_every=None,
        checkpoint_every=None,
        max_seconds=None,
        progress=False,
        seed=seed,
    )
    amp = autocast_dtype(device)  # bf16 on a GPU
    size = model.config.image_size
    train_classifier(
        model.to(device),
        train,
        config,
        batch_size=recipe["batch_size"],
        image_size=size,
        resize_to=recipe.get("resize_to"),
        log_every=min(steps, recipe.get("log_every", 10)),
        amp_dtype=amp,
        forward=TemporalLatentBottleneck.forward_batched,
    )
    return evaluate_accuracy(model, test, size, amp_dtype=amp)["accuracy"]


def seed_study(
    paper: dict[str, Any],
    train: ImageData,
    test: ImageData,
    seeds: list[int],
    steps: int,
    device: torch.device | str = "cpu",
    variants: tuple[str, ...] = tuple(VARIANTS),
    progress: Callable[[str], None] | None = print,
) -> dict[str, list[float]]:
    """``{variant: [test accuracy for each of seeds]}``: every variant trained ``steps`` steps from
    each seed (initial weights and batch order) with the ``paper`` run's recipe."""
    if not seeds:
        raise ValueError("seed_study needs at least one seed")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    out: dict[str, list[float]] = {v: [] for v in variants}
    for seed in seeds:
        for name in variants:
            t0 = time.perf_counter()
            seed_everything(seed)
            model = VARIANTS[name](paper["model"])
            accuracy = ablation_accuracy(
                model, train, test, paper["train"], steps, device, seed=seed
            )
            out[name].append(accuracy)
            if progress is not None:
                progress(
                    f"seed {seed} {name:12s} {accuracy:.4f} ({time.perf_counter() - t0:.0f} s)"
                )
    return out


def record_name(profile_name: str, steps: int | None = None) -> str:
    """The file name of a seed study: ``04_tlb_cifar10-<profile>.json`` at the profile's
    ``ablation_steps``, ``04_tlb_cifar10-<profile>-<steps>-steps.json`` at another budget."""
    return studies.record_name(LESSON, profile_name, steps)


def recorded_ablations(
    profile_name: str, folder: str | Path | None = None, steps: int | None = None
) -> dict[str, Any] | None:
    """The seed study recorded for ``profile_name`` at its ``ablation_steps``
    (``results/ablations/04_tlb_cifar10-<profile>.json``, written by this module's command line),
    or at another budget of ``steps``; ``None`` where there is none (e.g. on Colab, outside the
    repository)."""
    return studies.recorded_study(LESSON, profile_name, folder, steps)


VARIANT_WORDS = {
    "n_state=1": "one state vector",
    "n_state=16": "sixteen state vectors",
    "no top-down": "removing the top-down attention",
}
"""How the lesson's sentences name each variant other than the reference."""


def describe_study(study: dict[str, Any] | None, steps: int, profile_name: str) -> str:
    """A paragraph for the lesson on a recorded seed ``study`` of ``steps``-step runs: the
    reference's mean and range, the widest range of any variant, each variant's difference of
    means from the reference, and which variants stand out of the seed-to-seed noise (every seed
    outside the reference's range). Without a study (``None``), a sentence that says so and how
    to record one."""
    if study is None:
        return (
            f"No seed study of {steps:,}-step runs is recorded for the {profile_name} profile "
            "(the cpu profile has one), so this build cannot say how far one run lies from "
            "another seed's; `python -m ctm_course.tlb.ablation` records one."
        )
    summary = spread(study["accuracies"])
    reference = summary["reference"]
    widest = max(s["max"] - s["min"] for s in summary.values())
    parts, standing = [], []
    for name, words in VARIANT_WORDS.items():
        if name not in summary:
            continue
        s = summary[name]
        note = (
            "every seed outside the reference's range"
            if s["separated"]
            else "seeds overlapping the reference's"
        )
        verb = "" if parts else " changes the mean"
        parts.append(f"{words}{verb} by {s['minus_reference']:+.3f} ({note})")
        if s["separated"]:
            change = "raised" if s["minus_reference"] > 0 else "lowered"
            standing.append(
                f"{words} {change} the mean by {abs(s['minus_reference']):.3f}"
            )
    changes = ", ".join(parts[:-1]) + (", and " if len(parts) > 1 else "") + parts[-1]
    verdict = (
        "No variant has every seed outside the reference's range: at this budget these runs "
        "cannot tell the variants apart."
        if not standing
        else f"{len(standing)} of the {len(parts)} differences stand out of the noise: "
        + "; ".join(standing)
        + "."
    )
    return (
        f"Over {len(study['seeds'])} seeds of {study['steps']:,} steps, the reference reaches "
        f"{reference['mean']:.3f} on average (from {reference['min']:.3f} to "
        f"{reference['max']:.3f}), and one variant's runs span up to {widest:.3f} from the "
        f"lowest to the highest. Against the reference's mean, {changes}. {verdict}"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from ..config import lesson_config
    from ..data import load_cifar10

    parser = run_parser(
        __doc__.split("\n\n")[0],
        "the profile whose paper run and ablation_steps are used (default: gpu on CUDA, else cpu)",
        "folder with cifar10/",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--steps", type=int, default=None, help="default: the profile's ablation_steps"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args: argparse.Namespace = parser.parse_args(argv)
    device, profile = device_and_profile(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    row = lesson_config(LESSON, profile)
    steps = args.steps or row.ablation_steps
    # the lesson's data: its profile's subsets, then the ablation's test images
    train = load_cifar10(train=True, root=args.data_root)
    test = load_cifar10(train=False, root=args.data_root)
    if row.train_images:
        train = train.subset(min(row.train_images, len(train)), seed=0)
    if row.test_images:
        test = test.subset(min(row.test_images, len(test)), seed=0)
    test = test.subset(min(TEST_IMAGES, len(test)), seed=2)
    started = time.perf_counter()
    accuracies = seed_study(row.paper, train, test, args.seeds, steps, device)
    result = {
        "lesson": LESSON,
        "profile": profile,
        "device": str(device),
        "torch": torch.__version__,
        "data_source": train.source,
        "steps": steps,
        "seeds": args.seeds,
        "test_images": len(test),
        "paper_model": row.paper["model"],
        "accuracies": accuracies,
        "spread": spread(accuracies),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
