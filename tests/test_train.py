"""The training loop: it learns, it resumes exactly, it stops clearly on a non-finite loss."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from ctm_course.averaging import warmup_decay, weight_average
from ctm_course.config import lesson_config
from ctm_course.data import ImageData, InfiniteBatches
from ctm_course.train import TrainConfig, fit, lr_factor, warmup_for


def toy_data(n: int = 256) -> ImageData:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, 4, 4, generator=g)
    labels = (images.mean((1, 2, 3)) > 0.5).long()
    return ImageData(
        images=images,
        labels=labels,
        classes=["low", "high"],
        source="sample",
        root=None,
    )


def step_fn(model, batch):
    x, y = batch
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y)
    return loss, {"accuracy": (logits.argmax(1) == y).float().mean().item()}


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 2))


def interrupted_run(config: TrainConfig, after_steps: int, seed: int = 3) -> None:
    """Train a fresh model under ``config`` and interrupt it (KeyboardInterrupt) during step ``after_steps + 1``."""
    calls = [0]

    def stopping_step(model, batch):
        calls[0] += 1
        if calls[0] > after_steps:
            raise KeyboardInterrupt
        return step_fn(model, batch)

    with pytest.raises(KeyboardInterrupt):
        fit(
            make_model(),
            InfiniteBatches(toy_data(), 32, seed=seed),
            stopping_step,
            config,
        )


def test_training_reduces_loss():
    data = toy_data()
    model = make_model()
    result = fit(
        model,
        InfiniteBatches(data, 32, seed=0),
        step_fn,
        TrainConfig(steps=150, lr=0.5, eval_every=50, progress=False),
        evaluate=lambda m: {
            "accuracy": (m(data.images).argmax(1) == data.labels).float().mean().item()
        },
    )
    losses = [row["loss"] for row in result.history["train"]]
    assert sum(losses[-20:]) / 20 < 0.7 * sum(losses[:20]) / 20
    assert [row["step"] for row in result.history["eval"]] == [50, 100, 150]
    assert result.history["eval"][-1]["accuracy"] > 0.8
    assert not model.training


def test_checkpoint_resume_matches_uninterrupted_run(tmp_path):
    data = toy_data()
    config = dict(
        steps=40,
        lr=0.05,
        warmup_steps=5,
        checkpoint_every=10,
        progress=False,
        eval_every=1000,
    )
    straight = make_model()
    fit(straight, InfiniteBatches(data, 32, seed=3), step_fn, TrainConfig(**config))

    path = tmp_path / "run.pt"
    first = make_model()
    fit(
        first,
        InfiniteBatches(data, 32, seed=3),
        step_fn,
        TrainConfig(**{**config, "steps": 40}, checkpoint_path=path),
    )
    # an interruption during step 24: the checkpoint of step 20 is the last one
    path2 = tmp_path / "interrupted.pt"
    interrupted_run(TrainConfig(**config, checkpoint_path=path2), after_steps=23)
    resumed = make_model()  # a fresh process: new model, new batch source
    result = fit(
        resumed,
        InfiniteBatches(data, 32, seed=3),
        step_fn,
        TrainConfig(**config, checkpoint_path=path2),
    )
    assert result.resumed_from == 20 and result.steps == 40
    for a, b in zip(straight.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b)
    for a, b in zip(straight.parameters(), first.parameters()):
        torch.testing.assert_close(a, b)
    # a finished run resumes to "done" without training again
    again = fit(
        make_model(),
        InfiniteBatches(data, 32, seed=3),
        step_fn,
        TrainConfig(**config, checkpoint_path=path),
    )
    assert again.resumed_from == 40 and len(again.history["train"]) == 40


def test_non_finite_loss_stops_with_clear_message(tmp_path):
    data = toy_data()

    def exploding(model, batch):
        loss, metrics = step_fn(model, batch)
        return loss * float("nan"), metrics

    with pytest.raises(FloatingPointError, match="loss became nan before step 1"):
        fit(
            make_model(),
            InfiniteBatches(data, 32),
            exploding,
            TrainConfig(steps=5, progress=False),
        )


def test_log_every_reads_back_means_of_the_steps_in_between():
    """log_every=N: one history row per N steps, holding the mean of the per-step numbers."""
    data = toy_data()
    every_step = fit(
        make_model(),
        InfiniteBatches(data, 32),
        step_fn,
        TrainConfig(steps=12, progress=False),
    )
    logged = fit(
        make_model(),
        InfiniteBatches(data, 32),
        step_fn,
        TrainConfig(
            steps=12, log_every=4, eval_every=4, checkpoint_every=4, progress=False
        ),
    )
    rows = logged.history["train"]
    assert [r["step"] for r in rows] == [4, 8, 12]
    losses = [r["loss"] for r in every_step.history["train"]]
    for i, row in enumerate(rows):
        assert row["loss"] == pytest.approx(
            sum(losses[4 * i : 4 * i + 4]) / 4, rel=1e-5
        )
    with pytest.raises(ValueError, match="multiple of log_every"):
        TrainConfig(steps=10, log_every=3, eval_every=10)


def test_schedule_and_config_validation():
    config = TrainConfig(steps=100, warmup_steps=10)
    assert lr_factor(0, config) == pytest.approx(0.1)
    assert lr_factor(10, config) == pytest.approx(1.0)
    assert lr_factor(100, config) == pytest.approx(0.01)
    for bad in (
        dict(steps=0),
        dict(steps=5, lr=0),
        dict(steps=5, schedule="step"),
        dict(steps=5, ema_decay=1.0),
        dict(steps=5, ema_decay=0.0),
    ):
        with pytest.raises(ValueError):
            TrainConfig(**bad)


def test_time_budget_stops_training_and_ends_the_schedule(
    tmp_path, capsys, monkeypatch
):
    import ctm_course.train as train_module

    clock = {
        "now": 0.0
    }  # a fake clock: each step takes exactly 1/8 s, whatever the host
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: clock["now"])

    def slow_step(model, batch):
        clock["now"] += 0.125
        return step_fn(model, batch)

    data = toy_data()
    evaluated = []
    config = TrainConfig(
        steps=10_000,
        lr=0.1,
        warmup_steps=2,
        max_seconds=5.0,
        log_every=5,
        eval_every=50,
        checkpoint_every=50,
        checkpoint_path=tmp_path / "timed.pt",
        progress=False,
    )
    result = fit(
        make_model(),
        InfiniteBatches(data, 32, seed=0),
        slow_step,
        config,
        evaluate=lambda m: evaluated.append(1) or {"n": 1.0},
    )
    assert result.steps == 40 and result.seconds == 5.0  # 40 steps of 1/8 s
    assert (
        "Time budget of 5 s spent after 40 of 10,000 steps" in capsys.readouterr().out
    )
    rows = result.history["train"]
    # the last step is logged, evaluated and checkpointed
    assert rows[-1]["step"] == result.steps
    assert result.history["eval"][-1]["step"] == result.steps
    assert torch.load(tmp_path / "timed.pt", weights_only=True)["step"] == result.steps
    # the cosine followed the clock to its end
    assert rows[-1]["lr"] == pytest.approx(0.1 * 0.01, rel=0.05)
    lrs = [r["lr"] for r in rows]
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:]))
    # resuming a run whose budget is spent trains no further
    again = fit(make_model(), InfiniteBatches(data, 32, seed=0), slow_step, config)
    assert again.resumed_from == result.steps and again.steps == result.steps
    # the time fraction moves the cosine; without a budget the step fraction alone does
    assert lr_factor(10, TrainConfig(steps=1000), time_fraction=0.5) == pytest.approx(
        0.505
    )
    with pytest.raises(ValueError, match="max_seconds"):
        TrainConfig(steps=5, max_seconds=0)


def test_lesson_config_rows():
    smoke, cpu = (
        lesson_config("01_ctm_mnist", "smoke"),
        lesson_config("01_ctm_mnist", "cpu"),
    )
    assert smoke.train.steps < cpu.train.steps
    assert smoke.model.iterations <= cpu.model.iterations
    with pytest.raises(dataclasses.FrozenInstanceError):
        # rows are read-only: a lesson changes a copy (row.replace(...))
        cpu.ablation_steps = 1
    paper = lesson_config("04_tlb_cifar10", "cpu").paper
    paper["model"]["n_state"] = 99  # the dicts inside a row are copies
    assert lesson_config("04_tlb_cifar10", "cpu").paper["model"]["n_state"] != 99
    with pytest.raises(ValueError, match="unknown lesson"):
        lesson_config("99_nothing", "cpu")
    with pytest.raises(ValueError, match="profile"):
        lesson_config("01_ctm_mnist", "tpu")


def test_describe_lists_settings_then_sections():
    lines = lesson_config("01_ctm_mnist", "smoke").describe().splitlines()
    assert lines[0].split() == ["cpu_threads", "None"]
    model_line, train_line = (
        lines.index("  model (CTMConfig):"),
        lines.index("  train (Training):"),
    )
    assert model_line < train_line
    assert all(line.startswith("    ") for line in lines[model_line + 1 : train_line])
    assert [line.split() for line in lines[model_line + 1 : model_line + 3]] == [
        ["iterations", "6"],
        ["d_model", "64"],
    ]
    assert ["steps", "300"] in [line.split() for line in lines[train_line + 1 :]]


def test_training_section_yields_the_train_config_with_one_warmup_rule():
    from ctm_course.config import Training

    recipe = Training(
        steps=1000,
        batch_size=8,
        lr=2e-3,
        warmup_steps=150,
        grad_clip=1.0,
        eval_every=100,
    )
    config = recipe.train_config()
    assert (config.steps, config.lr, config.warmup_steps, config.grad_clip) == (
        1000,
        2e-3,
        150,
        1.0,
    )
    short = recipe.train_config(100, checkpoint_path="run.pt", progress=False)
    assert (short.steps, short.warmup_steps, short.checkpoint_path, short.progress) == (
        100,
        20,
        "run.pt",
        False,
    )
    assert warmup_for(100, 300) == 20 and warmup_for(10_000, 300) == 300
    with pytest.raises(ValueError, match="grad_clip"):
        Training(steps=10, batch_size=8, lr=1e-3, grad_clip=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        Training(steps=10, batch_size=0, lr=1e-3)


def test_train_config_rejects_bad_values():
    for bad, match in [
        (dict(grad_clip=0), "grad_clip"),
        (dict(grad_clip=-1.0), "grad_clip"),
        (dict(weight_decay=-0.1), "weight_decay"),
        (dict(warmup_steps=-1), "warmup_steps"),
        (dict(lr=0), "lr"),
        (dict(eval_every=0), "eval_every"),
        (dict(adam_eps=0), "adam_eps"),
        (dict(schedule="linear"), "schedule"),
    ]:
        with pytest.raises(ValueError, match=match):
            TrainConfig(steps=10, **bad)
    assert (
        TrainConfig(
            steps=10, eval_every=None, checkpoint_every=None, log_every=3
        ).eval_every
        is None
    )


def test_weight_average_follows_the_closed_form():
    """After updates with weights w_1..w_n the average is the warm-up-corrected exponential average."""
    model = nn.Linear(3, 1)
    start = [p.detach().clone() for p in model.parameters()]
    average = weight_average(model, decay=0.5)
    expected = start
    for n in range(1, 6):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(float(n))
        d = min(0.5, (1 + n) / (10 + n))
        assert warmup_decay(0.5, n) == pytest.approx(d)
        assert float(warmup_decay(0.5, torch.tensor(float(n)))) == pytest.approx(d)
        average.update_parameters(model)
        expected = [
            d * e + (1 - d) * p.detach() for e, p in zip(expected, model.parameters())
        ]
    for a, e in zip(average.module.parameters(), expected):
        torch.testing.assert_close(a, e)
    assert not any(p.requires_grad for p in average.module.parameters())
    copy = weight_average(nn.Linear(3, 1), decay=0.5)
    copy.load_state_dict(average.state_dict())
    assert int(copy.n_averaged) == 6  # the initial weights and five updates
    for a, b in zip(copy.module.parameters(), average.module.parameters()):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="decay"):
        weight_average(model, decay=1.5)


def test_fit_with_ema_returns_the_average_and_resumes_it(tmp_path):
    data = toy_data()
    config = dict(
        steps=30,
        lr=0.05,
        checkpoint_every=10,
        progress=False,
        eval_every=10,
        ema_decay=0.9,
    )
    plain = make_model()
    fit(
        plain,
        InfiniteBatches(data, 32, seed=3),
        step_fn,
        TrainConfig(**{**config, "ema_decay": None}),
    )
    # the same run, with the average computed by hand from the per-step weights
    seen = []

    def recording_step(model, batch):
        # the weights after the previous step
        seen.append([p.detach().clone() for p in model.parameters()])
        return step_fn(model, batch)

    evaluated = []
    averaged = make_model()
    fit(
        averaged,
        InfiniteBatches(data, 32, seed=3),
        recording_step,
        TrainConfig(**config),
        evaluate=lambda m: (
            evaluated.append([p.detach().clone() for p in m.parameters()]) or {"n": 1.0}
        ),
    )
    seen = seen[1:] + [
        [p.detach().clone() for p in plain.parameters()]
    ]  # weights after steps 1..30
    expected = [p.detach().clone() for p in make_model().parameters()]
    for n, weights in enumerate(seen, start=1):
        d = min(0.9, (1 + n) / (10 + n))
        expected = [d * e + (1 - d) * w for e, w in zip(expected, weights)]
    for a, e in zip(averaged.parameters(), expected):
        torch.testing.assert_close(a, e)
    # evaluate saw the average, not the last weights
    for a, e in zip(evaluated[-1], expected):
        torch.testing.assert_close(a, e)
    assert not torch.allclose(next(averaged.parameters()), next(plain.parameters()))

    # interrupted after step 20 and resumed: the same average
    path = tmp_path / "ema.pt"
    interrupted_run(TrainConfig(**config, checkpoint_path=path), after_steps=23)
    resumed = make_model()
    result = fit(
        resumed,
        InfiniteBatches(data, 32, seed=3),
        step_fn,
        TrainConfig(**config, checkpoint_path=path),
    )
    assert result.resumed_from == 20
    for a, e in zip(resumed.parameters(), expected):
        torch.testing.assert_close(a, e)


def test_damaged_checkpoint_names_the_file_and_the_way_out(tmp_path):
    from ctm_course.checkpoints import CheckpointError

    path = tmp_path / "run.pt"
    config = TrainConfig(
        steps=4,
        lr=0.05,
        checkpoint_every=2,
        eval_every=2,
        progress=False,
        checkpoint_path=path,
    )
    fit(make_model(), InfiniteBatches(toy_data(), 32, seed=3), step_fn, config)
    path.write_bytes(path.read_bytes()[:100])  # truncated, as by a full disk
    with pytest.raises(CheckpointError, match=r"run\.pt.*Delete it"):
        fit(make_model(), InfiniteBatches(toy_data(), 32, seed=3), step_fn, config)


def test_checkpoint_name_follows_the_settings(tmp_path):
    from ctm_course.checkpoints import checkpoint_path

    row = lesson_config("01_ctm_mnist", "smoke")
    first = checkpoint_path("01_ctm_mnist", "smoke", row, tmp_path)
    assert first == checkpoint_path(
        "01_ctm_mnist", "smoke", lesson_config("01_ctm_mnist", "smoke"), tmp_path
    )
    assert first.parent == tmp_path and first.name.startswith("01_ctm_mnist-smoke-")
    changed = checkpoint_path(
        "01_ctm_mnist", "smoke", row.replace(max_shift=3), tmp_path
    )
    assert changed != first  # other settings never resume this run


KILLED_RUN = """
import sys, time
import torch
from torch import nn
from ctm_course.data import ImageData, InfiniteBatches
from ctm_course.train import TrainConfig, fit

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
images = torch.rand(512, 1, 6, 6, generator=g)
data = ImageData(images=images, labels=(images.mean((1, 2, 3)) > 0.5).long(),
                 classes=["low", "high"], source="sample", root=None)
torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, 2))


def step(net, batch):
    time.sleep(float(sys.argv[3]))  # slow enough to be killed in the middle
    x, y = batch
    return nn.functional.cross_entropy(net(x), y), {}


config = TrainConfig(steps=60, lr=0.05, warmup_steps=5, checkpoint_every=5, eval_every=None,
                     checkpoint_path=sys.argv[1], ema_decay=0.9, progress=False)
fit(model, InfiniteBatches(data, 32, seed=1), step, config)
torch.save(model.state_dict(), sys.argv[2])
"""


def test_a_run_killed_and_resumed_ends_bit_identical(tmp_path):
    """SIGKILL in the middle of training (no clean-up of any kind), then the same command again:
    the final weights equal those of a run left alone, bit for bit (dropout, batches, schedule
    and the weight average resume exactly)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "run.py"
    script.write_text(KILLED_RUN)
    env = {**os.environ, "PYTHONHASHSEED": "0"}

    def run(checkpoint, out, delay="0"):
        return [sys.executable, str(script), str(checkpoint), str(out), delay]

    subprocess.run(
        run(tmp_path / "alone.pt", tmp_path / "alone.w"), env=env, check=True
    )
    checkpoint = tmp_path / "killed.pt"
    victim = subprocess.Popen(run(checkpoint, tmp_path / "killed.w", "0.05"), env=env)
    deadline = time.monotonic() + 120
    while not checkpoint.is_file() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.4)  # a few steps past the first checkpoint
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL and not (tmp_path / "killed.w").exists()
    killed_at = torch.load(checkpoint, weights_only=True)["step"]
    assert 5 <= killed_at < 60
    subprocess.run(run(checkpoint, tmp_path / "killed.w"), env=env, check=True)
    alone = torch.load(tmp_path / "alone.w", weights_only=True)
    resumed = torch.load(tmp_path / "killed.w", weights_only=True)
    for name in alone:
        assert torch.equal(alone[name], resumed[name]), name


def test_checkpoint_of_another_model_names_the_file(tmp_path):
    from ctm_course.checkpoints import CheckpointError

    path = tmp_path / "run.pt"
    config = TrainConfig(
        steps=4, lr=0.05, checkpoint_every=2, progress=False, checkpoint_path=path
    )
    fit(make_model(), InfiniteBatches(toy_data(), 32, seed=3), step_fn, config)
    wider = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))  # another architecture
    with pytest.raises(CheckpointError, match=r"run\.pt.*another model"):
        fit(wider, InfiniteBatches(toy_data(), 32, seed=3), step_fn, config)
