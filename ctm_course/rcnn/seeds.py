"""Lesson 5's comparison of the gain network with its feedforward control, repeated over seeds.

The lesson trains the gain network 0111 and the feedforward network B side by side on the same
batches and reads what the recurrence buys from one run of each. A different seed (the initial
weights and the batches drawn) moves both accuracies, so :func:`seed_study` trains the pair from
several seeds, each exactly as the lesson does (:func:`train_pair`) but for a fixed number of steps
instead of a time budget (the phase one of B alone, then ``steps`` side by side), and measures
both on the lesson's cluttered test images. The lesson's own run is seed 0. Usage::

    python -m ctm_course.rcnn.seeds --profile cpu --seeds 0 1 2 3 --threads 1 \\
        --out results/ablations/05_recurrent_cnn_lab-cpu.json

The file is rewritten after every seed, so an interrupted study keeps the seeds it finished.
Studies run apart (two processes of one thread each use a 2-core machine best) become one with
``--merge part1.json part2.json --out ...``.
:func:`recorded_seed_study` reads it back for the lesson, :func:`describe_seed_study` puts it in words.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .. import studies
from ..cli import device_and_profile, run_parser, write_json
from ..train import fit, seed_everything
from .stimuli import ObjectSources, Stimuli, load_sources
from .torch_stimuli import StimulusBatches, TorchStimuli
from .training import (
    SideBySide,
    accuracy,
    feedforward_first,
    gain_and_control,
    step_fn,
)

LESSON = "05_recurrent_cnn_lab"
TEST_SEED = 10_000  # the lesson's test images
NETWORKS = ("gain", "feedforward")


def train_pair(
    config, train_sources: ObjectSources, seed: int, steps: int, device="cpu"
) -> SideBySide:
    """The lesson's two networks (``config``: its profile row) trained as the lesson trains them from
    ``seed``: B alone for the row's phase one (:func:`~ctm_course.rcnn.training.feedforward_first`,
    its steps without a time budget), then both side by side for ``steps`` steps, without
    checkpoints or evaluations; each holds its moving average of the weights when the row has one."""
    seed_everything(seed)
    pair = gain_and_control(config.n_feats, config.t_steps, device)
    batches = StimulusBatches(
        TorchStimuli(train_sources, device),
        config.train.batch_size,
        seed=seed,
        curriculum_steps=config.curriculum_steps,
    )
    run = dict(max_seconds=None, eval_every=None, checkpoint_every=None, seed=seed)
    first = config.first_config(**run, log_every=config.train.log_every)
    if first is not None:
        feedforward_first(
            pair.networks["gain"], pair.networks["feedforward"], batches, first
        )
    second = config.second_config(
        steps=steps, log_every=min(config.train.log_every, steps), **run
    )
    fit(pair, batches, step_fn, second)
    return pair


def seed_study(
    config,
    train_sources: ObjectSources,
    test: Stimuli,
    seeds: list[int],
    steps: int,
    device="cpu",
    progress: Callable[[str], None] | None = print,
    on_seed: Callable[[dict[str, list[float]]], None] | None = None,
) -> dict[str, list[float]]:
    """``{"gain": [...], "feedforward": [...]}``: cluttered accuracy on ``test`` of each network
    trained from each of ``seeds`` (:func:`train_pair`). ``on_seed(accuracies_so_far)`` is called
    after every seed."""
    if not seeds:
        raise ValueError("seed_study needs at least one seed")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    out: dict[str, list[float]] = {name: [] for name in NETWORKS}
    for seed in seeds:
        t0 = time.perf_counter()
        pair = train_pair(config, train_sources, seed, steps, device)
        for name in NETWORKS:
            out[name].append(accuracy(pair.networks[name], test, clean=False)[0])
        if progress is not None:
            progress(
                f"seed {seed}: gain {out['gain'][-1]:.3f}, feedforward "
                f"{out['feedforward'][-1]:.3f} ({time.perf_counter() - t0:.0f} s)"
            )
        if on_seed is not None:
            on_seed(out)
    return out


def summary(accuracies: dict[str, list[float]]) -> dict[str, Any]:
    """Each network's spread over the seeds (:func:`ctm_course.studies.spread`, against the gain
    network) and the recurrence's gain seed by seed (gain minus feedforward)."""
    return {
        "spread": studies.spread(accuracies, reference="gain"),
        "gain_minus_feedforward": studies.paired_differences(
            accuracies, "gain", "feedforward"
        ),
    }


