"""Book checks on the lessons: pairs, metadata, table of contents, exercises, install cell.

Each lesson is a pair ``notebooks/NN_slug.py`` (the source) + ``NN_slug.ipynb`` (generated, no
outputs). These tests run on the committed files; with no lesson yet they have nothing to check.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sync_repo_url
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))
IPYNBS = sorted(NOTEBOOKS.glob("*.ipynb"))
STEMS = sorted({p.stem for p in SOURCES} & {p.stem for p in IPYNBS})

EXERCISE = re.compile(
    r"^(?:`{3,}|:{3,})\{(?:exercise|exercise-start)\}.*?^:label:\s*(\S+)", re.M | re.S
)
SOLUTION_START = re.compile(r"^(?:`{3,}|:{3,})\{solution-start\}\s+(\S+)", re.M)
SOLUTION_END = re.compile(r"^(?:`{3,}|:{3,})\{solution-end\}", re.M)
SOLUTION_PLAIN = re.compile(r"^(?:`{3,}|:{3,})\{solution\}\s+(\S+)", re.M)


def load(stem: str) -> dict:
    return json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text())


def source(cell: dict) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else text


def tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def toc_files() -> set[str]:
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("file", "root") and isinstance(value, str):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    return found


def defined_names(code: str) -> set[str]:
    """Top-level names a cell defines: functions, classes and assignment targets."""
    code = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line
        for line in code.splitlines()
    )
    names: set[str] = set()

    def targets(node):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                targets(element)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                targets(target)
        elif isinstance(node, ast.AnnAssign):
            targets(node.target)
    return names


# ----------------------------------------------------------------------------- (a) pairs
def test_every_lesson_is_a_pair():
    py, nb = {p.stem for p in SOURCES}, {p.stem for p in IPYNBS}
    assert not py - nb, (
        f"notebooks/*.py without .ipynb (run `make notebooks`): {sorted(py - nb)}"
    )
    assert not nb - py, f"notebooks/*.ipynb without their .py source: {sorted(nb - py)}"


@pytest.mark.parametrize("stem", STEMS)
def test_ipynb_is_regenerated_identically_from_py(stem, tmp_path):
    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    (tmp_path / "notebooks").mkdir()
    for suffix in (".py", ".ipynb"):
        shutil.copy(
            NOTEBOOKS / f"{stem}{suffix}", tmp_path / "notebooks" / f"{stem}{suffix}"
        )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupytext",
            "--to",
            "ipynb",
            "--update",
            f"notebooks/{stem}.py",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    regenerated = (tmp_path / "notebooks" / f"{stem}.ipynb").read_bytes()
    assert regenerated == (NOTEBOOKS / f"{stem}.ipynb").read_bytes(), (
        f"notebooks/{stem}.ipynb is not what jupytext makes of notebooks/{stem}.py: run `make notebooks`"
    )


# ----------------------------------------------------------------------------- (b) no outputs, Colab GPU
@pytest.mark.parametrize("stem", STEMS)
def test_committed_ipynb_has_no_outputs(stem):
    for index, cell in enumerate(load(stem)["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{stem}.ipynb cell {index} has outputs"
            assert cell["execution_count"] is None, (
                f"{stem}.ipynb cell {index} has an execution count"
            )


@pytest.mark.parametrize("stem", STEMS)
def test_ipynb_asks_colab_for_a_gpu(stem):
    metadata = load(stem)["metadata"]
    assert metadata.get("accelerator") == "GPU", (
        f"{stem}: notebook metadata needs accelerator: GPU"
    )
    assert (metadata.get("colab") or {}).get("gpuType"), (
        f"{stem}: notebook metadata needs colab.gpuType"
    )
    assert metadata.get("kernelspec", {}).get("name") == "python3"


# ----------------------------------------------------------------------------- (b2) code fits the page
# ruff's line length; the book's code blocks show about this many columns
CODE_WIDTH = 88


def test_code_cells_fit_the_page():
    """Every line of every lesson's code cells is at most CODE_WIDTH characters.

    A longer line scrolls sideways on the page and in Colab. The check reads the
    ``.ipynb`` (what the book and Colab show), so cell markers and markdown don't count.
    """
    assert IPYNBS, "no notebooks/*.ipynb"
    too_long = []
    for path in IPYNBS:
        py = path.with_suffix(".py")
        py_lines = py.read_text().splitlines() if py.exists() else []
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] != "code":
                continue
            for number, line in enumerate(source(cell).splitlines(), start=1):
                if len(line) > CODE_WIDTH:
                    where = (
                        f" ({py.name}:{py_lines.index(line) + 1})"
                        if line in py_lines
                        else ""
                    )
                    too_long.append(
                        f"{path.stem}: cell {index}, line {number}{where}: "
                        f"{len(line)} characters: {line.strip()[:60]}..."
                    )
    assert not too_long, (
        f"{len(too_long)} code lines longer than {CODE_WIDTH} characters (split long "
        "strings by implicit concatenation, wrap comments, break expressions):\n"
        + "\n".join(too_long)
    )


# ----------------------------------------------------------------------------- (c) table of contents
def test_every_notebook_is_in_the_toc():
    listed = toc_files()
    missing = [stem for stem in STEMS if f"notebooks/{stem}" not in listed]
    assert not missing, f"lessons missing from _toc.yml: {missing}"


def test_every_toc_entry_exists():
    for entry in toc_files():
        candidates = [ROOT / f"{entry}{suffix}" for suffix in ("", ".md", ".ipynb")]
        assert any(p.is_file() for p in candidates), (
            f"_toc.yml lists {entry!r}, which does not exist"
        )


# ----------------------------------------------------------------------------- (d) exercises
def exercises(stem: str) -> list[dict]:
    """Each exercise with its stub cells, solution cells and the cells of its gated solution."""
    found: list[dict] = []
    current = None
    for index, cell in enumerate(load(stem)["cells"]):
        text = source(cell)
        if cell["cell_type"] == "markdown":
            for label in EXERCISE.findall(text):
                current = {
                    "label": label,
                    "cell": index,
                    "stubs": [],
                    "solutions": [],
                    "start": None,
                    "end": None,
                    "plain": False,
                    "state": "exercise",
                    "markdown": [],
                }
                found.append(current)
            if current is None:
                continue
            start = SOLUTION_START.search(text)
            if start:
                assert start.group(1) == current["label"], (
                    f"{stem} cell {index}: solution-start {start.group(1)!r} follows exercise {current['label']!r}"
                )
                assert current["state"] == "exercise", (
                    f"{stem} cell {index}: second solution-start"
                )
                assert re.search(r"^:class:.*\bdropdown\b", text, re.M), (
                    f"{stem} cell {index}: solution-start {start.group(1)} needs `:class: dropdown`"
                )
                current.update(start=index, state="solution")
                current["markdown"].append(cell)
            plain = SOLUTION_PLAIN.search(text)
            if plain and plain.group(1) == current["label"]:
                current.update(plain=True, state="done")
            if SOLUTION_END.search(text):
                assert current["state"] == "solution", (
                    f"{stem} cell {index}: solution-end without solution-start"
                )
                current.update(end=index, state="done")
                current["markdown"].append(cell)
        elif cell["cell_type"] == "code" and current is not None:
            if "exercise" in tags(cell) and current["state"] == "exercise":
                current["stubs"].append(cell)
            elif "solution" in tags(cell):
                assert current["state"] == "solution", (
                    f"{stem} cell {index}: code tagged `solution` outside solution-start/solution-end"
                )
                current["solutions"].append(cell)
    return found


@pytest.mark.parametrize("stem", STEMS)
def test_every_exercise_has_a_worked_solution(stem):
    for ex in exercises(stem):
        where = f"{stem}: exercise {ex['label']} (cell {ex['cell']})"
        if ex["plain"] and not ex["stubs"]:
            continue  # a text exercise with a {solution} directive
        assert ex["start"] is not None, (
            f"{where} is not followed by ```{{solution-start}} {ex['label']}"
        )
        assert ex["end"] is not None, (
            f"{where}: its solution has no ```{{solution-end}}"
        )
        for cell in ex["markdown"]:
            assert "solution" in tags(cell), (
                f"{where}: the solution-start/solution-end cells must be tagged `solution` (student copies)"
            )
        for cell in ex["solutions"]:
            assert cell["metadata"].get("cellView") == "form", (
                f"{where}: solution code cells need cellView: form (collapsed in Colab)"
            )


@pytest.mark.parametrize("stem", STEMS)
def test_stubs_and_solutions_define_the_same_names(stem):
    for ex in exercises(stem):
        if not ex["stubs"]:
            continue
        assert ex["solutions"], (
            f"{stem}: exercise {ex['label']} has a stub but no solution code cell"
        )
        stub = set().union(*(defined_names(source(c)) for c in ex["stubs"]))
        solution = set().union(*(defined_names(source(c)) for c in ex["solutions"]))
        assert stub == solution, (
            f"{stem}: exercise {ex['label']}: the stub defines {sorted(stub)}, "
            f"the solution {sorted(solution)}"
        )


@pytest.mark.parametrize("stem", STEMS)
def test_at_least_three_code_exercises(stem):
    coding = [ex["label"] for ex in exercises(stem) if ex["stubs"] or ex["solutions"]]
    assert len(coding) >= 3, (
        f"{stem}: {len(coding)} exercises with code ({coding}); the course asks for 3"
    )


def test_defined_names_sees_defs_and_assignments():
    code = "import os\n%matplotlib inline\ndef f(x):\n    y = 1\nclass C: pass\na, (b, *c) = 1, (2, 3)\nd: int = 4\nf(1)\n"
    assert defined_names(code) == {"f", "C", "a", "b", "c", "d"}


# ----------------------------------------------------------------------------- (e) install cell
def test_install_cells_use_the_configured_repository_url():
    stale = sync_repo_url.out_of_sync(ROOT)
    assert not stale, (
        f"REPO_URL differs from _config.yml repository.url in {stale}: run `make notebooks`"
    )


@pytest.mark.parametrize("stem", STEMS)
def test_first_cell_is_the_hidden_setup_cell(stem):
    first = next(c for c in load(stem)["cells"] if c["cell_type"] == "code")
    text = source(first)
    assert "hide-input" in tags(first), (
        f"{stem}: the first code cell must be tagged hide-input"
    )
    assert "REPO_URL = " in text and f'lesson = start("{stem}")' in text
    install = [line for line in text.splitlines() if "pip" in line]
    assert install and not any(
        re.search(r"\btorch(vision)?\b", line) for line in install
    ), f"{stem}: the install cell must install only the course package, never torch"
    # tests/test_colab_like.py installs a local wheel in place of the repository through this variable
    assert 'os.environ.get("CTM_COURSE_INSTALL_URL", f"git+{REPO_URL}")' in text, (
        f"{stem}: the install cell must read its pip target from CTM_COURSE_INSTALL_URL (copy lesson 1's cell)"
    )


def test_sync_tool_rewrites_and_checks(tmp_path, capsys):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_config.yml").write_text(
        "repository:\n  url: https://github.com/someone/fork/\n"
    )
    lesson = tmp_path / "notebooks" / "01_x.py"
    lesson.write_text(
        '# %%\nREPO_URL = "https://github.com/old/repo"  # comment kept\nx = REPO_URL\n'
    )
    assert sync_repo_url.main(["--check", "--root", str(tmp_path)]) == 1
    assert "01_x.py" in capsys.readouterr().out
    assert sync_repo_url.main(["--root", str(tmp_path)]) == 0
    assert (
        lesson.read_text()
        == '# %%\nREPO_URL = "https://github.com/someone/fork"  # comment kept\nx = REPO_URL\n'
    )
    assert sync_repo_url.main(["--check", "--root", str(tmp_path)]) == 0
    (tmp_path / "notebooks" / "02_y.py").write_text("# %%\nprint('no install cell')\n")
    assert sync_repo_url.out_of_sync(tmp_path) == [tmp_path / "notebooks" / "02_y.py"]
