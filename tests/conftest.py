"""Shared test fixtures: where the read-only ``../shared`` folder (reference fixtures, bench) lives.

The site and maintenance tools live in ``scripts/`` (outside the package readers install); that folder
is put on ``sys.path`` here, so that tests import them by name: ``import book_results``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
SHARED = Path(__file__).resolve().parents[2] / "shared"
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixture() -> Callable[..., Path]:
    """``fixture("ctm_reference", "x.pt")``: a file of ``tests/fixtures`` (see its README).

    A missing file fails the test with its path: these tests never skip.
    """

    def path(*parts: str) -> Path:
        found = FIXTURES.joinpath(*parts)
        if not found.is_file():
            pytest.fail(
                f"test fixture {found} is missing: it belongs to the repository "
                "(tests/fixtures/README.md says how each was made)",
                pytrace=False,
            )
        return found

    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout; tests that need it skip cleanly where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(
            "../shared is not present (reference fixtures and bench live there)"
        )
    return SHARED


@pytest.fixture
def no_local_data(tmp_path, monkeypatch) -> Path:
    """No ``$CTM_COURSE_DATA`` and an empty working directory (so no ``./data`` either); returns that folder.

    Data tests add their own failing download on top, to reach the shipped-sample fallback offline.
    """
    monkeypatch.delenv("CTM_COURSE_DATA", raising=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work
