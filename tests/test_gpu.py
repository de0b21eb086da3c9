"""The course on a GPU: a graphed run resumes bit for bit, and the bf16 and channels_last paths train.

Every test here needs a CUDA device and skips without one; ``make gpu-check``
(``scripts/gpu_check.py``) runs them on a lent GPU with ``tests/test_cuda_graph.py``. The
lessons' own GPU paths (their gpu rows, end to end) are what the check's quick runs prove.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"
)
ROOT = Path(__file__).resolve().parents[1]

# One process trains the same graphed run three times: twice uninterrupted (the control: the GPU's
# kernels give the same bits twice), once stopped after the step-8 checkpoint and resumed.
RESUME_RUN = r"""
import sys
from pathlib import Path

import torch

torch.use_deterministic_algorithms(True, warn_only=True)
from ctm_course.ctm import ContinuousThoughtMachine
from ctm_course.losses import image_classification_loss
from ctm_course.train import TrainConfig, fit

device = torch.device(sys.argv[2])
folder = Path(sys.argv[1])
TINY = dict(iterations=4, d_model=32, d_input=16, heads=2, n_synch_out=8, n_synch_action=8,
            memory_length=4, memory_hidden_dims=4, backbone_type="tutorial-conv", out_dims=10,
            dropout=0.1)


class Batches:
    def __init__(self):
        gen = torch.Generator().manual_seed(0)
        self.batches = [(torch.randn(16, 1, 28, 28, generator=gen),
                         torch.randint(0, 10, (16,), generator=gen)) for _ in range(5)]
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        self.i += 1
        return tuple(t.to(device) for t in self.batches[(self.i - 1) % 5])

    def state_dict(self):
        return {"i": self.i}

    def load_state_dict(self, state):
        self.i = state["i"]


def step(model, batch):
    images, labels = batch
    predictions, certainties, _ = model(images)
    loss, _ = image_classification_loss(predictions, certainties, labels)
    return loss, {}


class Stop(Exception):
    pass


def run(name, stop_at=None):
    torch.manual_seed(0)
    model = ContinuousThoughtMachine(**TINY).to(device)
    config = TrainConfig(steps=16, lr=3e-3, warmup_steps=3, grad_clip=1.0, eval_every=None,
                         checkpoint_every=4, checkpoint_path=folder / f"{name}.pt", progress=False)

    def on_log(step, row, evaluated):
        if step == stop_at:
            raise Stop

    try:
        result = fit(model, Batches(), step, config, on_log=on_log)
    except Stop:
        return
    losses = [row["loss"] for row in result.history["train"]]
    torch.save({"model": model.state_dict(), "losses": losses}, folder / f"{name}.out")


