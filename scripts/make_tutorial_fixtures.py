"""Write the tutorial-CTM fixtures of ``tests/test_ctm.py`` (``tests/fixtures/tutorial_ctm/``).

The original MNIST tutorial's CTM is kept outside the repository, as the baseline the course's
CTM is measured against (``../shared/bench/tutorial_reference_ctm.py``). This script runs it
once and stores what the tests compare with: its weights, an input batch and its outputs, and
its gradients, so that the equivalence tests run (and never skip) in any checkout::

    python scripts/make_tutorial_fixtures.py [--reference DIR] [--out DIR]

Each ``<name>.pt`` loads with ``torch.load(path, weights_only=True)``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "tutorial_ctm"

#: The benchmark's configurations 000 and 001 (predictions after two training steps).
PREDICTION_CONFIGS = {
    "predictions_000": dict(
        iterations=15, d_model=128, d_input=128, memory_length=10, heads=2,
        n_synch_out=16, n_synch_action=16, memory_hidden_dims=8, out_dims=10,
    ),
    "predictions_001": dict(
        iterations=30, d_model=128, d_input=32, memory_length=15, heads=1,
        n_synch_out=16, n_synch_action=16, memory_hidden_dims=8, out_dims=10,
    ),
}  # fmt: skip
#: A small configuration whose gradients are compared parameter by parameter.
GRADIENT_CONFIG = dict(
    iterations=6, d_model=48, d_input=16, memory_length=5, heads=2,
    n_synch_out=6, n_synch_action=6, memory_hidden_dims=4, out_dims=10,
)  # fmt: skip


def tutorial_module(folder: Path):
    """Import ``tutorial_reference_ctm`` from ``folder``."""
    if not (folder / "tutorial_reference_ctm.py").is_file():
        raise SystemExit(
            f"no tutorial_reference_ctm.py in {folder} (use --reference DIR)"
        )
    sys.path.insert(0, str(folder))
    return importlib.import_module("tutorial_reference_ctm")


def predictions_fixture(tutorial, config: dict) -> dict:
    """Weights after two AdamW steps (so that they and the decays are not the initial ones), an
    input batch, and the model's predictions and certainties in eval mode."""
    torch.manual_seed(0)
    model = tutorial.ContinuousThoughtMachine(**config)
    x = torch.randn(6, 1, 28, 28)
    with torch.no_grad():
        model(x[:2])  # materialise the lazy layers
    model.register_forward_pre_hook(tutorial.clamp_decay_params)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(2):
        predictions, certainties, _ = model(x)
        loss, _ = tutorial.get_loss(predictions, certainties, torch.arange(6) % 10)
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.eval()
    with torch.no_grad():
        predictions, certainties, _ = model(x)
    return {
        "config": json.dumps(config),
        "state_dict": model.state_dict(),
        "input": x,
        "predictions": predictions,
        "certainties": certainties,
    }


def gradients_fixture(tutorial, config: dict) -> dict:
    """Weights with decays in [0, 2], a labelled batch, the tutorial's loss and the gradient of
    every parameter (train mode)."""
    torch.manual_seed(1)
    model = tutorial.ContinuousThoughtMachine(**config)
    x, y = torch.randn(12, 1, 28, 28), torch.arange(12) % 10
    with torch.no_grad():
        model(x[:2])
        model.decay_params_out.uniform_(0, 2)
        model.decay_params_action.uniform_(0, 2)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    predictions, certainties, _ = model(x)
    loss, _ = tutorial.get_loss(predictions, certainties, y)
    loss.backward()
    return {
        "config": json.dumps(config),
        "state_dict": state,
        "input": x,
        "labels": y,
        "loss": loss.detach(),
        "gradients": {n: p.grad.clone() for n, p in model.named_parameters()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--reference", type=Path, default=ROOT.parent / "shared" / "bench"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    tutorial = tutorial_module(args.reference)
    args.out.mkdir(parents=True, exist_ok=True)
    fixtures = {
        n: predictions_fixture(tutorial, c) for n, c in PREDICTION_CONFIGS.items()
    }
    fixtures["gradients"] = gradients_fixture(tutorial, GRADIENT_CONFIG)
    for name, fixture in fixtures.items():
        path = args.out / f"{name}.pt"
        torch.save(fixture, path)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
