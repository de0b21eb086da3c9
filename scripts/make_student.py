"""Student copies of the lessons: the exercises without their worked solutions.

``make student`` runs::

    python scripts/make_student.py            # notebooks/*.ipynb -> student/*.ipynb
    python scripts/make_student.py --out DIR notebooks/01_ctm_mnist.ipynb

For each lesson ``notebooks/NN_slug.ipynb`` it writes ``student/NN_slug.ipynb`` where

- every cell tagged ``solution`` is removed (the ``solution-start``/``solution-end`` markdown
  cells and the worked solution's code cells), and so are text solutions (```{solution}``` blocks)
  inside other markdown cells;
- the stub cells (tagged ``exercise``) stay, and still ``raise NotImplementedError``;
- the **first** code cell after an exercise's solution that uses a name the stub defines (found
  with :mod:`ast`: a load of that name) is tagged ``raises-exception``: until the reader has
  written the exercise, it fails, and test runners (``pytest --nbval-lax``, nbclient) accept that;
- right after that cell comes a **fallback cell** (a collapsed Colab form, tagged ``fallback``):
  if the reader's function still raises ``NotImplementedError``, or the check cell above it failed,
  it defines the worked solution under the same names (keeping the reader's version as
  ``my_<name>``) and runs the check cell again. So every later cell, which uses the check cell's
  results, runs as in the full lesson, and a student copy executes from top to bottom. Only the
  first using cell needs this: after the fallback, the names are defined by either the reader or
  the solution and work. The solution travels inside the fallback cell base64-encoded, so that it
  does not give the exercise away at a glance (the book shows it in full, collapsed);
- MyST markup that Jupyter and Colab do not render (``{exercise}`` fences, ``{include}``,
  ``{term}``/``{doc}`` roles) is turned into plain Markdown;
- outputs are cleared and a first markdown cell says what this copy is.
"""

from __future__ import annotations

import argparse
import ast
import base64
import copy
import re
import sys
from pathlib import Path
from typing import Any, Iterable

from ctm_course.student import (
    fallback,  # what the fallback cells call (in the package readers install)
)

__all__ = ["fallback", "make_student", "main", "stub_users", "student_markdown"]

EXERCISE_FENCE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{exercise\}[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.M | re.S,
)
SOLUTION_FENCE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{solution\}[^\n]*\n.*?^(?P=fence)[ \t]*\n?", re.M | re.S
)
LABEL = re.compile(r"^:label:\s*(\S+)", re.M)
OPTION = re.compile(r"^:[\w-]+:.*$\n?", re.M)
INCLUDE_FENCE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{include\}[^\n]*\n.*?^(?P=fence)[ \t]*$", re.M | re.S
)
ROLE = re.compile(
    r"\{(?:term|doc|ref|numref|download)\}`(?P<text>[^`<]*?)\s*(?:<[^`>]*>)?`"
)
FALLBACK_TAG = "fallback"


# ----------------------------------------------------------------------------- analysis
def _code(cell: dict) -> str:
    """A cell's source with IPython magics and shell escapes blanked, so that ``ast`` parses it."""
    text = (
        cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    )
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line
        for line in text.splitlines()
    )