run("alone")
run("again")
run("resumed", stop_at=10)  # the last checkpoint is step 8's
run("resumed")
"""


def test_a_graphed_run_resumes_bit_for_bit(tmp_path):
    """Stopped after a checkpoint and run again, a CUDA-graphed run (dropout, warm-up steps on a
    side stream, a new capture after the resume) ends with the weights of a run left alone, bit
    for bit: the checkpoint holds the CUDA random state that the graph replays advanced."""
    script = tmp_path / "resume.py"
    script.write_text(RESUME_RUN)
    env = {
        **os.environ,
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",  # deterministic cuBLAS
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "cuda"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "capture failed" not in done.stdout, done.stdout
    assert "Resumed from checkpoint resumed.pt at step 8" in done.stdout, done.stdout
    alone, again, resumed = (
        torch.load(tmp_path / f"{name}.out", weights_only=True)
        for name in ("alone", "again", "resumed")
    )
    for name, weights in alone["model"].items():
        assert torch.equal(weights, again["model"][name]), (
            f"{name}: two uninterrupted graphed runs already differ, so this GPU's kernels "
            "are not deterministic here and a resume cannot be checked bit for bit"
        )
    assert resumed["losses"] == alone["losses"]
    for name, weights in alone["model"].items():
        assert torch.equal(weights, resumed["model"][name]), name


def _tiny_images(n: int = 128):
    from ctm_course.data.image_data import ImageData

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 4
    images = torch.randint(0, 60, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
    images[:, 0] += (labels * 60).to(torch.uint8)[:, None, None]  # red level = class
    return ImageData(
        images, labels.long(), ["a", "b", "c", "d"], "sample", None, "tiny", "train"
    )


def test_tlb_trains_under_bf16_autocast_in_a_cuda_graph(capsys):
    """The TLB's GPU path (the lesson's and ``python -m ctm_course.tlb.run``'s): bf16 autocast,
    each step one captured CUDA graph; the loss falls and evaluation runs under bf16 too."""
    from ctm_course.precision import autocast_dtype
    from ctm_course.tlb import TemporalLatentBottleneck, evaluate_accuracy
    from ctm_course.tlb.train import train_classifier
    from ctm_course.train import TrainConfig

    device = torch.device("cuda")
    amp = autocast_dtype(device)
    assert amp is torch.bfloat16
    torch.manual_seed(0)
    data = _tiny_images()
    model = TemporalLatentBottleneck(
        mode="paper",
        num_classes=4,
        image_size=16,
        patch_size=4,
        embed_dim=16,
        chunk_size=4,
        r=2,
        num_layers=2,
        heads=2,
        dropout=0.0,
        attn_dropout=0.0,
    ).to(device)
    before = evaluate_accuracy(model, data, 16, amp_dtype=amp)["loss"]
    config = TrainConfig(
        steps=60, lr=3e-3, eval_every=60, checkpoint_every=60, progress=False
    )
    result = train_classifier(
        model,
        data,
        config,
        batch_size=32,
        image_size=16,
        resize_to=17,
        amp_dtype=amp,
        log_every=10,
    )
    after = evaluate_accuracy(model, data, 16, amp_dtype=amp)
    assert "capture failed" not in capsys.readouterr().out
    assert result.steps == 60 and all(
        torch.isfinite(torch.tensor(r["loss"])) for r in result.history["train"]
    )
    assert after["loss"] < 0.7 * before and after["accuracy"] > 0.5
    assert all(p.dtype == torch.float32 for p in model.parameters())  # bf16 only inside


def test_recurrent_cnn_trains_channels_last_under_bf16_in_a_cuda_graph(capsys):
    """Lesson 5's GPU path: ``channels_last`` weights and inputs, bf16 autocast, fresh stimuli drawn
    on the GPU, each step one captured CUDA graph; then the batched evaluation on the GPU."""
    import numpy as np

    from ctm_course.rcnn import (
        ObjectSources,
        RecurrentCNN,
        StimulusBatches,
        TorchStimuli,
        accuracy,
    )
    from ctm_course.rcnn.training import memory_format, step_fn
    from ctm_course.train import TrainConfig, fit

    device = torch.device("cuda")
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 10
    images = [rng.random((40, 28, 28)).astype(np.float32) for _ in range(2)]
    sources = ObjectSources(
        (images[0], images[1]), (labels, labels), split="test", source="sample"
    )
    torch.manual_seed(0)
    model = RecurrentCNN(2, 4).to(device).to(memory_format=memory_format(device))
    batches = StimulusBatches(
        TorchStimuli(sources, device), 8, seed=0, curriculum_steps=3
    )
    config = TrainConfig(
        steps=8,
        lr=1e-3,
        log_every=2,
        eval_every=None,
        checkpoint_every=None,
        progress=False,
    )
    result = fit(model, batches, step_fn, config)
    assert "capture failed" not in capsys.readouterr().out
    assert result.steps == 8 and len(result.history["train"]) == 4
    convolutions = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(
        w.is_contiguous(memory_format=torch.channels_last) for w in convolutions
    )
    loss, _ = step_fn(model, next(batches))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    cluttered, clean = accuracy(model, TorchStimuli(sources, device)(20, seed=1))
    assert 0 <= cluttered <= 1 and clean is not None and 0 <= clean <= 1
