"""scripts/book_results.py: the generated results page and README table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import book_results
import pytest
from book_results import (
    README_END,
    README_START,
    TIMES_END,
    TIMES_START,
    fmt_duration,
    fmt_metric,
    main,
)

from ctm_course.results import record

ROOT = Path(__file__).resolve().parents[1]
README_TEMPLATE = (
    f"# Course\n\nBefore.\n\n{README_START}\nold table\n{README_END}\n\nAfter.\n"
)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A minimal repository: _config.yml, README with markers, an empty results/ folder."""
    root = tmp_path / "repo"
    (root / "results").mkdir(parents=True)
    (root / "book").mkdir()
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    (root / "README.md").write_text(README_TEMPLATE)
    monkeypatch.setenv("CTM_COURSE_RESULTS", str(root / "results"))
    return root


def run(root: Path, *extra: str) -> int:
    return main(
        [
            "--root",
            str(root),
            "--results",
            str(root / "results"),
            "--book",
            str(root / "book" / "results.md"),
            "--readme",
            str(root / "README.md"),
            *extra,
        ]
    )


def record_mnist(profile: str, accuracy: float, seconds: float) -> None:
    record(
        "01_ctm_mnist",
        {
            "test_accuracy": accuracy,
            "accuracy_per_tick": [0.1 + 0.01 * i for i in range(50)],
            "mean_ticks_early_exit": 12.25,
            "early_exit_accuracy": 0.9703,
        },
        train_seconds=seconds,
        steps=1500,
        data_source="offline-subset",
        profile_name=profile,
    )


def test_empty_results_folder(repo):
    assert run(repo) == 0
    page = (repo / "book" / "results.md").read_text()
    assert page.startswith(book_results.GENERATED_NOTE)
    assert "No results recorded yet" in page
    assert TIMES_START in page and TIMES_END in page
    readme = (repo / "README.md").read_text()
    assert "old table" not in readme and "No results recorded yet" in readme
    assert readme.startswith("# Course\n\nBefore.") and readme.endswith("After.\n")


def test_missing_results_folder(repo):
    shutil.rmtree(repo / "results")
    assert run(repo) == 0
    assert "No results recorded yet" in (repo / "book" / "results.md").read_text()


def test_tables_show_the_recorded_numbers(repo):
    record_mnist("cpu", 0.9812, 252.0)
    record_mnist("smoke", 0.31, 20.0)
    assert run(repo) == 0
    page = (repo / "book" / "results.md").read_text()
    lesson = page[page.index("## 01 · ") :]
    # one column per recorded profile
    assert "|  | smoke (tests only) | cpu |" in lesson
    assert "0.9812" in lesson and "0.31" in lesson
    assert "0.9703" in lesson and "12.25" in lesson
    # a long list, compactly
    assert "0.1 → 0.59 (50 values, min 0.1, max 0.59)" in lesson
    assert "4.2 min" in lesson and "20 s" in lesson
    assert "1,500" in lesson and "offline-subset" in lesson
    times = page[page.index(TIMES_START) : page.index(TIMES_END)]
    assert "| 01 · Continuous Thought Machine on MNIST (coming) | 20 s on CPU" in times
    assert "4.2 min on CPU" in times
    readme = (repo / "README.md").read_text()
    assert "4.2 min on CPU" in readme


def test_second_run_changes_nothing_and_check_agrees(repo):
    record_mnist("cpu", 0.9812, 252.0)
    assert run(repo, "--check") == 1  # nothing generated yet
    assert run(repo) == 0
    before = {
        p: p.stat().st_mtime_ns
        for p in (repo / "book" / "results.md", repo / "README.md")
    }
    assert run(repo) == 0
    assert run(repo, "--check") == 0
    assert before == {
        p: p.stat().st_mtime_ns for p in before
    }  # unchanged files are not rewritten
    record_mnist("gpu", 0.99, 30.0)
    assert run(repo, "--check") == 1


