"""Train and evaluate one model of lesson 4 from a preset or a profile row, without the notebook.

Usage (one GPU; prints time, steps and test accuracy; writes a JSON file)::

    python -m ctm_course.tlb.run --mode keras --epochs 30 --out results.json
    python -m ctm_course.tlb.run --mode paper --profile gpu --out paper.json
    python -m ctm_course.tlb.run --mode paper --profile gpu --epochs 60 --max-seconds 600   # stop after 10 min
    python -m ctm_course.tlb.run --mode vit --profile cpu --steps 50          # a quick check

``--mode keras`` (or ``keras-tf``, the example's first revision) without ``--profile`` uses the
Keras example's preset (:data:`ctm_course.tlb.presets.KERAS`); otherwise the run comes from ``ctm_course.config.TLB``
for the profile (default: ``gpu`` with CUDA, else ``cpu``). Data come from
:func:`ctm_course.data.load_cifar10` (``$CTM_COURSE_DATA``, ``./data``, a download, the sample).
The runs kept in ``results/runs/`` are read back by :func:`recorded_runs`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from ..cli import add_overrides, device_and_profile, run_parser, write_json
from ..data.image_data import ImageData
from ..parameters import count_parameters
from ..paths import repo_root
from ..precision import autocast_dtype
from ..train import TrainResult, seed_everything
from .model import TemporalLatentBottleneck
from .presets import KERAS, build, steps_of, train_config, with_overrides
from .train import evaluate_accuracy, train_classifier

OVERRIDES = {"epochs": int, "steps": int, "batch_size": int, "max_seconds": float}
"""The run's values that command-line flags may override (``--batch-size`` ...)."""


def train_run(
    name: str,
    run: dict[str, Any],
    train: ImageData,
    test: ImageData,
    device: torch.device,
    *,
    paper_model: dict[str, Any] | None = None,
    seed: int = 0,
    amp_dtype: torch.dtype | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    on_log: Callable[[int, Mapping[str, float], Mapping[str, float] | None], None]
    | None = None,
    evaluate_during: ImageData | None = None,
) -> tuple[torch.nn.Module, TrainResult, dict[str, Any]]:
    """Build, train and test the model of ``run`` (see :mod:`ctm_course.tlb.presets`).

    Args:
        name: ``"keras"``, ``"paper"`` or ``"vit"`` (the latter needs ``paper_model``).
        train, test: uint8 CIFAR-10 splits; ``run["train"]["train_images"]`` (if set) keeps the first
            that many training images, as the Keras example keeps the first 40,000.
        amp_dtype: autocast dtype; default bf16 on CUDA, none on the CPU.
        evaluate_during: a split to evaluate on every ``eval_every`` steps (for live curves).

    Returns:
        ``(model, result, summary)`` with ``summary`` holding the test accuracy and loss, steps,
        seconds, parameters and the run's settings.
    """
    recipe = run["train"]
    if recipe.get("train_images"):
        n = min(int(recipe["train_images"]), len(train))
        train = ImageData(
            train.images[:n],
            train.labels[:n],
            train.classes,
            train.source,
            train.root,
            train.name,
            train.split,
            train.note,
        )
    seed_everything(seed)
    model = build(run, name, paper_model).to(device)
    image_size = (paper_model if name == "vit" else run["model"])["image_size"]
    amp_dtype = amp_dtype if amp_dtype is not None else autocast_dtype(device)
    steps = steps_of(recipe, len(train))
    log_every = int(recipe.get("log_every", 10))
    eval_every = int(recipe.get("eval_every", steps))
    eval_every = max(log_every, eval_every - eval_every % log_every)
    config = train_config(
        recipe,
        steps,
        eval_every=eval_every,
        checkpoint_every=eval_every,
        checkpoint_path=checkpoint,
        seed=seed,
        progress=progress,
    )
    evaluate = None
    if evaluate_during is not None:

        def evaluate(m):
            return evaluate_accuracy(
                m, evaluate_during, image_size, amp_dtype=amp_dtype
            )

    result = train_classifier(
        model,
        train,
        config,
        batch_size=recipe["batch_size"],
        image_size=image_size,
        resize_to=recipe.get("resize_to"),
        amp_dtype=amp_dtype,
        log_every=log_every,
        evaluate=evaluate,
        on_log=on_log,
        forward=(
            TemporalLatentBottleneck.forward_batched
            if isinstance(model, TemporalLatentBottleneck)
            else None
        ),
    )
    tested = evaluate_accuracy(model, test, image_size, amp_dtype=amp_dtype)
    summary = {
        "name": name,
        "test_accuracy": tested["accuracy"],
        "test_loss": tested["loss"],
        "test_images": len(test),
        "train_images": len(train),
        "steps": result.steps,
        "train_seconds": result.seconds,
        "epochs": result.steps * recipe["batch_size"] / len(train),
        "parameters": count_parameters(model),
        "run": run,
    }
    return model, result, summary


