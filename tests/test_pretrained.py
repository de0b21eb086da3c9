"""The shipped trained models: pinned weights, clear errors, and the accuracy their records claim."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from ctm_course import pretrained
from ctm_course.parity import evaluate_parity, parity_test_set
from ctm_course.rcnn.stimuli import load_sources
from ctm_course.rcnn.torch_stimuli import TorchStimuli
from ctm_course.rcnn.training import accuracy

GAIN_AT_LEAST = 0.45
"""Lesson 5's shipped gain network on cluttered test images (its record: 0.540 on 2,000)."""


@pytest.mark.parametrize("lesson", ["02_ctm_parity", "05_recurrent_cnn_lab"])
def test_the_model_ships_with_its_pin(lesson):
    assert lesson in pretrained.available()
    path = pretrained.weights_path(lesson)
    assert path.stat().st_size <= 5 * 2**20, "shipped weights must stay under 5 MB"
    assert pretrained.sha256_of(path) == pretrained.MODELS[lesson].sha256


def test_the_solved_parity_model_solves_parity():
    model, info = pretrained.load("02_ctm_parity")
    assert info["length"] == 16 and not model.training
    x, y = parity_test_set(2000, 16, seed=777)  # sequences the record never saw
    with torch.no_grad():
        predictions, certainties, _ = model(x)
    assert predictions.shape == (2000, 32, model.iterations)
    assert certainties.shape == (2000, 2, model.iterations)
    result = evaluate_parity(model, x, y)
    assert result["per_position"] >= 0.99
    assert result["sequence"] >= 0.95
    # the record's own figures, on its 10,000 sequences, say the same
    assert info["per_position_accuracy"] >= 0.99 and info["sequence_accuracy"] >= 0.95
    assert info["test_sequences"] == 10_000


@pytest.mark.parametrize("lesson", ["02_ctm_parity", "05_recurrent_cnn_lab"])
def test_record_names_how_it_was_trained(lesson):
    _, info = pretrained.load(lesson)
    for key in ("command", "seed", "steps", "train_seconds", "device", "sha256"):
        assert key in info, key
    assert info["sha256"] == pretrained.MODELS[lesson].sha256
    shipped = pretrained.weights_path(lesson).with_suffix(".json")
    results = pretrained.repo_record(lesson)
    assert json.loads(shipped.read_text()) == json.loads(results.read_text())


def test_the_recurrent_cnns_name_the_cluttered_target():
    """Lesson 5's shipped pair on cluttered images neither the record nor the lesson drew."""
    both, info = pretrained.load("05_recurrent_cnn_lab")
    assert set(both.networks) == {"gain", "feedforward"} and not both.training
    assert both.networks["gain"].n_feats == info["model_args"]["n_feats"]
    test = TorchStimuli(load_sources("test"), "cpu")(300, seed=777)
    gain = accuracy(both.networks["gain"], test, clean=False)[0]
    feedforward = accuracy(both.networks["feedforward"], test, clean=False)[0]
    assert gain >= GAIN_AT_LEAST, gain
    assert gain > feedforward + 0.05, (gain, feedforward)
    # the record measured the same before and after packing the top-down matrices
    for measured in info["accuracy"].values():
        drift = abs(
            measured["shipped_cluttered_accuracy"] - measured["cluttered_accuracy"]
        )
        assert drift <= 0.01, measured
    assert info["accuracy"]["gain"]["shipped_cluttered_accuracy"] >= GAIN_AT_LEAST


def test_unknown_lesson_is_a_clear_error():
    with pytest.raises(ValueError, match="available"):
        pretrained.load("09_nothing")


def _copy_to(tmp_path, monkeypatch):
    for suffix in (".pt", ".json"):
        src = pretrained.weights_path("02_ctm_parity").with_suffix(suffix)
        shutil.copy(src, tmp_path / src.name)
    monkeypatch.setattr(pretrained, "WEIGHTS_FOLDER", tmp_path)
    return tmp_path / "02_ctm_parity.pt"


def test_a_damaged_file_is_refused_by_name(tmp_path, monkeypatch):
    path = _copy_to(tmp_path, monkeypatch)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(pretrained.PretrainedError, match="SHA-256") as err:
        pretrained.load("02_ctm_parity")
    assert str(path) in str(err.value)


def test_a_missing_file_is_refused_by_name(tmp_path, monkeypatch):
    path = _copy_to(tmp_path, monkeypatch)
    path.unlink()
    with pytest.raises(pretrained.PretrainedError, match="missing") as err:
        pretrained.load("02_ctm_parity")
    assert str(path) in str(err.value)


def test_a_packed_model_is_written_pinned_and_loaded_back(tmp_path, monkeypatch):
    """The scripts' writers: packed weights, a record with their hash, a load that unpacks."""
    from ctm_course import compact

    monkeypatch.setattr(pretrained, "WEIGHTS_FOLDER", tmp_path / "package")
    monkeypatch.setattr(
        pretrained,
        "repo_record",
        lambda lesson: tmp_path / "results" / f"{lesson}.json",
    )
    torch.manual_seed(0)
    model = torch.nn.Linear(400, 300)  # 120,000 weights: packed
    path = pretrained.write_weights("99_test", compact.pack(model.state_dict()))
    assert path == tmp_path / "package" / "99_test.pt"
    record = pretrained.write_record("99_test", {"steps": 3, "width": 400})
    assert record["sha256"] == pretrained.sha256_of(path)
    assert json.loads((tmp_path / "results" / "99_test.json").read_text()) == record
    monkeypatch.setitem(
        pretrained.MODELS,
        "99_test",
        pretrained.Shipped(
            sha256=record["sha256"],
            build=lambda info: torch.nn.Linear(info["width"], 300),
        ),
    )
    loaded, info = pretrained.load("99_test")
    assert info == record and not loaded.training
    assert loaded.weight.dtype == torch.float32
    step = model.weight.abs().amax(dim=1, keepdim=True) / 127
    assert torch.all((loaded.weight - model.weight).abs() <= step / 2 + 1e-7)
    assert torch.equal(loaded.bias, model.bias)  # small tensors stay exact


def test_provenance_names_the_command_machine_and_commit():
    record = pretrained.provenance(threads=2)
    assert set(record) == {"command", "device", "torch", "commit", "date"}
    assert record["device"].startswith("CPU (") and "2 threads" in record["device"]
    assert record["torch"] == torch.__version__
    assert record["command"].startswith("python ")
    assert len(record["commit"]) in (0, 12)  # empty outside a git checkout
