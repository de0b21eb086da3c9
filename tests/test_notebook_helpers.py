"""ctm_course.notebook: the helpers every lesson's first cell uses."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from ctm_course import notebook


def test_glue_without_myst_nb_returns_nothing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # makes `import myst_nb` fail
    value = {"a": 1}
    # a cell ending with glue shows no stray value
    assert notebook.glue("x", value) is None
    assert capsys.readouterr().out == ""
    assert notebook.glue("x", 0.5, display=True) is None
    assert "0.5" in capsys.readouterr().out


def test_glue_with_myst_nb_calls_it(monkeypatch):
    calls = []
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display=True: calls.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    assert notebook.glue("acc", 0.97) is None
    assert calls == [("acc", 0.97, False)]


def test_setup_prints_one_line(monkeypatch, capsys):
    monkeypatch.setenv("CTM_COURSE_PROFILE", "smoke")
    monkeypatch.setenv("CTM_COURSE_DATA", "/data/offline")
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    notebook.setup("01_ctm_mnist")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert (
        "01_ctm_mnist" in lines[0]
        and "profile: smoke" in lines[0]
        and "data: $CTM_COURSE_DATA (.../data/offline)" in lines[0]
    )
    assert "device: " in lines[0]


def test_setup_without_data_folder_names_the_download(monkeypatch, capsys):
    monkeypatch.delenv("CTM_COURSE_DATA", raising=False)
    monkeypatch.setenv("CTM_COURSE_PROFILE", "cpu")
    notebook.setup("02_ctm_parity")
    assert "data: downloads/torchvision cache" in capsys.readouterr().out


def test_setup_on_a_colab_cpu_runtime_hints_at_the_gpu(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("CTM_COURSE_PROFILE", raising=False)
    assert notebook.in_colab()
    notebook.setup("01_ctm_mnist")
    out = capsys.readouterr().out
    assert "profile: cpu" in out
    assert "Runtime -> Change runtime type -> GPU" in out


def test_no_gpu_hint_outside_colab(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not notebook.in_colab()
    notebook.setup("01_ctm_mnist")
    assert "Runtime" not in capsys.readouterr().out


def test_cpu_threads_follow_the_row_capped_by_omp_num_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert notebook.cpu_threads(2) == 2
    assert notebook.cpu_threads(None) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert notebook.cpu_threads(2) == 1
    assert (
        notebook.cpu_threads(None) is None
    )  # torch's default follows the variable itself
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert notebook.cpu_threads(2) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="OMP_NUM_THREADS must be a positive integer"):
        notebook.cpu_threads(2)
