"""The benchmark runs, times both models at one configuration and writes its JSON."""

from __future__ import annotations

import json

import bench


def test_bench_writes_json_with_ratio(shared_dir, tmp_path, monkeypatch):
    tiny = (
        dict(
            iterations=3,
            d_model=32,
            d_input=8,
            memory_length=3,
            heads=2,
            n_synch_out=4,
            n_synch_action=4,
            memory_hidden_dims=2,
            out_dims=10,
        ),
        8,
    )
    monkeypatch.setitem(bench.CONFIGS, "tiny", tiny)
    out = bench.main(
        [
            "--configs",
            "tiny",
            "--steps",
            "1",
            "--rounds",
            "1",
            "--device",
            "cpu",
            "--reference",
            str(shared_dir / "bench"),
            "--output",
            str(tmp_path / "b.json"),
        ]
    )
    data = json.loads(out.read_text())
    row = data["configs"][0]
    assert data["device"].startswith("CPU") and data["torch"]
    assert (
        row["config"] == "tiny"
        and row["course_step_s"] > 0
        and row["reference_step_s"] > 0
    )
    assert abs(row["speedup"] - row["reference_step_s"] / row["course_step_s"]) < 1e-9


def test_bench_without_reference(tmp_path, monkeypatch):
    tiny = (
        dict(
            iterations=2,
            d_model=16,
            d_input=8,
            memory_length=2,
            heads=1,
            n_synch_out=2,
            n_synch_action=2,
            memory_hidden_dims=2,
            out_dims=10,
        ),
        4,
    )
    monkeypatch.setitem(bench.CONFIGS, "tiny", tiny)
    monkeypatch.setattr(bench, "find_reference", lambda explicit=None: None)
    out = bench.main(
        [
            "--configs",
            "tiny",
            "--steps",
            "1",
            "--rounds",
            "1",
            "--device",
            "cpu",
            "--output",
            str(tmp_path / "b.json"),
        ]
    )
    row = json.loads(out.read_text())["configs"][0]
    assert "speedup" not in row and row["course_step_s"] > 0