def recorded_runs(folder: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Lesson 4's runs kept in ``folder`` (default ``<repository>/results/runs``).

    Returns:
        ``{file stem: record}`` of the ``04_tlb_*.json`` files, e.g. ``"04_tlb_paper"``; empty
        outside the repository (on Colab), where those files are not installed.
    """
    if folder is None:
        root = repo_root()
        if root is None:
            return {}
        folder = root / "results" / "runs"
    paths = sorted(Path(folder).glob("04_tlb_*.json"))
    return {path.stem: json.loads(path.read_text()) for path in paths}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from ..config import lesson_config
    from ..data import load_cifar10

    parser = run_parser(
        __doc__.split("\n\n")[0],
        "take the run from ctm_course.config.TLB (default for paper/vit: gpu with CUDA, "
        "else cpu; keras and keras-tf without --profile use the Keras preset)",
        "folder with CIFAR-10 (default: the usual search)",
    )
    parser.add_argument(
        "--mode", choices=("keras", "keras-tf", "paper", "vit"), required=True
    )
    add_overrides(parser, OVERRIDES, {"max_seconds": "a wall-clock budget: stop there"})
    parser.add_argument(
        "--init",
        choices=("torch", "keras"),
        default=None,
        help="initial weights of the TLB: PyTorch's (default) or Keras' (keras_initialisation)",
    )
    args = parser.parse_args(argv)

    device, prof = device_and_profile(args)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    config = lesson_config("04_tlb_cifar10", prof)
    keras_mode = args.mode in ("keras", "keras-tf")
    if keras_mode and args.profile is None:
        run, prof = KERAS, "keras-preset"
    else:
        run = getattr(config, "keras" if keras_mode else "paper")
    run = with_overrides(run, **{name: getattr(args, name) for name in OVERRIDES})
    if keras_mode:
        run["model"]["mode"] = args.mode
    if args.init is not None and args.mode != "vit":
        run["model"]["init"] = args.init
    started = time.perf_counter()
    train = load_cifar10(True, root=args.data_root)
    test = load_cifar10(False, root=args.data_root)
    load_seconds = time.perf_counter() - started
    _, _, summary = train_run(
        args.mode,
        run,
        train,
        test,
        device,
        paper_model=config.paper["model"],
        seed=args.seed,
        progress=True,
    )
    summary.update(
        profile=prof,
        device=str(
            torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        ),
        torch=torch.__version__,
        data_source=train.source,
        load_seconds=load_seconds,
    )
    print(
        f"{args.mode}: {summary['steps']:,} steps ({summary['epochs']:.1f} epochs) in "
        f"{summary['train_seconds']:.1f} s on {summary['device']}; test accuracy "
        f"{summary['test_accuracy']:.4f} on {summary['test_images']:,} images ({summary['parameters']:,} parameters)"
    )
    write_json(args.out, summary)
    return summary


if __name__ == "__main__":
    main()