def test_available_lessons_are_linked(repo):
    (repo / "notebooks").mkdir()
    (repo / "notebooks" / "01_ctm_mnist.ipynb").write_text("{}")
    (repo / "notebooks" / "01_ctm_mnist.py").write_text(
        "# %% [markdown]\n# # Lesson 1: thinking about digits\n"
    )
    (repo / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n- file: notebooks/01_ctm_mnist\n"
    )
    record_mnist("cpu", 0.9812, 252.0)
    assert run(repo) == 0
    page = (repo / "book" / "results.md").read_text()
    assert (
        "{doc}`01 · Lesson 1: thinking about digits <../notebooks/01_ctm_mnist>`"
        in page
    )
    assert "Lesson: {doc}`../notebooks/01_ctm_mnist`." in page
    readme = (repo / "README.md").read_text()
    assert (
        "[01 · Lesson 1: thinking about digits](notebooks/01_ctm_mnist.ipynb)" in readme
    )
    assert (
        "https://colab.research.google.com/github/ctm-course/ctm-course/blob/main/notebooks/01_ctm_mnist.ipynb"
        in readme
    )


def test_colab_link_of_the_real_config():
    assert (
        book_results.colab_link(ROOT, "01_ctm_mnist")
        == "https://colab.research.google.com/github/ctm-course/ctm-course/blob/main/notebooks/01_ctm_mnist.ipynb"
    )


def test_unknown_lessons_and_profiles_still_render(repo):
    (repo / "results" / "cpu").mkdir()
    entry = {
        "lesson": "06_extra",
        "profile": "cpu",
        "device": "CPU",
        "torch": "2",
        "data_source": "sample",
        "train_seconds": 5400.0,
        "steps": 3,
        "commit": "abc",
        "date": "2025-01-02T03:04:05+00:00",
        "metrics": {"score": 1, "curve": [1.0, 2.0]},
    }
    (repo / "results" / "cpu" / "06_extra.json").write_text(json.dumps(entry))
    assert run(repo) == 0
    page = (repo / "book" / "results.md").read_text()
    assert (
        "## 06 · 06_extra" in page
        and "1.5 h" in page
        and "[1, 2]" in page
        and "2025-01-02" in page
    )


def test_readme_without_markers_is_left_alone(repo):
    (repo / "README.md").write_text("# No markers\n")
    assert run(repo) == 0
    assert (repo / "README.md").read_text() == "# No markers\n"


@pytest.mark.parametrize(
    "seconds, text", [(42, "42 s"), (89.4, "89 s"), (252, "4.2 min"), (5400, "1.5 h")]
)
def test_fmt_duration(seconds, text):
    assert fmt_duration(seconds) == text


@pytest.mark.parametrize(
    "value, text",
    [(0.98123, "0.9812"), (1500, "1,500"), ([0.5, 0.75], "[0.5, 0.75]"), ([], "[]")],
)
def test_fmt_metric(value, text):
    assert fmt_metric(value) == text


def test_committed_tables_are_regenerated_without_a_diff():
    """book/results.md and the README's tables are what the committed results/ generate."""
    assert (
        book_results.main(
            ["--check", "--root", str(ROOT), "--results", str(ROOT / "results")]
        )
        == 0
    ), (
        "book/results.md or README.md is out of date: run `python scripts/book_results.py`"
    )


def test_committed_results_page_is_generated():
    page = (ROOT / "book" / "results.md").read_text()
    assert page.startswith(book_results.GENERATED_NOTE)
    assert TIMES_START in page and TIMES_END in page
    assert README_START in (ROOT / "README.md").read_text()


def test_each_lesson_gets_its_own_time_table(repo):
    """Each lesson includes its block (``lesson_times_markers``) from the results page in its first cell."""
    (repo / "notebooks").mkdir()
    for stem in ("01_ctm_mnist", "02_ctm_parity"):
        (repo / "notebooks" / f"{stem}.ipynb").write_text("{}")
    (repo / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n- file: notebooks/01_ctm_mnist\n"
        "- file: notebooks/02_ctm_parity\n"
    )
    record_mnist("cpu", 0.9812, 252.0)
    assert run(repo) == 0
    page = (repo / "book" / "results.md").read_text()
    start, end = book_results.lesson_times_markers("01_ctm_mnist")
    block = page[page.index(start) + len(start) : page.index(end)]
    assert "| profile | training time | device | steps |" in block
    assert "| cpu | 4.2 min | " in block and "| 1,500 |" in block
    assert "| gpu | not measured yet | — | — |" in block
    # in the book, nothing recorded yet
    start, end = book_results.lesson_times_markers("02_ctm_parity")
    block = page[page.index(start) + len(start) : page.index(end)]
    assert block.count("not measured yet") == 3
    assert "## 04 · " not in page  # neither recorded nor in the book: no section