def defined_names(code: str) -> set[str]:
    """Top-level names a cell defines: functions, classes and assignment targets."""
    names: set[str] = set()
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in (
                node.targets if isinstance(node, ast.Assign) else [node.target]
            ):
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def used_names(code: str) -> set[str]:
    """Every name a cell reads (``ast.Name`` in a load context), at any depth."""
    return {
        n.id
        for n in ast.walk(ast.parse(code))
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _text(cell: dict) -> str:
    return (
        cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    )


def stub_users(cells: list[dict]) -> list[dict[str, Any]]:
    """Each code exercise with its stub names, solution code and the first cell that uses the stub.

    Returns one dict per exercise that has a stub: ``label``, ``names`` (defined by the stub),
    ``solution`` (the worked solution's code), ``user`` (index of the first code cell after the
    solution that reads one of ``names``, or ``None``).
    """
    found: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for index, cell in enumerate(cells):
        tags = _tags(cell)
        if cell["cell_type"] == "markdown":
            for match in EXERCISE_FENCE.finditer(_text(cell)):
                label = LABEL.search(match.group("body"))
                current = {
                    "label": label.group(1) if label else f"exercise-{index}",
                    "names": set(),
                    "solution": [],
                    "user": None,
                    "after": index,
                }
                found.append(current)
            if current is not None and "solution" in tags:
                # solution-start / solution-end and the solution's prose
                current["after"] = index
            continue
        if cell["cell_type"] != "code" or current is None:
            continue
        if "exercise" in tags:
            current["names"] |= defined_names(_code(cell))
            current["after"] = index
        elif "solution" in tags:
            current["solution"].append(_text(cell))
            current["after"] = index
    # the first user of each exercise's stub: a later code cell, neither stub nor solution
    for ex in found:
        for index in range(ex["after"] + 1, len(cells)):
            cell = cells[index]
            if cell["cell_type"] != "code" or {"exercise", "solution"} & set(
                _tags(cell)
            ):
                continue
            if used_names(_code(cell)) & ex["names"]:
                ex["user"] = index
                break
    return [
        dict(ex, names=sorted(ex["names"]), solution="\n\n".join(ex["solution"]))
        for ex in found
        if ex["names"]
    ]


# ----------------------------------------------------------------------------- rewriting
def student_markdown(text: str) -> str:
    """Markdown for Jupyter/Colab: exercises as quotes, text solutions removed, roles as plain text."""
    text = SOLUTION_FENCE.sub("", text)

    def exercise(match: re.Match) -> str:
        body = match.group("body")
        label = LABEL.search(body)
        body = OPTION.sub("", body).strip()
        title = f"**Exercise ({label.group(1)}).**" if label else "**Exercise.**"
        return "\n".join(
            ["> " + title] + [("> " + line).rstrip() for line in body.splitlines()]
        )

    text = EXERCISE_FENCE.sub(exercise, text)
    text = INCLUDE_FENCE.sub(
        "*(shown in the book: this lesson's page includes it from the results page)*",
        text,
    )
    text = ROLE.sub(lambda m: m.group("text").strip(), text)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _encode(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def fallback_source(label: str, names: list[str], solution: str, check: str) -> str:
    """The code of the fallback cell that follows the first user of exercise ``label``."""
    lines = [
        f"# @title Fallback for exercise {label}: run this cell (it keeps your code if the cell above worked)",
        "from ctm_course.student import fallback",
        "",
        "# If your exercise still raises NotImplementedError (or the cell above failed), this defines the worked",
        "# solution (base64, so that it does not give the exercise away) and runs the cell above again with it.",
        f"fallback({label!r}, {names!r},",
        f"         solution={_encode(solution)!r},",
        f"         check={_encode(check)!r})",
    ]
    return "\n".join(lines)


def intro_cell(stem: str) -> dict:
    import nbformat

    return nbformat.v4.new_markdown_cell(
        id="student-copy",
        source=f"**Student copy of `{stem}`.** The worked solutions are removed: write each exercise in the cell "
        "that raises `NotImplementedError`, then run the cell after it, which checks your code. Not done "
        "yet? The collapsed *Fallback* cell that follows uses the worked solution, so the rest of the "
        "lesson still runs. The book shows every solution, collapsed, under its exercise.",
    )


def make_student(notebook: dict, stem: str) -> dict:
    """The student copy of a lesson notebook (an ``nbformat`` v4 dict); ``notebook`` is not changed."""
    import nbformat

    nb = nbformat.from_dict(copy.deepcopy(notebook))
    exercises = {
        ex["user"]: ex for ex in stub_users(nb.cells) if ex["user"] is not None
    }
    cells = [intro_cell(stem)]
    for index, cell in enumerate(nb.cells):
        tags = _tags(cell)
        if "solution" in tags:
            continue
        if cell.cell_type == "markdown":
            text = student_markdown(_text(cell))
            if not text.strip():
                continue
            cell.source = text
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
        ex = exercises.get(index)
        if ex is not None:
            cell.metadata["tags"] = [*tags, "raises-exception"]
            cells.append(
                nbformat.v4.new_code_cell(
                    fallback_source(
                        ex["label"], ex["names"], ex["solution"], _text(cell)
                    ),
                    metadata={"cellView": "form", "tags": [FALLBACK_TAG, "hide-input"]},
                    id="fallback-" + re.sub(r"[^A-Za-z0-9_-]", "-", ex["label"])[:50],
                )
            )
    nb.cells = cells
    nbformat.validate(nb)
    return nb


def write_copies(notebooks: Iterable[Path], out: Path) -> list[Path]:
    """Write the student copy of each notebook to ``out/<name>.ipynb``; return the written paths."""
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        target = out / path.name
        nbformat.write(make_student(nb, path.stem), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="lessons (default: notebooks/*.ipynb)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: student/)"
    )
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    notebooks = args.notebooks or sorted((root / "notebooks").glob("*.ipynb"))
    for path in write_copies(notebooks, args.out or root / "student"):
        print(f"{path}: student copy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
