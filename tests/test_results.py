"""ctm_course.results.record: the JSON files the results page is generated from."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ctm_course.results import (
    DATA_SOURCES,
    REQUIRED_KEYS,
    REQUIRED_METRICS,
    load_all,
    record,
    results_dir,
)

MNIST_METRICS = {
    "test_accuracy": 0.9812,
    "accuracy_per_tick": [0.1, 0.5, 0.9, 0.98],
    "mean_ticks_early_exit": 12.5,
    "early_exit_accuracy": 0.975,
}


@pytest.fixture
def results(monkeypatch, tmp_path):
    folder = tmp_path / "results"
    monkeypatch.setenv("CTM_COURSE_RESULTS", str(folder))
    monkeypatch.delenv("CTM_COURSE_PROFILE", raising=False)
    return folder


def test_results_dir_follows_the_environment(results):
    assert results_dir() == results


def test_record_writes_every_required_key(results):
    path = record(
        "01_ctm_mnist",
        MNIST_METRICS,
        train_seconds=123.456,
        steps=1000,
        data_source="offline-subset",
        profile_name="cpu",
        extra={"batch_size": 64},
    )
    assert path == results / "cpu" / "01_ctm_mnist.json"
    entry = json.loads(path.read_text())
    assert set(REQUIRED_KEYS) <= set(entry)
    assert entry["lesson"] == "01_ctm_mnist"
    assert entry["profile"] == "cpu"
    assert entry["data_source"] == "offline-subset"
    assert entry["train_seconds"] == pytest.approx(123.46)
    assert entry["steps"] == 1000
    assert entry["torch"] == torch.__version__
    assert entry["device"] and entry["commit"] and entry["date"][:2] == "20"
    assert entry["metrics"] == MNIST_METRICS
    assert entry["extra"] == {"batch_size": 64}


def test_record_uses_the_active_profile(results, monkeypatch):
    monkeypatch.setenv("CTM_COURSE_PROFILE", "smoke")
    path = record(
        "01_ctm_mnist", MNIST_METRICS, train_seconds=1, steps=2, data_source="sample"
    )
    assert path == results / "smoke" / "01_ctm_mnist.json"


def test_tensors_and_arrays_become_plain_numbers(results):
    metrics = dict(
        MNIST_METRICS,
        test_accuracy=torch.tensor(0.5),
        accuracy_per_tick=np.array([0.25, 0.75]),
    )
    entry = json.loads(
        record(
            "01_ctm_mnist",
            metrics,
            train_seconds=1,
            steps=1,
            data_source="sample",
            profile_name="cpu",
        ).read_text()
    )
    assert entry["metrics"]["test_accuracy"] == 0.5
    assert entry["metrics"]["accuracy_per_tick"] == [0.25, 0.75]


def test_unknown_profile_is_rejected(results):
    with pytest.raises(ValueError, match="profile"):
        record(
            "01_ctm_mnist",
            MNIST_METRICS,
            train_seconds=1,
            steps=1,
            data_source="sample",
            profile_name="tpu",
        )


def test_unknown_data_source_is_rejected(results):
    with pytest.raises(ValueError, match="data_source") as info:
        record(
            "01_ctm_mnist",
            MNIST_METRICS,
            train_seconds=1,
            steps=1,
            data_source="internet",
            profile_name="cpu",
        )
    for name in DATA_SOURCES:
        assert name in str(info.value)


@pytest.mark.parametrize("lesson", sorted(REQUIRED_METRICS))
def test_missing_metrics_are_rejected(results, lesson):
    with pytest.raises(ValueError, match=REQUIRED_METRICS[lesson][0]):
        record(
            lesson,
            {},
            train_seconds=1,
            steps=1,
            data_source="sample",
            profile_name="cpu",
        )


@pytest.mark.parametrize(
    "bad", [math.nan, math.inf, -math.inf, [0.5, math.nan], "0.9", True, None]
)
def test_non_finite_or_non_numeric_metrics_are_rejected(results, bad):
    with pytest.raises(ValueError, match="test_accuracy"):
        record(
            "01_ctm_mnist",
            dict(MNIST_METRICS, test_accuracy=bad),
            train_seconds=1,
            steps=1,
            data_source="sample",
            profile_name="cpu",
        )
    assert not (results / "cpu" / "01_ctm_mnist.json").exists()


def test_load_all_sorts_by_lesson_then_profile(results):
    for prof in ("gpu", "smoke", "cpu"):
        record(
            "01_ctm_mnist",
            MNIST_METRICS,
            train_seconds=1,
            steps=1,
            data_source="sample",
            profile_name=prof,
        )
    record(
        "00_extra",
        {"x": 1},
        train_seconds=1,
        steps=1,
        data_source="sample",
        profile_name="cpu",
    )
    order = [(e["lesson"], e["profile"]) for e in load_all()]
    assert order == [
        ("00_extra", "cpu"),
        ("01_ctm_mnist", "smoke"),
        ("01_ctm_mnist", "cpu"),
        ("01_ctm_mnist", "gpu"),
    ]


def test_load_all_reads_only_profile_folders(tmp_path, monkeypatch):
    from ctm_course.results import load_all, record

    monkeypatch.setenv("CTM_COURSE_RESULTS", str(tmp_path))
    record(
        "01_ctm_mnist",
        {
            "test_accuracy": 0.9,
            "accuracy_per_tick": [0.5, 0.9],
            "mean_ticks_early_exit": 1.5,
            "early_exit_accuracy": 0.9,
        },
        train_seconds=1,
        steps=1,
        data_source="sample",
        profile_name="cpu",
    )
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "cpu.json").write_text('{"device": "CPU", "configs": []}')
    assert [e["lesson"] for e in load_all(tmp_path)] == ["01_ctm_mnist"]
