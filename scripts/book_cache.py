"""Drop the book's execution cache when the lessons' hidden inputs changed.

Jupyter Book's ``execute_notebooks: cache`` re-runs a notebook only when its code cells change
(jupyter-book #1633): an edit of ``ctm_course``, another profile or another data folder would
otherwise leave stale outputs and numbers on the site. ``make book`` runs::

    python scripts/book_cache.py _build

which hashes the package sources and shipped weights, ``requirements.txt``, ``pyproject.toml``, the profile and
``$CTM_COURSE_DATA``, and, when the hash differs from the previous build's, deletes the
executed-notebook cache and the doctrees so that every lesson runs again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

from ctm_course.profile import profile

CACHED = (".jupyter_cache", ".doctrees", "jupyter_execute")
KEY_FILE = ".ctm-course-book-key"


def book_key(root: Path) -> str:
    """A hash of everything outside the notebooks that changes what the lessons compute."""
    digest = hashlib.sha256()
    files = sorted((root / "ctm_course").rglob("*.py")) + [
        *sorted((root / "ctm_course" / "pretrained").glob("*")),  # shipped weights
        root / "requirements.txt",
        root / "pyproject.toml",
    ]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(
                str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0"
            )
    digest.update(
        f"profile={profile()}\0data={os.environ.get('CTM_COURSE_DATA', '')}".encode()
    )
    return digest.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    build = Path(argv[0] if argv else "_build")
    root = Path(__file__).resolve().parents[1]
    key = book_key(root)
    key_file = build / KEY_FILE
    old = key_file.read_text().strip() if key_file.is_file() else None
    if old != key and any((build / name).exists() for name in CACHED):
        print(
            f"book cache: ctm_course, the profile ({profile()}) or the data changed: every lesson runs again"
        )
        for name in CACHED:
            shutil.rmtree(build / name, ignore_errors=True)
    else:
        print(
            f"book cache: profile {profile()}, key {key} ({'unchanged' if old == key else 'first build'})"
        )
    build.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