def test_bench_table_reads_the_benchmark_json(tmp_path):
    """The speed table comes from results/bench/*.json: fastest course variant, both reference timings, ratios."""
    import json

    from book_results import bench_table, load_bench

    (tmp_path / "bench").mkdir()
    row = {
        "config": "000",
        "batch": 256,
        "course_step_s": 0.0135,
        "course_variant": "course-graph",
        "reference_step_s": 0.0747,
        "speedup": 5.53,
        "reference_compile_step_s": 0.0378,
        "speedup_vs_compile": 2.8,
    }
    (tmp_path / "bench" / "gpu.json").write_text(
        json.dumps({"device": "GPU X", "torch": "2.11.0+cu130", "configs": [row]})
    )
    lines = bench_table(load_bench(tmp_path))
    assert lines[0].startswith("| device |") and len(lines) == 3
    assert (
        "13.5 ms (course-graph)" in lines[2]
        and "**5.53x**" in lines[2]
        and "**2.80x**" in lines[2]
    )
    assert "GPU X (torch 2.11.0)" in lines[2]
    assert bench_table([])[0].startswith("No benchmark")


def test_command_line_runs_are_shown_with_their_targets_and_conditions(tmp_path):
    """results/runs/*.json (the command-line GPU runs) become one table row each, on the page and in the README."""
    import json

    from book_results import load_runs, readme_block, results_page, runs_table

    (tmp_path / "runs").mkdir()
    run = {
        "lesson": "04_tlb_cifar10",
        "run": "paper mode",
        "command": "python -m ctm_course.tlb.run --mode paper",
        "device": "GPU X",
        "train_seconds": 400.0,
        "steps": 3291,
        "metric": "test_accuracy",
        "value": 0.78321,
        "target": ">= 0.72",
        "shared": "three runs shared the GPU",
        "commit": "abc1234",
    }
    (tmp_path / "runs" / "04_tlb_paper.json").write_text(json.dumps(run))
    runs = load_runs(tmp_path)
    lines = runs_table(runs)
    assert lines[0].startswith("| run | result |") and lines[2].startswith(
        "| 04 · paper mode |"
    )
    assert (
        "test_accuracy **0.783**" in lines[2]
        and "6.7 min, 3,291 steps, GPU X" in lines[2]
    )
    assert "three runs shared the GPU; commit abc1234" in lines[2]
    assert "- 04 · paper mode: `python -m ctm_course.tlb.run --mode paper`" in lines
    root = Path(__file__).resolve().parents[1]
    assert "## Command-line runs on a GPU" in results_page([], root, [], runs)
    assert "test_accuracy **0.783**" in readme_block([], root, [], runs)
    assert load_runs(tmp_path / "nothing") == []


def test_a_run_with_a_perturbation_analysis_shows_its_importance_beside_the_papers():
    """Lesson 5's command-line run: conv1 and conv2 rows per variable group, ours and the paper's at T = 2, 3, 4."""
    from book_results import importance_tables

    ours = {
        g: [[0.0] * 3, [0.1 * k, 0.2, 0.3], [0.4, 0.5, -0.6], [0.0] * 3]
        for k, g in enumerate(("Location", "Scale"))
    }
    paper = {
        g: [[0.0] * 3, [0.53, 0.67, 0.37], [0.03, 0.33, 0.36], [0.0] * 3] for g in ours
    }
    run = {
        "lesson": "05_recurrent_cnn_lab",
        "run": "gain network",
        "output": {
            "functional_importance": ours,
            "perturbation_original_accuracy": 0.6,
            "paper": {
                "functional_importance": paper,
                "perturbation_original_accuracy": 0.8,
            },
        },
    }
    lines = importance_tables(
        [run, {"lesson": "04_tlb_cifar10", "run": "no analysis", "output": {}}]
    )
    assert "05 · gain network (original accuracy 0.600, paper 0.800)" in lines[0]
    assert (
        "| conv1 | location | +0.00 / +0.20 / +0.30 | +0.53 / +0.67 / +0.37 |" in lines
    )
    assert "| conv2 | scale | +0.40 / +0.50 / -0.60 | +0.03 / +0.33 / +0.36 |" in lines
    # the run without an analysis adds none
    assert len([line for line in lines if line.startswith("| conv")]) == 4
