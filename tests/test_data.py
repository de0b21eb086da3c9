"""Tests of ctm_course.data: idx files, data resolution, the shipped sample, augmentation, batches."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import ctm_course.data.mnist as mnist_mod
from ctm_course.data import (
    ImageData,
    InfiniteBatches,
    batches,
    load_fashion_mnist,
    load_images,
    load_mnist,
    normalise,
    random_affine,
    random_shift,
    read_idx,
    read_idx_images,
    read_idx_labels,
    shift_images,
    write_idx,
)


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def _fake_split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def _write_split(
    folder: Path, stem: str, n: int, gz: bool = True, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = _fake_split(n, seed)
    ext = ".gz" if gz else ""
    write_idx(folder / f"{stem}-images-idx3-ubyte{ext}", images)
    write_idx(folder / f"{stem}-labels-idx1-ubyte{ext}", labels)
    return images, labels


@pytest.fixture
def isolated(no_local_data, monkeypatch):
    """No $CTM_COURSE_DATA, an empty cwd (``no_local_data``), and a download that always fails."""
    calls = []

    def no_network(spec, root):
        calls.append((spec.name, Path(root)))
        raise RuntimeError("no network in this test")

    monkeypatch.setattr(mnist_mod, "_download", no_network)
    return calls


def _shared_data() -> Path | None:
    """The offline copies (../shared/data beside the checkout, or $CTM_COURSE_DATA)."""
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "data"]
    env = os.environ.get("CTM_COURSE_DATA")
    if env:
        candidates.insert(0, Path(env))
    for c in candidates:
        if (c / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
            return c
    return None


# ------------------------------------------------------------------------------------------
# idx files
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    images, labels = _fake_split(7)
    pi = write_idx(tmp_path / f"img{suffix}", images)
    pl = write_idx(tmp_path / f"lab{suffix}", labels)
    assert (pi.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    got_i, got_l = read_idx_images(pi), read_idx_labels(pl)
    assert got_i.dtype == np.uint8 and got_i.shape == (7, 28, 28)
    assert got_l.dtype == np.uint8 and got_l.shape == (7,)
    np.testing.assert_array_equal(got_i, images)
    np.testing.assert_array_equal(got_l, labels)
    assert got_i.flags.writeable
    # the header is the documented one: magic 2051, N, rows, cols
    raw = pi.read_bytes()
    raw = gzip.decompress(raw) if suffix else raw
    assert raw[:16] == bytes.fromhex(
        "00000803 00000007 0000001c 0000001c".replace(" ", "")
    )


def test_idx_bad_magic_and_truncation(tmp_path):
    labels = write_idx(tmp_path / "labels.gz", np.arange(5, dtype=np.uint8))
    with pytest.raises(ValueError, match="magic"):
        read_idx_images(labels)  # a label file is not an image file
    images = write_idx(tmp_path / "images", _fake_split(3)[0])
    with pytest.raises(ValueError, match="magic"):
        read_idx_labels(images)
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x12\x34\x56\x78" + bytes(20))
    with pytest.raises(ValueError, match="magic"):
        read_idx(junk)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_idx_images(truncated)
    bad_gz = tmp_path / "bad.gz"
    bad_gz.write_bytes(gzip.compress(images.read_bytes())[:-20])
    with pytest.raises(ValueError, match="gzip"):
        read_idx_images(bad_gz)
    with pytest.raises(FileNotFoundError):
        read_idx_images(tmp_path / "missing.gz")


# ------------------------------------------------------------------------------------------
# resolution: root, $CTM_COURSE_DATA, ./data, download, sample
# ------------------------------------------------------------------------------------------
def test_env_offline_full(tmp_path, isolated, monkeypatch, capsys):
    offline = tmp_path / "offline"
    images, labels = _write_split(offline / "mnist", "t10k", 20)
    monkeypatch.setenv("CTM_COURSE_DATA", str(offline))
    data = load_mnist(train=False)
    assert data.source == "offline-full" and data.root == str(offline)
    assert data.images.shape == (20, 1, 28, 28) and data.images.dtype == torch.float32
    assert data.labels.dtype == torch.int64 and len(data) == 20
    torch.testing.assert_close(
        data.images[:, 0], torch.from_numpy(images).float() / 255
    )
    assert data.labels.tolist() == labels.tolist()
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "MNIST test" in out and "$CTM_COURSE_DATA" in out
    assert data.note in out
    assert isolated == []  # no download attempted


def test_env_offline_subset_and_full_train(tmp_path, isolated, monkeypatch, capsys):
    offline = tmp_path / "offline"
    _write_split(offline / "mnist", "train-5k", 30)
    monkeypatch.setenv("CTM_COURSE_DATA", str(offline))
    data = load_mnist(train=True)
    assert data.source == "offline-subset" and len(data) == 30 and data.split == "train"
    out = capsys.readouterr().out
    assert "subset" in out and "lower" in out
    # a full training file wins over the subset
    _write_split(offline / "mnist", "train", 40, gz=False)
    data = load_mnist(train=True, verbose=False)
    assert data.source == "offline-full" and len(data) == 40
    assert capsys.readouterr().out == ""


def test_fashion_offline_layout(tmp_path, isolated):
    _write_split(tmp_path / "fashion-mnist", "train", 12)
    data = load_fashion_mnist(train=True, root=tmp_path, verbose=False)
    assert data.source == "offline-full" and len(data) == 12
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    with pytest.raises(FileNotFoundError):  # only train was written; no MNIST either
        load_mnist(train=True, root=tmp_path, download=False, verbose=False)


def test_one_loader_for_every_data_set(tmp_path, isolated):
    _write_split(tmp_path / "mnist", "t10k", 7)
    data = load_images("mnist", train=False, root=tmp_path, verbose=False)
    same = load_mnist(train=False, root=tmp_path, verbose=False)
    assert data.name == same.name == "MNIST" and torch.equal(data.images, same.images)
    with pytest.raises(ValueError, match=r"unknown data set 'svhn'.*'cifar10'"):
        load_images("svhn")


def test_torchvision_cache_layout(isolated, monkeypatch):
    # ./data/MNIST/raw with uncompressed files, as torchvision leaves them
    _write_split(Path("data") / "MNIST" / "raw", "t10k", 15, gz=False)
    data = load_mnist(train=False, verbose=False)
    # torchvision's layout but not its 10,000 images
    assert data.source == "offline-subset"
    assert Path(data.root).resolve() == (Path.cwd() / "data").resolve()
    small = dataclasses.replace(mnist_mod.MNIST_SPEC, full_test=15)
    monkeypatch.setattr(mnist_mod, "MNIST_SPEC", small)
    assert load_mnist(train=False, verbose=False).source == "download"


def test_env_wins_over_cache(tmp_path, isolated, monkeypatch):
    _write_split(Path("data") / "MNIST" / "raw", "t10k", 15)
    _write_split(tmp_path / "env" / "mnist", "t10k", 25)
    monkeypatch.setenv("CTM_COURSE_DATA", str(tmp_path / "env"))
    assert len(load_mnist(train=False, verbose=False)) == 25


def test_corrupt_candidate_is_skipped(tmp_path, isolated, monkeypatch, capsys):
    folder = tmp_path / "env" / "mnist"
    _write_split(folder, "t10k", 10)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])  # a truncated download
    monkeypatch.setenv("CTM_COURSE_DATA", str(tmp_path / "env"))
    data = load_mnist(train=False)
    assert data.source == "sample"
    assert "skipping" in capsys.readouterr().out
    with pytest.raises(ValueError):  # an explicit root reports the broken file instead
        load_mnist(train=False, root=tmp_path / "env", verbose=False)


def test_falls_back_to_sample(isolated, capsys):
    train = load_mnist(train=True)
    out = capsys.readouterr().out
    assert train.source == "sample" and train.root.endswith("mnist_sample.npz")
    assert out.count("\n") == 1 and "WARNING" in out and "download failed" in out
    assert "no network in this test" in out
    assert [name for name, _ in isolated] == ["MNIST"]
    assert isolated[0][1] == Path("data")  # the download goes to ./data
    test = load_mnist(train=False, verbose=False)
    assert test.source == "sample"
    assert len(train) == 2000 and len(test) == 1000
    assert train.class_counts().tolist() == [200] * 10
    assert test.class_counts().tolist() == [100] * 10
    assert train.images.shape[1:] == (1, 28, 28)
    assert 0.0 <= float(train.images.min()) and float(train.images.max()) <= 1.0
    assert float(train.images.max()) > 0.99
    fashion = load_fashion_mnist(train=True, verbose=False)
    assert fashion.source == "sample" and fashion.class_counts().tolist() == [150] * 10
    assert len(load_fashion_mnist(train=False, verbose=False)) == 500
    # no download wanted: no attempt, still the sample
    isolated.clear()
    assert load_mnist(train=True, download=False, verbose=False).source == "sample"
    assert isolated == []


def test_explicit_empty_root_raises(tmp_path, isolated):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=str(empty)):
        load_mnist(train=False, root=empty, download=False)
    with pytest.raises(FileNotFoundError, match="download"):
        # the (failing) download into root was tried
        load_mnist(train=False, root=empty)
    assert isolated and isolated[-1][1] == empty


def test_download_verifies_torchvision_md5(monkeypatch, tmp_path):
    """The download path with a fake network: files land in ./data/MNIST/raw, md5s are re-checked."""
    import torchvision.datasets
    import torchvision.datasets.utils as tvu

    monkeypatch.delenv("CTM_COURSE_DATA", raising=False)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    served: dict[str, bytes] = {}
    for stem, n in (("train", 30), ("t10k", 20)):
        images, labels = _fake_split(n)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            write_idx(tmp_path / "tmp.gz", arr)
            served[f"{stem}-{kind}-ubyte.gz"] = (tmp_path / "tmp.gz").read_bytes()
    resources = [(name, hashlib.md5(blob).hexdigest()) for name, blob in served.items()]

    def fake_download_and_extract_archive(
        url, download_root, filename=None, md5=None, **kw
    ):
        root = Path(download_root)
        root.mkdir(parents=True, exist_ok=True)
        (root / filename).write_bytes(served[filename])  # ignores md5 on purpose
        (root / filename[:-3]).write_bytes(gzip.decompress(served[filename]))

    monkeypatch.setattr(
        tvu, "download_and_extract_archive", fake_download_and_extract_archive
    )
    monkeypatch.setattr(
        torchvision.datasets.MNIST, "mirrors", ["https://example.invalid/"]
    )
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", resources)
    monkeypatch.setattr(
        mnist_mod, "MNIST_SPEC", dataclasses.replace(mnist_mod.MNIST_SPEC, full_test=20)
    )
    data = load_mnist(train=False, verbose=False)
    assert data.source == "download" and len(data) == 20
    assert (Path("data") / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").is_file()
    assert "checksums verified" in data.note

    # a file that does not match torchvision's md5 is rejected -> sample, with the reason
    shutil.rmtree("data")
    bad = [
        (name, "0" * 32 if name.startswith("t10k-images") else md5)
        for name, md5 in resources
    ]
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", bad)
    data = load_mnist(train=False, verbose=False)
    assert data.source == "sample" and "md5" in data.note


# ------------------------------------------------------------------------------------------
# the real offline copies
# ------------------------------------------------------------------------------------------
@pytest.fixture
def shared(monkeypatch):
    root = _shared_data()
    if root is None:
        pytest.skip("offline data copy (../shared/data) not present")
    monkeypatch.setattr(
        mnist_mod, "_download", lambda spec, root: pytest.fail("no download expected")
    )
    return root


def test_real_mnist(shared, monkeypatch):
    monkeypatch.setenv("CTM_COURSE_DATA", str(shared))
    test = load_mnist(train=False, verbose=False)
    assert test.source == "offline-full" and len(test) == 10_000
    assert test.images.shape == (10_000, 1, 28, 28)
    assert sorted(test.labels.unique().tolist()) == list(range(10))
    assert float(test.images.min()) == 0.0 and float(test.images.max()) == 1.0
    train = load_mnist(train=True, verbose=False)
    assert train.source == "offline-subset" and len(train) == 5_000
    assert train.class_counts().tolist() == [500] * 10
    # subsets: balanced and reproducible
    sub = train.subset(1000, seed=3)
    assert len(sub) == 1000 and sub.class_counts().tolist() == [100] * 10
    assert torch.equal(sub.images, train.subset(1000, seed=3).images)
    assert not torch.equal(
        sub.labels, train.subset(1000, seed=4).labels
    ) or not torch.equal(sub.images, train.subset(1000, seed=4).images)
    assert len(train.subset(123, seed=0, balanced=False)) == 123


def test_real_fashion_mnist(shared):
    train = load_fashion_mnist(train=True, root=shared, verbose=False)
    test = load_fashion_mnist(train=False, root=shared, verbose=False)
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.source == test.source == "offline-full"
    assert train.class_counts().tolist() == [6000] * 10
    assert 0.0 <= float(test.images.min()) and float(test.images.max()) <= 1.0


# ------------------------------------------------------------------------------------------
# ImageData
# ------------------------------------------------------------------------------------------
def _indexed_data(n: int, num_classes: int = 10) -> ImageData:
    """Image i is filled with the value i, so batches reveal which samples they hold."""
    images = (
        torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()
    )
    labels = torch.arange(n) % num_classes
    return ImageData(
        images, labels, [str(k) for k in range(num_classes)], "sample", None
    )


def test_image_data_validation_and_subset():
    data = _indexed_data(100)
    assert len(data) == 100 and data.num_classes == 10
    sub = data.subset(25, seed=0)
    assert sub.class_counts().tolist() == [3] * 5 + [2] * 5
    ids = sub.images[:, 0, 0, 0].long()
    assert torch.equal(sub.labels, data.labels[ids]) and bool((ids.diff() > 0).all())
    with pytest.raises(ValueError, match="subset"):
        data.subset(0)
    skewed = ImageData(
        data.images[:20],
        torch.tensor([0] * 11 + list(range(1, 10))),
        data.classes,
        "sample",
        None,
    )
    with pytest.raises(ValueError, match="class 1"):
        skewed.subset(19)  # classes 0..8 need 2 each, classes 1..9 have one each
    assert len(skewed.subset(19, balanced=False)) == 19
    with pytest.raises(ValueError, match="source"):
        ImageData(data.images, data.labels, data.classes, "internet", None)
    with pytest.raises(ValueError, match="labels"):
        ImageData(data.images, data.labels[:5], data.classes, "sample", None)


# ------------------------------------------------------------------------------------------
# augmentation
# ------------------------------------------------------------------------------------------
def test_shift_basics():
    x = torch.rand(6, 3, 10, 12)
    assert random_shift(x, 3).shape == x.shape
    assert (
        random_affine(x, degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1)).shape
        == x.shape
    )
    assert torch.equal(random_shift(x, 0), x)
    assert torch.equal(shift_images(x, torch.zeros(6, 2, dtype=torch.long)), x)
    torch.testing.assert_close(random_affine(x), x, atol=1e-5, rtol=0)
    with pytest.raises(ValueError):
        random_shift(x, -1)


def test_single_pixel_moves_by_the_shift():
    b, h, w, m = 50, 9, 11, 3
    x = torch.zeros(b, 1, h, w)
    x[:, 0, 4, 5] = 1.0
    gen_seed = 123
    out = random_shift(x, m, generator=torch.Generator().manual_seed(gen_seed))
    shifts = torch.randint(
        -m, m + 1, (b, 2), generator=torch.Generator().manual_seed(gen_seed)
    )
    assert shifts.abs().max() == m and shifts.unique().numel() > 1
    flat = out.view(b, -1).argmax(1)
    assert torch.equal(flat // w, 4 + shifts[:, 0]) and torch.equal(
        flat % w, 5 + shifts[:, 1]
    )
    assert torch.equal(out.sum((1, 2, 3)), torch.ones(b))
    # explicit shifts, including one that pushes the pixel off the image
    out = shift_images(x[:3], torch.tensor([[1, -2], [-4, 0], [0, 6]]))
    assert out[0, 0, 5, 3] == 1 and out[1, 0, 0, 5] == 1 and out[2].sum() == 0


def test_shift_conserves_mass_and_is_seeded():
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 8:20, 8:20] = torch.rand(64, 1, 12, 12)
    out = random_shift(x, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.sum((1, 2, 3)), x.sum((1, 2, 3)))
    again = random_shift(x, 4, generator=torch.Generator().manual_seed(0))
    other = random_shift(x, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again) and not torch.equal(out, other)


def test_random_affine_geometry_and_seed():
    x = torch.zeros(32, 1, 28, 28)
    x[:, :, 10:18, 9:19] = torch.rand(32, 1, 8, 10)
    # rotation by exactly 90 degrees maps pixel centres onto pixel centres
    rot = random_affine(x, degrees=(90.0, 90.0))
    assert any(
        torch.allclose(rot, torch.rot90(x, k, (2, 3)), atol=1e-5) for k in (1, -1)
    )
    # pure translation conserves mass (bilinear weights sum to one) when nothing falls off
    moved = random_affine(
        x, translate=(0.1, 0.1), generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(
        moved.sum((1, 2, 3)), x.sum((1, 2, 3)), atol=1e-4, rtol=1e-5
    )
    assert not torch.allclose(moved, x)
    # zooming out by 2 halves the extent: mass shrinks about four times
    small = random_affine(x, scale=(0.5, 0.5))
    ratio = small.sum() / x.sum()
    assert 0.2 < float(ratio) < 0.3
    a = random_affine(
        x, 20, (0.1, 0.1), (0.8, 1.2), generator=torch.Generator().manual_seed(5)
    )
    b = random_affine(
        x, 20, (0.1, 0.1), (0.8, 1.2), generator=torch.Generator().manual_seed(5)
    )
    assert torch.equal(a, b)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0 + 1e-6


def test_normalise():
    x = torch.full((2, 1, 3, 3), 0.1307)
    assert torch.allclose(normalise(x), torch.zeros_like(x), atol=1e-6)
    assert torch.allclose(normalise(torch.ones(1), 0.5, 0.25), torch.tensor([2.0]))


# ------------------------------------------------------------------------------------------
# batches
# ------------------------------------------------------------------------------------------
def _ids(x: torch.Tensor) -> list[int]:
    return x[:, 0, 0, 0].long().tolist()


def test_batches_one_epoch():
    data = _indexed_data(103)
    seen = []
    sizes = []
    for x, y in batches(data, 10, shuffle=True, seed=0):
        seen += _ids(x)
        sizes.append(len(x))
        assert torch.equal(y, data.labels[x[:, 0, 0, 0].long()])
    assert sorted(seen) == list(range(103)) and sizes == [10] * 10 + [3]
    assert seen != list(range(103))
    again = [i for x, _ in batches(data, 10, shuffle=True, seed=0) for i in _ids(x)]
    assert again == seen
    ordered = [i for x, _ in batches(data, 10, shuffle=False) for i in _ids(x)]
    assert ordered == list(range(103))
    dropped = list(batches(data, 10, shuffle=True, seed=1, drop_last=True))
    assert len(dropped) == 10 and all(len(x) == 10 for x, _ in dropped)
    shifted = next(batches(data, 4, shuffle=False, transform=lambda x: x + 1000))
    assert _ids(shifted[0]) == [1000, 1001, 1002, 1003]


@pytest.mark.parametrize("drop_last", [False, True])
def test_infinite_batches_epochs(drop_last):
    n, bs = 23, 5
    stream = InfiniteBatches(_indexed_data(n), bs, seed=7, drop_last=drop_last)
    per_epoch = stream.batches_per_epoch
    assert per_epoch == (4 if drop_last else 5)
    epochs = []
    for _ in range(3):
        ids = [i for _ in range(per_epoch) for i in _ids(next(stream)[0])]
        epochs.append(ids)
        if drop_last:
            assert len(ids) == len(set(ids)) == 20
        else:
            assert sorted(ids) == list(range(n))
    # reshuffled every epoch: no two epochs in the same order
    assert len({tuple(e) for e in epochs}) == 3
    assert stream.epoch == 2


def test_infinite_batches_resume(tmp_path):
    data = _indexed_data(37)
    a = InfiniteBatches(data, 8, seed=3)
    for _ in range(11):  # into the third epoch
        next(a)
    state = a.state_dict()
    torch.save({"batches": state}, tmp_path / "ckpt.pt")
    expected = [_ids(next(a)[0]) for _ in range(9)]

    b = InfiniteBatches(data, 8, seed=3)
    b.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=True)["batches"])
    assert [_ids(next(b)[0]) for _ in range(9)] == expected
    # an uninterrupted run gives the same sequence
    c = InfiniteBatches(data, 8, seed=3)
    assert [_ids(next(c)[0]) for _ in range(20)][11:] == expected
    with pytest.raises(ValueError, match="seed"):
        InfiniteBatches(data, 8, seed=4).load_state_dict(state)
    with pytest.raises(ValueError, match="batch_size"):
        InfiniteBatches(data, 4, seed=3).load_state_dict(state)


def test_one_ranking_of_data_sources():
    from ctm_course import results
    from ctm_course.data import DATA_SOURCES, SOURCES, ImageData, worst_source
    from ctm_course.data.mnist import ImageData as MnistImageData

    assert results.DATA_SOURCES is DATA_SOURCES and MnistImageData is ImageData
    assert SOURCES == DATA_SOURCES[:4] and DATA_SOURCES[-1] == "synthetic"
    assert worst_source(["offline-subset", "download"]) == "offline-subset"
    with pytest.raises(ValueError):
        worst_source(["elsewhere"])
