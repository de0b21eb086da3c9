"""The CUDA-graphed train step: same training as the eager step, and harmless where there is no GPU.

The tests marked ``cuda`` run on a GPU machine (the lent H100 of a developer session, a reader's
workstation); on CPU-only CI they are skipped and the CPU tests below check the fallbacks.
"""

from __future__ import annotations

import copy

import pytest
import torch

from ctm_course.ctm import ContinuousThoughtMachine
from ctm_course.cuda_graph import GraphedTrainStep, capturable_adamw
from ctm_course.losses import image_classification_loss
from ctm_course.metrics import correct_at
from ctm_course.train import TrainConfig, fit

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

TINY = dict(
    iterations=4,
    d_model=32,
    d_input=16,
    heads=2,
    n_synch_out=8,
    n_synch_action=8,
    memory_length=4,
    memory_hidden_dims=4,
    backbone_type="tutorial-conv",
    out_dims=10,
)


class Batches:
    """A fixed list of batches, replayed in order (resumable like the course's batch sources)."""

    def __init__(self, batches):
        self.batches, self.i = batches, 0

    def __iter__(self):
        return self

    def __next__(self):
        batch = self.batches[self.i % len(self.batches)]
        self.i += 1
        return batch

    def state_dict(self):
        return {"i": self.i}

    def load_state_dict(self, state):
        self.i = state["i"]


def make_batches(device, n=4, batch=16):
    gen = torch.Generator().manual_seed(0)
    return [
        (
            torch.randn(batch, 1, 28, 28, generator=gen).to(device),
            torch.randint(0, 10, (batch,), generator=gen).to(device),
        )
        for _ in range(n)
    ]


def step_fn(model, batch):
    images, labels = batch
    predictions, certainties, _ = model(images)
    loss, t2 = image_classification_loss(predictions, certainties, labels)
    return loss, {
        "accuracy": correct_at(predictions.detach(), labels, t2).float().mean()
    }


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_graphed_step_needs_cuda():
    model = ContinuousThoughtMachine(**TINY)
    with pytest.raises(RuntimeError, match="CUDA"):
        GraphedTrainStep(model, torch.optim.AdamW(model.parameters()), step_fn)


def test_fit_on_cpu_steps_eagerly_like_a_hand_written_loop(monkeypatch):
    """On a CPU ``cuda_graph=True`` builds no graph: fit's step is forward, loss, backward and a
    fused AdamW step under the warm-up/cosine schedule, exactly as written out by hand here; tensor
    metrics from the step function become floats."""
    import ctm_course.train as train_module
    from ctm_course.train import lr_factor

    def no_graph(*args, **kwargs):
        raise AssertionError("fit built a CUDA graph on a CPU")

    monkeypatch.setattr(train_module, "GraphedTrainStep", no_graph)
    batches = make_batches("cpu")
    config = TrainConfig(steps=6, lr=1e-3, warmup_steps=2, progress=False)
    torch.manual_seed(0)
    model = ContinuousThoughtMachine(**TINY)
    start = copy.deepcopy(model.state_dict())
    result = fit(model, Batches(batches), step_fn, config)

    torch.manual_seed(0)
    by_hand = ContinuousThoughtMachine(**TINY)
    by_hand.load_state_dict(start)
    by_hand.train()
    optimiser = torch.optim.AdamW(
        by_hand.parameters(), lr=1e-3, weight_decay=0.0, fused=True
    )
    losses = []
    for step in range(config.steps):
        for group in optimiser.param_groups:
            group["lr"] = 1e-3 * lr_factor(step, config)
        loss, _ = step_fn(by_hand, batches[step % len(batches)])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert [r["loss"] for r in result.history["train"]] == losses  # bit for bit
    for (name, ours), theirs in zip(
        model.state_dict().items(), by_hand.state_dict().values()
    ):
        assert torch.equal(ours, theirs), name
    rows = result.history["train"]
    assert all(
        isinstance(r["accuracy"], float) and isinstance(r["lr"], float) for r in rows
    )


@cuda
def test_graphed_steps_match_eager_steps():
    """Eight steps as CUDA-graph replays give the parameters that eight eager steps give."""
    device = torch.device("cuda")
    torch.manual_seed(0)
    eager_model = ContinuousThoughtMachine(**TINY).to(device)
    graph_model = copy.deepcopy(eager_model)
    batches = make_batches(device)
    eager_opt = capturable_adamw(eager_model.parameters(), 1e-3, device=device)
    graphed = GraphedTrainStep(
        graph_model,
        capturable_adamw(graph_model.parameters(), 1e-3, device=device),
        step_fn,
        grad_clip=1.0,
    )
    for i in range(8):
        batch = batches[i % len(batches)]
        eager_opt.zero_grad(set_to_none=True)
        loss, _ = step_fn(eager_model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(eager_model.parameters(), 1.0)
        eager_opt.step()
        graph_loss, metrics = graphed(batch)
        assert torch.allclose(graph_loss, loss.detach(), rtol=1e-4, atol=1e-5), i
        assert 0.0 <= float(metrics["accuracy"]) <= 1.0
    assert graphed.graph is not None and not graphed.eager
    for (name, p), q in zip(eager_model.named_parameters(), graph_model.parameters()):
        assert torch.allclose(p, q, rtol=1e-3, atol=1e-5), name


@cuda
def test_fit_with_cuda_graph_follows_the_schedule_and_learns(capsys):
    device = torch.device("cuda")
    histories = []
    for graph in (True, False):
        torch.manual_seed(0)
        model = ContinuousThoughtMachine(**TINY).to(device)
        result = fit(
            model,
            Batches(make_batches(device)),
            step_fn,
            TrainConfig(
                steps=30,
                lr=3e-3,
                warmup_steps=5,
                grad_clip=1.0,
                progress=False,
                cuda_graph=graph,
            ),
        )
        histories.append(result.history["train"])
    assert "capture failed" not in capsys.readouterr().out
    graph_rows, eager_rows = histories
    assert [r["lr"] for r in graph_rows] == pytest.approx([r["lr"] for r in eager_rows])
    assert graph_rows[-1]["loss"] == pytest.approx(eager_rows[-1]["loss"], rel=0.05)
    assert sum(r["loss"] for r in graph_rows[-4:]) < sum(
        r["loss"] for r in graph_rows[:4]
    )


def test_batches_are_copied_field_by_field_and_unknown_types_refused():
    """Batches may be tensors, tuples, dicts or dataclasses of them; anything else cannot be captured."""
    import dataclasses

    from ctm_course.cuda_graph import _copy_into, _map

    @dataclasses.dataclass
    class Batch:
        images: torch.Tensor
        labels: dict

    static = _map(Batch(torch.zeros(2, 3), {"a": torch.zeros(2)}), lambda t: t.clone())
    _copy_into(static, Batch(torch.ones(2, 3), {"a": torch.full((2,), 5.0)}))
    assert static.images.sum() == 6 and static.labels["a"].tolist() == [5.0, 5.0]
    with pytest.raises(ValueError, match="one shape"):
        _copy_into(static, Batch(torch.ones(3, 3), {"a": torch.zeros(2)}))
    with pytest.raises(TypeError, match="cannot copy"):
        _map(object(), lambda t: t)
