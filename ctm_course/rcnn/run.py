"""Train and evaluate the gain (0111) network without the notebook.

    python -m ctm_course.rcnn.run --profile gpu --train-seconds 300 --out results.json

Trains with :func:`ctm_course.train.fit` on stimuli generated on the device (where the profile
has a phase one, B alone first and the gain network from its weights, as in the lesson) until
the profile's steps are done or the wall-clock budget is spent (the learning-rate schedule is a
function of the step), then measures cluttered and clean test accuracy, decodes the auxiliary variables
(location, scale, orientation) from every layer at every timestep with linear probes, and runs
the perturbation analysis (functional importance of the flows into each layer, with 95 %
bootstrap intervals over the images) twice: with the authors' swaps (their rotation and scale
bugs kept), the set the paper's numbers come from and the one compared with them, and with the
fixed swaps, recorded apart. Prints and writes JSON with the paper's numbers beside the
course's, and with ``--save`` the trained weights. Sizes come from the lesson's profile table
(``ctm_course.config.RCNN``); flags override them.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from pathlib import Path

import numpy as np
import torch

from ..cli import add_overrides, device_and_profile, run_parser, write_json
from ..data.thorat2021 import paper_numbers
from ..parameters import count_parameters
from ..train import fit, seed_everything
from .model import RecurrentCNN
from .perturb import bootstrap_importance, importance_record, perturbation_correct
from .probes import aux_summary, collect, decode_grid
from .stimuli import load_sources
from .torch_stimuli import StimulusBatches, TorchStimuli
from .training import (
    accuracy,
    feedforward_first,
    memory_format,
    paper_budget_share,
    step_fn,
)
from .variants import generate_variant_sets

OVERRIDES = {
    "train_seconds": float,
    "max_steps": int,
    "n_feats": int,
    "batch_size": int,
    "lr": float,
    "curriculum_steps": int,
    "ema_decay": float,
    "feedforward_first_steps": int,
    "test_images": int,
    "probe_images": int,
    "perturb_images": int,
}
"""The profile's values that command-line flags may override (``--n-feats`` ...)."""
HELP = {
    "train_seconds": "a wall-clock training budget: stop there",
    "curriculum_steps": "steps over which the clutter fades in",
    "ema_decay": "weight average evaluated instead of the last weights (0: off)",
    "feedforward_first_steps": "B alone for these steps first, then the gain network from it (0: off)",
    "probe_images": "0 skips the probes",
    "perturb_images": "images of the perturbation analysis (0 skips it)",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = run_parser(
        __doc__.split("\n\n")[0],
        "the lesson's profile whose sizes are used (default: gpu on CUDA, else cpu)",
        "folder with mnist/ and fashion-mnist/",
    )
    add_overrides(parser, OVERRIDES, HELP)
    parser.add_argument(
        "--schedule",
        choices=("cosine", "constant"),
        default=None,
        help="learning rate after the warm-up (default: the profile's)",
    )
    parser.add_argument(
        "--probe-jobs", type=int, default=-1, help="parallel probe fits (-1: all cores)"
    )
    parser.add_argument("--bf16", choices=("auto", "on", "off"), default="auto")
    parser.add_argument(
        "--save", type=Path, default=None, help="write the trained weights here"
    )
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    from ..config import lesson_config

    args = parse_args(argv)
    device, profile = device_and_profile(args)
    config = lesson_config("05_recurrent_cnn_lab", profile)
    recipe = config.train
    n_feats = args.n_feats or config.n_feats
    batch_size = args.batch_size or recipe.batch_size
    lr = args.lr or recipe.lr
    schedule = args.schedule or recipe.schedule
    ema_decay = (recipe.ema_decay if args.ema_decay is None else args.ema_decay) or None
    seconds = args.train_seconds or recipe.max_seconds
    test_images = args.test_images or config.test_images
    probe_images = (
        config.probe_images if args.probe_images is None else args.probe_images
    )
    perturb_images = (
        config.perturb_images if args.perturb_images is None else args.perturb_images
    )
    bf16 = {"auto": None, "on": True, "off": False}[args.bf16]
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    seed_everything(args.seed)
    started = time.perf_counter()
    train_sources, test_sources = (
        load_sources("train", args.data_root),
        load_sources("test", args.data_root),
    )
    generator = TorchStimuli(train_sources, device)
    test = TorchStimuli(test_sources, device)(test_images, seed=10_000 + args.seed)
    model = (
        RecurrentCNN(n_feats, config.t_steps)
        .to(device)
        .to(memory_format=memory_format(device))
    )
    print(
        f"device {device}, profile {profile}, model 0111 with n_feats={n_feats} ({count_parameters(model):,} "
        f"parameters), batch {batch_size}, lr {lr:g} ({schedule}), budget {seconds:.0f} s; "
        f"data {train_sources.source}"
    )
    curriculum = (
        config.curriculum_steps
        if args.curriculum_steps is None
        else args.curriculum_steps
    )
    batches = StimulusBatches(
        generator, batch_size, seed=args.seed, curriculum_steps=curriculum
    )
    steps = args.max_steps or recipe.steps
    row = config.replace(
        train=dataclasses.replace(recipe, max_seconds=seconds),
        feedforward_first_steps=config.feedforward_first_steps
        if args.feedforward_first_steps is None
        else args.feedforward_first_steps,
    )
    common = dict(
        lr=lr,
        schedule=schedule,
        ema_decay=ema_decay,
        eval_every=None,
        checkpoint_every=None,
        seed=args.seed,
    )
    # phase one (the row's recipe on a CPU): B alone, and the gain network starts from it
    first_config = row.first_config(log_every=recipe.log_every, **common)
    first = None
    if first_config is not None:
        feedforward = RecurrentCNN(
            n_feats, config.t_steps, lateral=False, topdown=False
        ).to(device, memory_format=memory_format(device))
        first = feedforward_first(model, feedforward, batches, first_config)
        print(
            f"phase one: B alone for {first.steps:,} steps ({first.seconds:.0f} s), "
            "then the gain network from its weights"
        )
    first_steps, first_seconds = (first.steps, first.seconds) if first else (0, 0.0)
    train_config = row.second_config(
        first_seconds, steps=steps, log_every=min(recipe.log_every, steps), **common
    )
    trained = fit(model, batches, functools.partial(step_fn, bf16=bf16), train_config)
    images_seen = (first_steps + trained.steps) * batch_size  # both phases
    cluttered, clean = accuracy(model, test)
    print(
        f"trained {trained.steps:,} steps ({images_seen:,} images with "
        f"phase one) in {first_seconds + trained.seconds:.0f} s; "
        f"test accuracy cluttered {cluttered:.3f}, clean {clean:.3f}"
    )
    paper = paper_numbers("0111")
    result = {
        "profile": profile,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else "cpu",
        "torch": torch.__version__,
        "data_source": train_sources.source,
        "n_feats": n_feats,
        "batch_size": batch_size,
        "lr": lr,
        "schedule": schedule,
        "curriculum_steps": curriculum,
        "ema_decay": ema_decay,
        "feedforward_first_steps": first_steps,
        "feedforward_first_seconds": round(first_seconds, 1),
        "train_steps": trained.steps,
        "train_seconds": round(trained.seconds, 1),
        "images_seen": images_seen,
        "fraction_of_paper_budget": paper_budget_share(
            first_steps + trained.steps, batch_size
        ),
        "losses": [
            {k: row[k] for k in ("step", "loss", "accuracy")}
            for row in trained.history["train"]
        ],
        "cluttered_accuracy": cluttered,
        "clean_accuracy": clean,
        "paper": {
            k: paper[k]
            for k in (
                "cluttered_accuracy",
                "clean_accuracy",
                "aux_decoding_through_time",
                "aux_decoding_through_depth",
            )
        },
    }
    if probe_images:
        t0 = time.perf_counter()
        probe_set = TorchStimuli(test_sources, device)(
            probe_images, seed=20_000 + args.seed
        )
        grid = decode_grid(
            collect(model, probe_set.images),
            {k: v.cpu() for k, v in probe_set.labels.items()},
            n_jobs=args.probe_jobs,
        )
        through_time, through_depth = aux_summary(grid)
        result.update(
            aux_decoding_through_time=through_time,
            aux_decoding_through_depth=through_depth,
            decoding={g: v.tolist() for g, v in grid.items()},
            probe_seconds=time.perf_counter() - t0,
        )
        print(
            "aux decoding through time  ",
            [round(v, 3) for v in through_time],
            "paper",
            paper["aux_decoding_through_time"],
        )
        print(
            "aux decoding through depth ",
            [round(v, 3) for v in through_depth],
            "paper",
            paper["aux_decoding_through_depth"],
        )
    if perturb_images:
        t0 = time.perf_counter()
        variant_sets = generate_variant_sets(
            perturb_images, test_sources, seed=args.seed
        )
        outcomes = {
            "authors": perturbation_correct(
                model, variant_sets["authors"], batch_size=100
            )
        }
        outcomes["fixed"] = perturbation_correct(
            model, variant_sets["fixed"], batch_size=100, reuse=outcomes["authors"]
        )
        intervals = {
            swaps: bootstrap_importance(outcome) for swaps, outcome in outcomes.items()
        }
        # like with like: the paper's table was made with the authors' swaps (their bugs kept);
        # the fixed swaps are the course's own analysis, recorded beside it
        importance = {g: v["importance"] for g, v in intervals["authors"].items()}
        result.update(
            perturbation_original_accuracy=float(
                outcomes["authors"]["original"].mean()
            ),
            functional_importance={
                g: np.round(v, 4).tolist() for g, v in importance.items()
            },
            **{
                f"perturbation_{swaps}_swaps": importance_record(
                    outcomes[swaps], intervals[swaps], swaps=swaps, interval=0.95
                )
                for swaps in ("authors", "fixed")
            },
            perturb_seconds=time.perf_counter() - t0,
        )
        result["paper"].update(
            perturbation_original_accuracy=paper["perturbation_original_accuracy"],
            functional_importance={
                g: paper["functional_importance"][g]["mean"] for g in importance
            },
        )
        for i, layer in ((1, "conv1"), (2, "conv2")):
            for group, parts in intervals["authors"].items():
                ours = " / ".join(
                    f"{v:+.2f} [{lo:+.2f}, {hi:+.2f}]"
                    for v, lo, hi in zip(
                        parts["importance"][i], parts["low"][i], parts["high"][i]
                    )
                )
                theirs = " / ".join(
                    f"{v:+.2f}"
                    for v in paper["functional_importance"][group]["mean"][i]
                )
                print(
                    f"importance (authors' swaps) of the flow into {layer} for {group.lower():11s} "
                    f"T = 2/3/4: {ours}  (paper {theirs})"
                )
    if args.save:
        Path(args.save).parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), args.save)
        print(f"saved the weights to {args.save}")
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
