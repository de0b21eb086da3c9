"""scripts/run_notebooks.py: lessons before their student copies, failures reported, threads shared."""

from __future__ import annotations

import json
import threading

import pytest
import run_notebooks


def fake_course(root, cells: dict[str, int]) -> None:
    for folder in ("notebooks", "student"):
        (root / folder).mkdir()
        for stem, n in cells.items():
            notebook = {
                "cells": [{"cell_type": "code"}] * n + [{"cell_type": "markdown"}]
            }
            (root / folder / f"{stem}.ipynb").write_text(json.dumps(notebook))


def test_students_follow_their_lessons_and_a_failed_lesson_stops_its_copy(
    tmp_path, monkeypatch, capsys
):
    fake_course(tmp_path, {"01_a": 3, "02_b": 9, "03_c": 5})
    monkeypatch.setattr(run_notebooks, "ROOT", tmp_path)
    monkeypatch.setattr(run_notebooks, "DURATIONS", tmp_path / "durations.json")
    ran, lock = [], threading.Lock()

    def fake_run(folder, stem, threads):
        with lock:
            ran.append((folder, stem, threads))
        return folder, stem, stem != "03_c", 1.0, "output"

    monkeypatch.setattr(run_notebooks, "run_copy", fake_run)
    assert run_notebooks.main(["--jobs", "1"]) == 1
    # one job: the lessons with the most code cells first, then the copies of those that passed
    assert [(f, s) for f, s, _ in ran] == [
        ("notebooks", "02_b"),
        ("notebooks", "03_c"),
        ("notebooks", "01_a"),
        ("student", "02_b"),
        ("student", "01_a"),
    ]
    out = capsys.readouterr().out
    assert "4 of 6 notebooks" in out and "failed: notebooks/03_c" in out
    # the next run starts with the slowest: 02_b and 01_a took 2 s, 03_c 1 s
    assert json.loads((tmp_path / "durations.json").read_text()) == {
        "02_b": 2.0,
        "03_c": 1.0,
        "01_a": 2.0,
    }


def test_each_notebook_gets_its_share_of_the_cores(tmp_path):
    cmd, env = run_notebooks.nbval(
        run_notebooks.ROOT / "notebooks" / "01_ctm_mnist.ipynb", tmp_path, threads=1
    )
    assert env["OMP_NUM_THREADS"] == "1" and env["CTM_COURSE_PROFILE"] == "smoke"
    assert env["CTM_COURSE_RESULTS"] == str(tmp_path)
    assert "--nbval-lax" in cmd and cmd[-1] == "notebooks/01_ctm_mnist.ipynb"


def test_bad_arguments_say_what_is_wrong(tmp_path, monkeypatch, capsys):
    fake_course(tmp_path, {"01_a": 1})
    (tmp_path / "student" / "01_a.ipynb").unlink()
    monkeypatch.setattr(run_notebooks, "ROOT", tmp_path)
    for argv, message in (
        (["--jobs", "0"], "--jobs must be >= 1"),
        ([], "no student copy of ['01_a']: run `make student` first"),
    ):
        with pytest.raises(SystemExit) as stop:
            run_notebooks.main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err
