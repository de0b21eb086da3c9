"""Shared test fixtures: where the read-only ``../shared`` folder (reference fixtures, bench) lives."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout; tests that need it skip cleanly where it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present (reference fixtures and bench live there)")
    return SHARED
