"""Helpers of the built-site tests (``test_site.py``, ``test_links.py``): where the site is, its pages.

The site tests check a book that has already been built. ``make test`` builds the smoke book into
``_build/smoke/_build/html`` and then runs them with ``CTM_COURSE_SITE`` set to that folder::

    CTM_COURSE_SITE=_build/smoke/_build/html pytest tests/test_site.py tests/test_links.py

Without ``CTM_COURSE_SITE`` (the unit-test run ``pytest tests/``, before any build) they skip.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = ("_static", "_sources", "_images", "_downloads", "reports")


def site_dir() -> Path:
    """The built site named by ``CTM_COURSE_SITE``; skips the calling test when it is not set."""
    value = os.environ.get("CTM_COURSE_SITE", "").strip()
    if not value:
        pytest.skip(
            "no built site: `make test` runs this after the smoke book build (CTM_COURSE_SITE)"
        )
    site = Path(value)
    site = site if site.is_absolute() else ROOT / site
    assert (site / "index.html").is_file(), (
        f"CTM_COURSE_SITE={value}: no index.html there (build the book first)"
    )
    return site


def pages(site: Path) -> list[Path]:
    """Every HTML page of the site (not the theme's assets or the copied sources)."""
    return sorted(
        p
        for p in site.rglob("*.html")
        if not set(p.relative_to(site).parts[:-1]) & set(SKIP_DIRS)
    )


def page_paths_to_collect() -> list[str]:
    """The site's pages as paths relative to it, for ``parametrize`` (so that pytest-xdist can
    share them out); ``["index.html"]`` before a build, when the tests skip anyway."""
    value = os.environ.get("CTM_COURSE_SITE", "").strip()
    site = Path(value) if value else None
    if site is not None and not site.is_absolute():
        site = ROOT / site
    if site is None or not (site / "index.html").is_file():
        return ["index.html"]
    return [p.relative_to(site).as_posix() for p in pages(site)]


def lessons() -> list[str]:
    """The lesson stems: ``notebooks/NN_slug.ipynb``."""
    return sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text()) or {}


def colab_url(stem: str) -> str:
    """The Colab link a lesson page must carry, from ``_config.yml`` (repository and launch buttons)."""
    cfg = config()
    repo = cfg["repository"]
    path = urlparse(str(repo["url"]).rstrip("/").removesuffix(".git")).path.strip("/")
    base = str(cfg["launch_buttons"]["colab_url"]).rstrip("/")
    book = str(repo.get("path_to_book") or "").strip("/")
    notebook = "/".join(part for part in (book, "notebooks", f"{stem}.ipynb") if part)
    return f"{base}/github/{path}/blob/{repo.get('branch', 'main')}/{notebook}"


def recorded_lessons() -> list[str]:
    """Lessons with recorded results, ``results/<profile>/<lesson>.json``.

    ``results/smoke/`` is left out: its figures are recorded deliberately (``make test`` writes its
    smoke runs to ``_build/smoke-results``), and a lesson is in the book once it has a cpu or gpu
    result.
    """
    return sorted(
        {
            p.stem
            for prof in ("cpu", "gpu")
            for p in (ROOT / "results" / prof).glob("*.json")
        }
    )


class PageParser(HTMLParser):
    """Collects a page's title, ids (anchor targets) and every href/src it references."""

    URL_ATTRS = {
        "a": "href",
        "link": "href",
        "img": "src",
        "script": "src",
        "source": "src",
        "video": "src",
        "iframe": "src",
        "audio": "src",
        "embed": "src",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1: list[str] = []
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str]] = []  # (tag, url)
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key) and (key == "id" or tag == "a"):
                self.ids.add(attrs[key])
        attr = self.URL_ATTRS.get(tag)
        if attr and attrs.get(attr):
            self.refs.append((tag, attrs[attr]))
        if tag in ("title", "h1"):
            self._in.append(tag)
            if tag == "h1":
                self.h1.append("")

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data):
        if "title" in self._in:
            self.title += data
        elif "h1" in self._in:
            self.h1[-1] += data


def parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def is_redirect(path: Path) -> bool:
    """``index.html`` of a Jupyter Book is a bare ``<meta http-equiv="Refresh">`` page."""
    return bool(
        re.search(
            r'http-equiv="refresh"', path.read_text(encoding="utf-8")[:2000], re.I
        )
    )
