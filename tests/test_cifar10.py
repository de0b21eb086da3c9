"""Tests of ctm_course.data.cifar10: resolution order, the shipped sample, the train/test pipelines."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import ctm_course.data.cifar10 as cifar_mod
from ctm_course.data import keras_train_transform, load_cifar10, test_transform


def _shared_data() -> Path | None:
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "data"]
    if os.environ.get("CTM_COURSE_DATA"):
        candidates.insert(0, Path(os.environ["CTM_COURSE_DATA"]))
    for c in candidates:
        if (c / cifar_mod.OFFLINE_FILE).is_file():
            return c
    return None


@pytest.fixture
def isolated(no_local_data, monkeypatch):
    """No $CTM_COURSE_DATA, an empty cwd (``no_local_data``), and a download that always fails."""
    calls = []

    def no_network(root):
        calls.append(Path(root))
        raise RuntimeError("no network in this test")

    monkeypatch.setattr(cifar_mod, "_download", no_network)
    return calls


def test_sample_fallback_is_balanced_uint8_and_says_so(isolated, capsys):
    train = load_cifar10(True)
    test = load_cifar10(False, download=False)
    assert isolated, "a download was tried before the sample"
    assert train.source == test.source == "sample"
    assert train.images.dtype == torch.uint8 and tuple(train.images.shape[1:]) == (
        3,
        32,
        32,
    )
    assert len(train) == 200 and len(test) == 100
    assert (
        train.class_counts().tolist() == [20] * 10
        and test.class_counts().tolist() == [10] * 10
    )
    assert train.classes[0] == "airplane" and train.classes[-1] == "truck"
    out = capsys.readouterr().out
    assert "WARNING" in out and "sample" in out and "CTM_COURSE_DATA" in out


def test_sample_is_small():
    path = Path(cifar_mod.__file__).parent / "sample" / cifar_mod.SAMPLE_FILE
    assert path.stat().st_size < 400_000


def test_explicit_root_without_data_raises(isolated, tmp_path):
    with pytest.raises(FileNotFoundError, match="root="):
        load_cifar10(False, root=tmp_path / "empty", download=False)


def test_torchvision_layout_is_read(isolated, tmp_path):
    import pickle

    folder = tmp_path / "tv" / cifar_mod.TV_FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (10_000, 3072), dtype=np.uint8)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({"data": data, "labels": list(range(10)) * 1000}, fh)
    test = load_cifar10(False, root=tmp_path / "tv")
    assert test.source == "download" and len(test) == 10_000
    assert torch.equal(test.images[1], torch.from_numpy(data[1].reshape(3, 32, 32)))


def test_offline_copy_from_env(monkeypatch, capsys):
    shared = _shared_data()
    if shared is None:
        pytest.skip("the shared offline CIFAR-10 copy is not present")
    monkeypatch.setenv("CTM_COURSE_DATA", str(shared))
    test = load_cifar10(False)
    assert test.source == "offline-full" and len(test) == 10_000
    assert test.class_counts().tolist() == [1000] * 10
    assert test.images.dtype == torch.uint8 and 40 < test.images.float().mean() < 200
    assert "offline" in capsys.readouterr().out
    # the copy stores the classes one after the other; a prefix must still be a fair sample (the Keras
    # example keeps the *first* 40,000 training images, which in class order were eight classes only)
    train = load_cifar10(True)
    first = torch.bincount(train.labels[:40_000], minlength=10)
    assert first.min() > 3_800 and first.max() < 4_200, first.tolist()
    assert torch.bincount(test.labels[:1000], minlength=10).min() > 70


def test_sample_prefix_has_every_class(isolated):
    train = load_cifar10(True, verbose=False)
    assert len(set(train.labels[:50].tolist())) == 10


def test_train_pipeline_is_random_and_test_pipeline_is_not():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    a = keras_train_transform(
        images, 48, 52, generator=torch.Generator().manual_seed(1)
    )
    b = keras_train_transform(
        images, 48, 52, generator=torch.Generator().manual_seed(2)
    )
    assert (
        a.shape == (16, 3, 48, 48)
        and a.dtype == torch.float32
        and 0 <= a.min()
        and a.max() <= 1
    )
    assert not torch.equal(a, b), "two draws of the train pipeline should differ"
    t1, t2 = test_transform(images, 48), test_transform(images, 48)
    assert torch.equal(t1, t2), (
        "the test pipeline must be deterministic (no augmentation)"
    )
    same = test_transform(images, 32)
    assert torch.allclose(same, images.float() / 255)


def test_random_crop_and_flip_take_windows_of_the_image():
    from ctm_course.data.cifar10 import random_crop, random_flip

    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    crops = random_crop(x, 4, torch.Generator().manual_seed(0))
    for i in range(2):
        windows = [x[i, :, r : r + 4, c : c + 4] for r in range(3) for c in range(3)]
        assert any(torch.equal(crops[i], w) for w in windows)
    flips = random_flip(x, torch.Generator().manual_seed(0))
    for i in range(2):
        assert torch.equal(flips[i], x[i]) or torch.equal(flips[i], x[i].flip(-1))
    with pytest.raises(ValueError, match="larger"):
        random_crop(x, 7)


def test_corrupt_candidate_is_skipped(tmp_path, isolated, monkeypatch, capsys):
    """A damaged offline copy found by the search is skipped with a message (the search goes on);
    under an explicit ``root`` it is an error that names the file."""
    path = tmp_path / "env" / cifar_mod.OFFLINE_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 a truncated download")
    monkeypatch.setenv("CTM_COURSE_DATA", str(tmp_path / "env"))
    data = load_cifar10(False)
    assert data.source == "sample"
    out = capsys.readouterr().out
    assert "skipping" in out and "cifar10-jpeg.npz" in out
    with pytest.raises(ValueError, match="cifar10-jpeg.npz"):
        load_cifar10(False, root=tmp_path / "env", download=False, verbose=False)
