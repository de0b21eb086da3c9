"""Train the gain network and its feedforward control that ship with lesson 5.

``ctm_course.pretrained.load("05_recurrent_cnn_lab")`` returns them as a ``SideBySide`` (the
gain network ``0111`` and the feedforward network **B**), trained together on the same batches
exactly as in the lesson's ``cpu`` row (the same width, curriculum, learning rate and moving
average), only for longer and with the learning rate decayed along a cosine to the end of the
budget. Resumable: run the same command again after an interruption and it continues from
``checkpoints/``; once the budget is spent, running it again only evaluates and writes. At the
end it writes the weights into the package (the large top-down matrices stored with 8 bits,
:mod:`ctm_course.compact`) and the training record into
``results/pretrained/05_recurrent_cnn_lab.json``::

    python scripts/train_pretrained_rcnn.py --max-seconds 5400 --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from ctm_course import compact, pretrained
from ctm_course.checkpoints import checkpoint_path
from ctm_course.config import RCNN
from ctm_course.parameters import count_parameters
from ctm_course.rcnn.stimuli import load_sources
from ctm_course.rcnn.torch_stimuli import StimulusBatches, TorchStimuli
from ctm_course.rcnn.training import (
    accuracy,
    gain_and_control,
    paper_budget_share,
    step_fn,
)
from ctm_course.train import fit, seed_everything

LESSON = "05_recurrent_cnn_lab"
TEST_SEED = 12_345  # the lesson's test images are seed 10,000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--max-seconds", type=float, default=5000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-images", type=int, default=2000)
    parser.add_argument("--data-root", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    row = RCNN["cpu"]
    recipe = dataclasses.replace(
        row.train, steps=args.steps, schedule="cosine", max_seconds=args.max_seconds
    )
    ckpt = checkpoint_path(
        LESSON,
        "pretrained",
        {"row": row, "recipe": recipe, "seed": args.seed, "threads": args.threads},
    )
    train_sources = load_sources("train", args.data_root)
    test_sources = load_sources("test", args.data_root)
    test = TorchStimuli(test_sources, "cpu")(args.test_images, seed=TEST_SEED)
    eval_set = test[:500]

    def evaluate(both):
        scores = {
            "accuracy": accuracy(both.networks["gain"], eval_set, clean=False)[0],
            "feedforward_accuracy": accuracy(
                both.networks["feedforward"], eval_set, clean=False
            )[0],
        }
        print(f"  eval: {scores}", flush=True)
        return scores

    seed_everything(args.seed)
    networks = gain_and_control(row.n_feats, row.t_steps, "cpu")
    batches = StimulusBatches(
        TorchStimuli(train_sources, "cpu"),
        recipe.batch_size,
        seed=args.seed,
        curriculum_steps=row.curriculum_steps,
    )
    run = fit(
        networks,
        batches,
        step_fn,
        recipe.train_config(checkpoint_path=ckpt, progress=False),
        evaluate=evaluate,
    )
    networks.eval()
    measured = {}
    for name, net in networks.networks.items():
        cluttered, clean = accuracy(net, test)
        measured[name] = {"cluttered_accuracy": cluttered, "clean_accuracy": clean}
    print(f"{run.steps} steps in {run.seconds:.0f} s: {measured}", flush=True)

    record = {
        "lesson": LESSON,
        "seed": args.seed,
        "steps": run.steps,
        "train_seconds": round(run.seconds, 1),
        "images_seen": run.steps * recipe.batch_size,
        "fraction_of_paper_budget": paper_budget_share(run.steps, recipe.batch_size),
        **pretrained.provenance(args.threads),
        "data_source": train_sources.source,
        "recipe": {
            "batch_size": recipe.batch_size,
            "lr": recipe.lr,
            "warmup_steps": recipe.warmup_steps,
            "schedule": recipe.schedule,
            "ema_decay": recipe.ema_decay,
            "curriculum_steps": row.curriculum_steps,
            "max_seconds": args.max_seconds,
        },
        "model_args": {"n_feats": row.n_feats, "t_steps": row.t_steps},
        "parameters": {
            name: count_parameters(net) for name, net in networks.networks.items()
        },
        "test_images": len(test),
        "test_seed": TEST_SEED,
        "eval_history": run.history["eval"],
    }
    packed = compact.pack(networks.state_dict())
    weights = pretrained.write_weights(LESSON, packed)
    # what the 8-bit top-down matrices cost: the same test images through the shipped weights
    shipped = gain_and_control(row.n_feats, row.t_steps, "cpu").eval()
    shipped.load_state_dict(pretrained.read_weights(weights))
    for name, net in shipped.networks.items():
        cluttered, clean = accuracy(net, test)
        measured[name].update(
            shipped_cluttered_accuracy=cluttered, shipped_clean_accuracy=clean
        )
    record["accuracy"] = measured
    record["file_bytes"] = weights.stat().st_size
    record = pretrained.write_record(LESSON, record)
    print(
        f"wrote {weights} ({record['file_bytes'] / 1e6:.2f} MB, sha256 "
        f"{record['sha256']}): {measured}"
    )


if __name__ == "__main__":
    main()
