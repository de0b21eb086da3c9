"""What every lesson gives its reader around the code: an opening, a closing and the glossary.

Each lesson (``notebooks/NN_slug.py``) opens with its learning goals, its prerequisites and the
measured time of each profile (included from the generated results page), and offers its
student copy; it ends with a summary and further reading; and it links the glossary with
``{term}`` roles, every one of which names a term that ``book/glossary.md`` defines.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from book_results import lesson_times_markers

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
GLOSSARY = ROOT / "book" / "glossary.md"
REQUIRED_TERMS = (
    "tick",
    "neuron-level model",
    "synchronisation",
    "certainty",
    "slow stream",
    "fast stream",
    "probe",
    "perturbation",
    "functional importance",
)
TERM_ROLE = re.compile(r"\{term\}`(?:[^`<]*<)?([^`<>]+?)>?`")


def markdown_cells(path: Path) -> list[str]:
    """The text of each markdown cell of a percent-format lesson, without the ``# `` prefixes."""
    cells, current = [], None
    for line in path.read_text().splitlines():
        if line.startswith("# %%"):
            current = [] if "[markdown]" in line else None
            if current is not None:
                cells.append(current)
            continue
        if current is not None and (line.startswith("#") or not line.strip()):
            current.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    return ["\n".join(c) for c in cells]


def glossary_terms() -> set[str]:
    text = GLOSSARY.read_text()
    block = re.search(r"```\{glossary\}\n(.*?)\n```", text, re.S)
    assert block, "book/glossary.md needs a {glossary} directive"
    return {
        line.strip().lower()
        for line in block.group(1).splitlines()
        if line and not line.startswith(" ")
    }


def test_glossary_defines_the_course_terms():
    terms = glossary_terms()
    missing = [t for t in REQUIRED_TERMS if t not in terms]
    assert not missing, f"book/glossary.md does not define {missing}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_lesson_opening(source):
    opening = markdown_cells(source)[0]
    assert opening.startswith("# "), (
        f"{source.name}: the first cell starts with the lesson's title"
    )
    for heading in ("**Learning goals.**", "**Prerequisites.**", "**Time.**"):
        assert heading in opening, f"{source.name}: the opening cell has no {heading}"
    start, end = lesson_times_markers(source.stem)
    assert f":start-after: {start}" in opening and f":end-before: {end}" in opening, (
        f"{source.name}: **Time.** must include the lesson's measured times (copy lesson 1's ```{{include}}```)"
    )
    assert start in (ROOT / "book" / "results.md").read_text(), (
        "run `python scripts/book_results.py`"
    )
    assert f"<../student/{source.stem}.ipynb>`" in opening, (
        f"{source.name}: the opening offers its student copy ({{download}} role, see lesson 1)"
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_lesson_closing(source):
    text = "\n".join(markdown_cells(source)[-2:])
    assert "## Summary" in text, f"{source.name}: the lesson ends with a ## Summary"
    assert "**Further reading.**" in text, (
        f"{source.name}: the lesson ends with **Further reading.**"
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_lesson_links_the_glossary(source):
    used = {t.strip().lower() for t in TERM_ROLE.findall(source.read_text())}
    assert used, f"{source.name}: no {{term}} link to the glossary"
    unknown = used - glossary_terms()
    assert not unknown, (
        f"{source.name}: {{term}} roles for terms the glossary lacks: {sorted(unknown)}"
    )


def test_lesson_1_links_its_first_terms():
    source = ROOT / "notebooks" / "01_ctm_mnist.py"
    used = {t.strip().lower() for t in TERM_ROLE.findall(source.read_text())}
    assert {"tick", "neuron-level model", "synchronisation", "certainty"} <= used
