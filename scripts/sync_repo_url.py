"""Keep the repository URL of every lesson's install cell equal to ``_config.yml``.

The URL lives in one place, ``repository.url`` in ``_config.yml``. Each lesson's first cell
(``notebooks/NN_slug.py``) has a line ``REPO_URL = "..."`` that Colab uses to ``pip install``
the course package. This tool rewrites that line from ``_config.yml``::

    python scripts/sync_repo_url.py          # rewrite notebooks/*.py
    python scripts/sync_repo_url.py --check  # exit 1 and list the files that differ

``make notebooks`` runs it and then regenerates the ``.ipynb`` files with jupytext.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

#: The install cell's line, e.g. ``REPO_URL = "https://github.com/org/repo"  # comment``.
REPO_URL_LINE = re.compile(
    r'^(?P<head>REPO_URL\s*=\s*)(?P<q>["\'])(?P<url>[^"\']*)(?P=q)', re.MULTILINE
)


def default_root() -> Path:
    """The repository root: the folder above ``scripts/`` when it holds ``_config.yml``, else cwd."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "_config.yml").is_file() else Path.cwd()


def config_repo_url(root: Path) -> str:
    """``repository.url`` from ``root/_config.yml`` (without a trailing slash or ``.git``)."""
    config = yaml.safe_load((root / "_config.yml").read_text()) or {}
    url = str((config.get("repository") or {}).get("url") or "").strip()
    if not url:
        raise ValueError(f"{root / '_config.yml'} has no repository.url")
    return url.rstrip("/").removesuffix(".git")


def notebook_sources(root: Path) -> list[Path]:
    """Every lesson source ``notebooks/*.py`` under ``root``."""
    return sorted((root / "notebooks").glob("*.py"))


def synced_text(text: str, url: str) -> str:
    """``text`` with every ``REPO_URL = "..."`` line pointing at ``url``."""
    return REPO_URL_LINE.sub(lambda m: f"{m['head']}{m['q']}{url}{m['q']}", text)


def out_of_sync(root: Path) -> list[Path]:
    """Lesson sources whose ``REPO_URL`` line differs from ``_config.yml``, or that have none."""
    url = config_repo_url(root)
    stale = []
    for path in notebook_sources(root):
        text = path.read_text()
        if not REPO_URL_LINE.search(text) or synced_text(text, url) != text:
            stale.append(path)
    return stale


def sync(root: Path) -> list[Path]:
    """Rewrite the ``REPO_URL`` line of every lesson source; return the files that changed."""
    url = config_repo_url(root)
    changed = []
    for path in notebook_sources(root):
        text = path.read_text()
        new = synced_text(text, url)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only check; exit 1 if a file differs"
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="repository root (default: this checkout)",
    )
    args = parser.parse_args(argv)
    root = (args.root or default_root()).resolve()
    url = config_repo_url(root)
    if args.check:
        stale = out_of_sync(root)
        for path in stale:
            print(
                f"{path.relative_to(root)}: REPO_URL missing or not {url!r} (run `make notebooks`)"
            )
        return 1 if stale else 0
    for path in sync(root):
        print(f"{path.relative_to(root)}: REPO_URL = {url!r}")
    missing = [
        p for p in notebook_sources(root) if not REPO_URL_LINE.search(p.read_text())
    ]
    for path in missing:
        print(
            f'{path.relative_to(root)}: warning: no `REPO_URL = "..."` line in the install cell'
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
