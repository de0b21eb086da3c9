"""Student copies (``scripts/make_student.py``): what is removed, what raises, what carries on.

The real copies of every lesson are executed under nbval by ``make test``; here a tiny lesson
is executed with nbclient, so that the mechanism itself is checked in seconds: the call of the
stub raises ``NotImplementedError`` in the cell tagged ``raises-exception``, the fallback then
uses the worked solution and every later cell runs; with the exercise done, the reader's own
code is kept.
"""

from __future__ import annotations

from pathlib import Path

import make_student as ms
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def md(text, tags=()):
    return nbformat.v4.new_markdown_cell(
        text, metadata={"tags": list(tags)} if tags else {}
    )


def code(text, tags=(), **metadata):
    return nbformat.v4.new_code_cell(
        text, metadata={**({"tags": list(tags)} if tags else {}), **metadata}
    )


def tiny_lesson() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("# Tiny lesson\n\nSee {term}`ticks <tick>` and {doc}`../book/glossary`."),
        code("data = [1, 2, 3]"),
        md("```{exercise}\n:label: tiny-double\n\nWrite `double(xs)`.\n```"),
        code(
            'def double(xs):\n    raise NotImplementedError("Exercise: double every element")',
            ["exercise"],
        ),
        md("````{solution-start} tiny-double\n:class: dropdown\n````", ["solution"]),
        code(
            "# @title Solution\ndef double(xs):\n    return [2 * x for x in xs]",
            ["solution"],
            cellView="form",
        ),
        md("A list comprehension.\n\n```{solution-end}\n```", ["solution"]),
        code("doubled = double(data)\nassert doubled == [2, 4, 6]\nprint('checked')"),
        code("total = sum(doubled)\ntwice = double([total])"),
        md(
            "```{exercise}\n:label: tiny-text\n\nWhy?\n```\n\n```{solution} tiny-text\n:class: dropdown\n\nBecause.\n```"
        ),
        code(
            "assert total == 12 and twice == [24]\nprint('the rest of the lesson ran')"
        ),
    ]
    return nb


def execute(nb, tmp_path):
    from nbclient import NotebookClient

    NotebookClient(
        nb,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    return nb


def errors(cell):
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def text(cell):
    return "".join(
        o.get("text", "")
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream"
    )


def test_student_copy_structure():
    student = ms.make_student(tiny_lesson(), "00_tiny")
    sources = ["".join(c.source) for c in student.cells]
    assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
    assert not any("return [2 * x" in s for s in sources), (
        "the worked solution leaked in plain text"
    )
    assert not any("Because." in s for s in sources), "the text solution must go too"
    assert (
        sources[1].startswith("# Tiny lesson")
        and "ticks" in sources[1]
        and "{term}" not in sources[1]
    )
    assert (
        "> **Exercise (tiny-double).**" in sources[3] and "{exercise}" not in sources[3]
    )
    (user,) = [
        c for c in student.cells if "raises-exception" in c.metadata.get("tags", [])
    ]
    # only the FIRST cell that uses the stub
    assert "doubled = double(data)" in user.source
    after = student.cells[student.cells.index(user) + 1]
    assert "fallback" in after.metadata["tags"] and after.metadata["cellView"] == "form"
    assert after.source.startswith("# @title Fallback for exercise tiny-double")
    nbformat.validate(student)


def test_unfinished_exercise_raises_then_the_fallback_carries_on(tmp_path):
    nb = execute(ms.make_student(tiny_lesson(), "00_tiny"), tmp_path)
    tagged = [c for c in nb.cells if "raises-exception" in c.metadata.get("tags", [])]
    assert [e["ename"] for e in errors(tagged[0])] == ["NotImplementedError"]
    fallback = nb.cells[nb.cells.index(tagged[0]) + 1]
    assert not errors(fallback)
    assert "`double` still raise(s) NotImplementedError" in text(
        fallback
    ) and "checked" in text(fallback)
    last = nb.cells[-1]
    assert not errors(last) and "the rest of the lesson ran" in text(last)
    others = [c for c in nb.cells if c.cell_type == "code" and c not in tagged]
    assert not any(errors(c) for c in others)


def test_finished_exercise_keeps_the_readers_code(tmp_path):
    nb = ms.make_student(tiny_lesson(), "00_tiny")
    stub = next(c for c in nb.cells if "exercise" in c.metadata.get("tags", []))
    stub.source = (
        "def double(xs):\n    return [x + x for x in xs]  # the reader's own solution"
    )
    nb = execute(nb, tmp_path)
    assert not any(errors(c) for c in nb.cells if c.cell_type == "code")
    fallback = next(c for c in nb.cells if "fallback" in c.metadata.get("tags", []))
    assert "your code works" in text(fallback)


def test_wrong_answer_falls_back_and_keeps_the_readers_version(tmp_path):
    nb = ms.make_student(tiny_lesson(), "00_tiny")
    stub = next(c for c in nb.cells if "exercise" in c.metadata.get("tags", []))
    stub.source = "def double(xs):\n    return xs"
    nb.cells.append(code("print(my_double([5]))"))
    nb = execute(nb, tmp_path)
    user = next(c for c in nb.cells if "raises-exception" in c.metadata.get("tags", []))
    assert [e["ename"] for e in errors(user)] == ["AssertionError"]
    fallback = nb.cells[nb.cells.index(user) + 1]
    assert "the cell above failed" in text(fallback) and not errors(fallback)
    assert text(nb.cells[-1]).strip() == "[5]"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_real_lessons(lesson):
    nb = nbformat.read(lesson, as_version=4)
    student = ms.make_student(nb, lesson.stem)
    stubs = [c for c in nb.cells if "exercise" in c.metadata.get("tags", [])]
    raising = [
        c for c in student.cells if "raises-exception" in c.metadata.get("tags", [])
    ]
    fallbacks = [c for c in student.cells if "fallback" in c.metadata.get("tags", [])]
    assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
    assert len(raising) == len(fallbacks) >= 1
    users = ms.stub_users(nb.cells)
    assert len([u for u in users if u["user"] is not None]) == len(raising)
    # every stub is used after its solution, or its exercise could never be checked
    for user in users:
        assert user["user"] is not None, (
            f"{lesson.stem}: exercise {user['label']}'s stub is never used"
        )
    assert len(stubs) >= len(raising)
    solutions = "\n".join(
        c.source
        for c in nb.cells
        if "solution" in c.metadata.get("tags", []) and c.cell_type == "code"
    )
    body = [
        line
        for line in solutions.splitlines()
        if line.strip()
        and not line.lstrip().startswith("#")
        and "def " not in line
        and '"""' not in line
    ]
    elsewhere = "\n".join(
        c.source for c in nb.cells if "solution" not in c.metadata.get("tags", [])
    )
    own = [
        line for line in body if line.strip() not in elsewhere
    ]  # lines only the solutions have
    student_text = "\n".join(c.source for c in student.cells)
    leaked = [line for line in own if line.strip() in student_text]
    assert not leaked, (
        f"{lesson.stem}: solution lines in plain text in the student copy: {leaked[:3]}"
    )


def test_make_student_main_writes_copies(tmp_path):
    lesson = tmp_path / "00_tiny.ipynb"
    nbformat.write(tiny_lesson(), lesson)
    assert ms.main(["--out", str(tmp_path / "student"), str(lesson)]) == 0
    copy = nbformat.read(tmp_path / "student" / "00_tiny.ipynb", as_version=4)
    assert copy.cells[0].source.startswith("**Student copy of `00_tiny`.**")
