"""Where the course writes: the repository root when running inside it, else the working folder."""

from __future__ import annotations

from pathlib import Path


def repo_root(start: Path | None = None) -> Path | None:
    """The course repository containing ``start`` (default: cwd), or ``None`` outside it."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "ctm_course").is_dir():
            return folder
    return None


def output_folder(name: str) -> Path:
    """``<repository>/<name>``, or ``./<name>`` outside the repository (e.g. on Colab)."""
    root = repo_root()
    return (root if root is not None else Path.cwd()) / name