def merge(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One study from studies of the same profile, steps and test images run apart (e.g. two
    processes of one thread each on a 2-core machine): the seeds in increasing order, their
    accuracies, the summary recomputed and the seconds added up. Raises ``ValueError`` when the
    records do not fit together or share a seed."""
    if not records:
        raise ValueError("merge needs at least one record")
    keys = (
        "lesson",
        "profile",
        "feedforward_first_steps",
        "steps",
        "test_images",
        "data_source",
    )
    first = records[0]
    for other in records[1:]:
        differ = [k for k in keys if other.get(k) != first.get(k)]
        if differ:
            raise ValueError(f"the records differ in {differ}: they are not one study")
    runs = {
        seed: {name: r["accuracies"][name][i] for name in NETWORKS}
        for r in records
        for i, seed in enumerate(r["seeds"])
    }
    if len(runs) != sum(len(r["seeds"]) for r in records):
        raise ValueError("the records share a seed")
    seeds = sorted(runs)
    accuracies = {name: [runs[seed][name] for seed in seeds] for name in NETWORKS}
    return {
        **{k: v for k, v in first.items() if k not in ("accuracies", "seeds")},
        "seeds": seeds,
        "accuracies": accuracies,
        **summary(accuracies),
        "seconds": round(sum(r["seconds"] for r in records), 1),
        "merged_from": len(records),
    }


def describe_seed_study(study: dict[str, Any]) -> str:
    """One sentence for the lesson: the seeds and steps of a recorded ``study``, each network's range
    of accuracies, and in how many seeds (and by how many points) the gain network was ahead."""
    spread, ahead = study["spread"], study["gain_minus_feedforward"]
    first_steps = study.get("feedforward_first_steps", 0)
    first = (
        f" (B alone for {first_steps:,} steps, then both side by side)"
        if first_steps
        else ""
    )
    return (
        f"The seed study above trained both from {len(study['seeds'])} seeds{first} for "
        f"{study['steps']:,} steps each: the gain network reached between "
        f"{spread['gain']['min']:.1%} and {spread['gain']['max']:.1%}, the feedforward "
        f"control between {spread['feedforward']['min']:.1%} and "
        f"{spread['feedforward']['max']:.1%}, and the gain network was ahead of its control "
        f"(same seed, same batches) in {ahead['positive']} of them, by "
        f"{100 * ahead['min']:+.1f} to {100 * ahead['max']:+.1f} points. One run's difference "
        "is one draw from that range: read this run's gain with it in mind."
    )


def recorded_seed_study(
    profile_name: str, folder: str | Path | None = None
) -> dict[str, Any] | None:
    """The study recorded for ``profile_name`` (``results/ablations/05_recurrent_cnn_lab-<profile>.json``,
    written by this module's command line), or ``None`` where there is none."""
    return studies.recorded_study(LESSON, profile_name, folder)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from ..config import lesson_config

    parser = run_parser(
        __doc__.split("\n\n")[0],
        "the profile whose row and seed_study_steps are used (default: gpu on CUDA, else cpu)",
        "folder with mnist/ and fashion-mnist/",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="default: the profile's seed_study_steps",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="write one study from these records (of runs made apart) instead of training",
    )
    args: argparse.Namespace = parser.parse_args(argv)
    if args.merge:
        merged = merge([json.loads(path.read_text()) for path in args.merge])
        write_json(args.out, merged)
        return merged
    device, profile = device_and_profile(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    row = lesson_config(LESSON, profile)
    steps = args.steps or row.seed_study_steps
    if steps is None:
        parser.error(f"the {profile} profile names no seed_study_steps: pass --steps")
    train_sources = load_sources("train", args.data_root)
    test = TorchStimuli(load_sources("test", args.data_root), device)(
        row.test_images, seed=TEST_SEED
    )
    started = time.perf_counter()
    result: dict[str, Any] = {
        "lesson": LESSON,
        "profile": profile,
        "device": str(device),
        "torch": torch.__version__,
        "data_source": train_sources.source,
        "feedforward_first_steps": row.feedforward_first_steps,
        "steps": steps,
        "test_images": len(test),
    }

    def record(accuracies: dict[str, list[float]]) -> None:
        done = len(accuracies["gain"])
        result.update(
            seeds=args.seeds[:done],
            accuracies=accuracies,
            **summary(accuracies),
            seconds=round(time.perf_counter() - started, 1),
        )
        write_json(args.out, result)

    seed_study(row, train_sources, test, args.seeds, steps, device, on_seed=record)
    return result


if __name__ == "__main__":
    main()
