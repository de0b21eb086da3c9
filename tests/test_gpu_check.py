"""``make gpu-check`` on a CPU: the quick mode of the lessons' rows, and the check's runner and report.

The check itself needs a GPU (``scripts/gpu_check.py``); here its parts are tested with fake and
trivial notebooks, and the quick rows against the profile table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import gpu_check
import nbformat
import pytest
import torch

from ctm_course import notebook
from ctm_course.config import LESSONS, Training, lesson_config
from ctm_course.profile import PROFILES, QUICK_ENV_VAR, quick_mode
from ctm_course.quick import (
    QUICK_EXTRA_STEPS,
    QUICK_SECONDS,
    QUICK_SIZES,
    QUICK_STEPS,
    quick,
)
from ctm_course.results import load_all, record, record_path
from ctm_course.tlb.presets import steps_of
from ctm_course.tlb.presets import train_config as tlb_train_config
from ctm_course.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
ROWS = [(lesson, prof) for lesson in LESSONS for prof in PROFILES]


# ------------------------------------------------------------------------------ the switch
@pytest.mark.parametrize(
    "value, expected",
    [("", False), ("0", False), ("off", False), ("1", True), (" TRUE ", True)],
)
def test_quick_mode_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(QUICK_ENV_VAR, value)
    assert quick_mode() is expected


def test_quick_mode_is_off_when_unset_and_refuses_other_values(monkeypatch):
    monkeypatch.delenv(QUICK_ENV_VAR, raising=False)
    assert quick_mode() is False
    monkeypatch.setenv(QUICK_ENV_VAR, "fast")
    with pytest.raises(ValueError, match=f"{QUICK_ENV_VAR}='fast'.*allowed"):
        quick_mode()


# ------------------------------------------------------------------------------ quick rows
def _trainings(row) -> list[Training]:
    return [
        getattr(row, f.name)
        for f in dataclasses.fields(row)
        if isinstance(getattr(row, f.name), Training)
    ]


def _recipes(row) -> dict[str, dict]:
    return {
        f.name: getattr(row, f.name)["train"]
        for f in dataclasses.fields(row)
        if isinstance(getattr(row, f.name), dict)
        and isinstance(getattr(row, f.name).get("train"), dict)
    }


@pytest.mark.parametrize("lesson, prof", ROWS)
def test_every_row_has_a_quick_cut(lesson, prof):
    """Every field of every row is cut or kept on purpose (an unknown field raises)."""
    row = lesson_config(lesson, prof)
    cut = quick(row)
    assert type(cut) is type(row)
    assert _trainings(row) or _recipes(row)


@pytest.mark.parametrize("lesson", list(LESSONS))
def test_quick_gpu_rows_cap_the_steps_and_keep_models_batches_and_data(lesson):
    row = lesson_config(lesson, "gpu")
    cut = quick(row)
    changed = set()
    for f in dataclasses.fields(row):
        before, after = getattr(row, f.name), getattr(cut, f.name)
        if before != after:
            changed.add(f.name)
    # models, data and code paths stay the gpu row's
    kept = {"model", "ctm", "data", "n_feats", "t_steps", "length", "train_images"}
    kept |= {"d_backbone", "window", "max_shift", "cpu_threads"}
    assert not changed & kept, changed & kept
    for name in ("keras", "paper"):
        if hasattr(row, name):
            before, after = getattr(row, name), getattr(cut, name)
            assert after["model"] == before["model"]
            for key in ("batch_size", "train_images", "lr", "resize_to", "schedule"):
                assert after["train"].get(key) == before["train"].get(key), key
    for before, after in zip(_trainings(row), _trainings(cut)):
        assert before.batch_size == after.batch_size and before.lr == after.lr
        assert after.steps == min(before.steps, QUICK_STEPS) < before.steps
        assert after.max_seconds is None or after.max_seconds <= QUICK_SECONDS
        config = after.train_config(checkpoint_path=None, progress=False)
        assert isinstance(config, TrainConfig) and config.steps == after.steps
        # an evaluation and a checkpoint fall inside the quick run
        for every in (config.eval_every, config.checkpoint_every):
            assert every is None or every < config.steps
    for recipe in _recipes(cut).values():
        steps = steps_of(recipe, 50_000)
        assert steps <= QUICK_STEPS
        log_every = recipe.get("log_every", 10)
        assert recipe["eval_every"] % log_every == 0 and recipe["eval_every"] < steps
        config = tlb_train_config(recipe, steps, eval_every=recipe["eval_every"])
        assert config.max_seconds is None or config.max_seconds <= QUICK_SECONDS
    for name, cap in {**QUICK_EXTRA_STEPS, **QUICK_SIZES}.items():
        if hasattr(row, name) and getattr(row, name) is not None:
            assert getattr(cut, name) == min(getattr(row, name), cap), name
    if hasattr(row, "curriculum_steps"):
        assert cut.curriculum_steps <= cut.train.steps // 2
    # the row itself is untouched (rows are shared by every lesson run)
    assert lesson_config(lesson, "gpu") == row


def test_quick_cuts_lesson_5s_phase_of_b_alone():
    row = lesson_config("05_recurrent_cnn_lab", "cpu")
    cut = quick(row)
    assert row.feedforward_first_steps > QUICK_STEPS
    assert cut.feedforward_first_steps == QUICK_STEPS
    assert cut.feedforward_first_seconds == min(
        row.feedforward_first_seconds, QUICK_SECONDS
    )
    # the gpu row has no phase one, and quick mode does not add one
    assert quick(lesson_config("05_recurrent_cnn_lab", "gpu")).first_config() is None


def test_quick_leaves_a_whole_split_whole():
    """``test_images=None`` (the whole test set) stays whole: a subset could be larger than a
    small data set (the MNIST sample has 1,000 test digits)."""
    row = lesson_config("01_ctm_mnist", "gpu")
    assert row.test_images is None and quick(row).test_images is None


def test_quick_refuses_an_unknown_field_and_a_non_row():
    @dataclasses.dataclass(frozen=True)
    class Row:
        train: Training
        mystery_steps: int = 1000

    with pytest.raises(ValueError, match="mystery_steps"):
        quick(Row(train=Training(steps=1000, batch_size=8, lr=1e-3)))
    with pytest.raises(ValueError, match="row must be a profile row"):
        quick({"train": 1})


# ------------------------------------------------------------------------------ start()
def _start(monkeypatch, quick_value: str | None):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CTM_COURSE_PROFILE", "gpu")
    if quick_value is None:
        monkeypatch.delenv(QUICK_ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(QUICK_ENV_VAR, quick_value)
    return notebook.start("02_ctm_parity")


def test_start_applies_the_quick_switch(monkeypatch, capsys):
    lesson = _start(monkeypatch, "1")
    out = capsys.readouterr().out
    assert lesson.quick is True and lesson.profile == "gpu"
    assert lesson.config == quick(lesson_config("02_ctm_parity", "gpu"))
    assert lesson.config.train.steps == QUICK_STEPS
    assert "quick mode" in out
    assert ["steps", str(QUICK_STEPS)] in [line.split() for line in out.splitlines()]


def test_start_without_the_switch_gives_the_full_row(monkeypatch, capsys):
    lesson = _start(monkeypatch, None)
    assert lesson.quick is False
    assert lesson.config == lesson_config("02_ctm_parity", "gpu")
    assert "quick mode" not in capsys.readouterr().out


# ------------------------------------------------------------------------------ where quick runs write
METRICS = {
    "test_accuracy": 0.5,
    "accuracy_per_tick": [0.4, 0.5],
    "mean_ticks_early_exit": 3.0,
    "early_exit_accuracy": 0.5,
}


def test_quick_results_go_to_their_own_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("CTM_COURSE_RESULTS", str(tmp_path))
    monkeypatch.setenv(QUICK_ENV_VAR, "1")
    args = dict(train_seconds=2.0, steps=200, data_source="sample", profile_name="gpu")
    path = record("01_ctm_mnist", METRICS, **args)
    assert path == tmp_path / "gpu-check" / "runs" / "01_ctm_mnist.json"
    assert path == record_path("01_ctm_mnist", "gpu")
    assert not (tmp_path / "gpu").exists()
    entry = json.loads(path.read_text())
    assert entry["quick"] is True and entry["profile"] == "gpu"
    assert load_all(tmp_path) == []  # the results page never shows a quick run
    monkeypatch.setenv(QUICK_ENV_VAR, "0")
    full = record("01_ctm_mnist", METRICS, **args)
    assert full == tmp_path / "gpu" / "01_ctm_mnist.json"
    assert "quick" not in json.loads(full.read_text())
    assert [e["profile"] for e in load_all(tmp_path)] == ["gpu"]


def test_quick_checkpoints_go_to_their_own_folder(monkeypatch):
    from ctm_course.checkpoints import checkpoint_path

    monkeypatch.setenv(QUICK_ENV_VAR, "1")
    quick_path = checkpoint_path("01_ctm_mnist", "gpu", {"a": 1})
    monkeypatch.delenv(QUICK_ENV_VAR)
    full_path = checkpoint_path("01_ctm_mnist", "gpu", {"a": 1})
    assert quick_path == full_path.parent / "gpu-check" / full_path.name


# ------------------------------------------------------------------------------ the script
def test_the_script_without_cuda_stops_at_once_with_exit_2():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "no CUDA device: make gpu-check needs a GPU" in done.stderr


def test_main_without_cuda_returns_2(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 2
    assert gpu_check.NO_CUDA_MESSAGE in capsys.readouterr().err


def test_device_slug_and_last_lines():
    assert gpu_check.device_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    text = "\x1b[0;31mValueError\x1b[0m: boom\n\n" + "\n".join(map(str, range(30)))
    assert gpu_check.last_lines(text, 3) == "27\n28\n29"
    assert gpu_check.last_lines("\x1b[0;31mKeyError\x1b[0m: x") == "KeyError: x"


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _fake_result(root: Path, lesson: str, steps: int, seconds: float) -> None:
    path = root / "gpu-check" / "runs" / f"{lesson}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"steps": steps, "train_seconds": seconds, "data_source": "sample"}
    path.write_text(json.dumps({**entry, "gpu_peak_memory_gib": 1.25}))


def _run_fake_check(tmp_path, budget=480.0, tests_pass=True):
    clock = FakeClock()
    calls = []

    def execute(nb, output_dir, env, timeout):
        calls.append((nb.stem, env["CTM_COURSE_QUICK"], env["CTM_COURSE_PROFILE"]))
        assert timeout <= budget
        clock.now += 30.0
        if nb.stem == "02_bad":
            raise RuntimeError("cell 7 failed\nTraceback ...\nAssertionError: too slow")
        _fake_result(Path(env["CTM_COURSE_RESULTS"]), nb.stem, 200, 4.0)

    def run_tests(timeout):
        clock.now += 20.0
        return tests_pass, "....s\n2 passed, 1 skipped in 3.1s\n"

    _fake_result(tmp_path, "02_bad", 5, 1.0)  # an earlier check's: must not be read
    report = gpu_check.run_check(
        [Path("01_good.ipynb"), Path("02_bad.ipynb"), Path("03_late.ipynb")],
        execute=execute,
        run_tests=run_tests,
        results_root=tmp_path,
        output_dir=tmp_path / "executed",
        budget=budget,
        device="NVIDIA H100 80GB HBM3",
        torch_version="2.14.1",
        cuda_version="12.8",
        clock=clock,
        env={"PATH": "/bin"},
    )
    return report, calls


def test_the_report_holds_the_documented_keys(tmp_path):
    report, calls = _run_fake_check(tmp_path)
    assert calls == [(stem, "1", "gpu") for stem in ("01_good", "02_bad", "03_late")]
    path = gpu_check.write_report(report, tmp_path / "gpu-check")
    assert path == tmp_path / "gpu-check" / "nvidia-h100-80gb-hbm3.json"
    saved = json.loads(path.read_text())
    assert list(saved) == list(gpu_check.REPORT_KEYS)
    assert saved["device"] == "NVIDIA H100 80GB HBM3" and saved["torch"] == "2.14.1"
    assert saved["profile"] == "gpu" and saved["quick"]["steps"] == QUICK_STEPS
    assert saved["commit"] and saved["date"].endswith("+00:00")
    assert saved["tests"]["status"] == "passed"
    assert saved["tests"]["summary"] == "2 passed, 1 skipped in 3.1s"
    notebooks = saved["notebooks"]
    assert list(notebooks) == ["01_good", "02_bad", "03_late"]
    for entry in notebooks.values():
        assert set(entry) == set(gpu_check.NOTEBOOK_KEYS)
    good, bad = notebooks["01_good"], notebooks["02_bad"]
    assert good["status"] == "passed" and good["seconds"] == 30.0
    assert good["steps_per_second"] == 50.0 and good["gpu_peak_memory_gib"] == 1.25
    assert good["error"] is None and good["data_source"] == "sample"
    assert bad["status"] == "failed" and bad["steps_per_second"] is None
    assert bad["steps"] is None  # not the earlier check's result
    assert bad["error"].endswith("AssertionError: too slow")
    assert bad["error"].startswith("RuntimeError: cell 7 failed")
    assert saved["seconds"] == 110.0 and saved["passed"] is False


def test_lessons_past_the_budget_are_skipped(tmp_path):
    report, calls = _run_fake_check(tmp_path, budget=60.0)
    assert [c[0] for c in calls] == ["01_good"]  # 20 s tests + 30 s leave 10 s
    statuses = {k: v["status"] for k, v in report["notebooks"].items()}
    assert statuses == {"01_good": "passed", "02_bad": "skipped", "03_late": "skipped"}
    assert report["passed"] is False


def test_write_report_refuses_a_report_without_its_keys(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        gpu_check.write_report({"device": "x"}, tmp_path)


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, path)
    return path


def test_notebooks_run_in_a_kernel_with_the_quick_environment(tmp_path):
    """The real executor: a kernel of this Python in the notebook's folder, the check's
    environment, the executed copy saved; a failing cell fails that notebook alone."""
    good = _notebook(
        tmp_path / "01_good.ipynb",
        "import os\nfrom ctm_course.profile import profile, quick_mode",
        "assert quick_mode() and profile() == 'gpu', os.environ\nprint(os.getcwd())",
    )
    bad = _notebook(tmp_path / "02_bad.ipynb", "x = 1", "raise ValueError('boom')")
    out = tmp_path / "executed"
    report = gpu_check.run_check(
        [good, bad],
        execute=gpu_check.execute_notebook,
        run_tests=None,
        results_root=tmp_path / "results",
        output_dir=out,
        budget=240.0,
        device="cpu",
        torch_version=torch.__version__,
        cuda_version=None,
    )
    entries = report["notebooks"]
    assert entries["01_good"]["status"] == "passed", entries["01_good"]["error"]
    assert entries["02_bad"]["status"] == "failed"
    assert "ValueError: boom" in entries["02_bad"]["error"]
    executed = nbformat.read(out / "01_good.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["text"].strip() == str(tmp_path)
    assert (out / "02_bad.ipynb").is_file() and report["tests"] is None
