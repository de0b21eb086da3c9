"""Train the parity-16 CTM that ships with the course (``ctm_course.pretrained.load("02_ctm_parity")``).

The architecture is lesson 2's ``cpu`` row, so the lesson's analyses run on the shipped model
unchanged; only the training is longer. Resumable: run the same command again after an
interruption and it continues from ``checkpoints/``. At the end it writes the weights into the
package and the training record into ``results/pretrained/02_ctm_parity.json``::

    python scripts/train_pretrained_parity.py --steps 40000 --max-seconds 4200 --threads 1
"""

from __future__ import annotations

import argparse

import torch

from ctm_course import pretrained
from ctm_course.checkpoints import checkpoint_path
from ctm_course.config import PARITY, Training
from ctm_course.ctm import ContinuousThoughtMachine
from ctm_course.parameters import count_parameters
from ctm_course.parity import (
    ParityBatches,
    evaluate_parity,
    parity_model_args,
    parity_step,
    parity_test_set,
)
from ctm_course.train import fit, seed_everything

LESSON = "02_ctm_parity"
LENGTH = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    row = PARITY["cpu"]
    model_args = parity_model_args(LENGTH, **row.model)
    recipe = Training(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=row.train.warmup_steps,
        grad_clip=row.train.grad_clip,
        eval_every=1000,
        checkpoint_every=500,
        log_every=50,
        max_seconds=args.max_seconds,
    )
    ckpt = checkpoint_path(
        LESSON, "pretrained", {"model": model_args, "recipe": recipe, "seed": args.seed}
    )
    x_eval, y_eval = parity_test_set(2000, LENGTH, seed=1)

    def evaluate(model):
        result = evaluate_parity(model, x_eval, y_eval)
        print(
            f"  eval: per position {result['per_position']:.4f}, "
            f"sequence {result['sequence']:.4f}",
            flush=True,
        )
        return {
            "accuracy": result["per_position"],
            "sequence_accuracy": result["sequence"],
        }

    seed_everything(args.seed)
    model = ContinuousThoughtMachine(**model_args)
    batches = ParityBatches(LENGTH, args.batch_size, seed=args.seed)
    run = fit(
        model,
        batches,
        parity_step,
        recipe.train_config(checkpoint_path=ckpt, progress=False),
        evaluate=evaluate,
    )
    model.eval()
    # 10,000 fresh sequences that training never drew (the lesson's test set is seed 2)
    x_test, y_test = parity_test_set(10_000, LENGTH, seed=12_345)
    final = evaluate_parity(model, x_test, y_test)

    weights = pretrained.write_weights(LESSON, model.state_dict())
    record = {
        "lesson": LESSON,
        "seed": args.seed,
        "steps": run.steps,
        "train_seconds": round(run.seconds, 1),
        **pretrained.provenance(args.threads),
        "recipe": {
            "batch_size": args.batch_size,
            "lr": args.lr,
            "warmup_steps": row.train.warmup_steps,
            "schedule": "cosine",
            "grad_clip": row.train.grad_clip,
            "max_seconds": args.max_seconds,
        },
        "model_args": model_args,
        "parameters": count_parameters(model),
        "length": LENGTH,
        "test_sequences": len(x_test),
        "test_seed": 12_345,
        "per_position_accuracy": final["per_position"],
        "sequence_accuracy": final["sequence"],
        "by_position": [round(float(a), 5) for a in final["by_position"]],
        "eval_history": run.history["eval"],
    }
    record = pretrained.write_record(LESSON, record)
    print(
        f"{run.steps} steps in {run.seconds:.0f} s: per position "
        f"{final['per_position']:.4f}, sequence {final['sequence']:.4f}; "
        f"wrote {weights} (sha256 {record['sha256'][:12]}...) and "
        f"{pretrained.repo_record(LESSON)}"
    )


if __name__ == "__main__":
    main()
