"""Links and structure of the built site, read from its HTML (no browser, no network).

- every internal ``href``/``src`` (a, link, img, script, source, video, iframe) points at a file
  that exists in the site, and a ``#fragment`` at an ``id`` on the target page;
- every image is non-empty (files and ``data:`` URIs alike);
- every page has a title, and every page but the root redirect a ``<h1>``;
- every lesson ``notebooks/*.ipynb`` became a page, and every glossary term has an anchor.

Jupyter Book's ``linkcheck`` builder needs the internet for external links; these are checked
by hand instead, internal links only. Runs after the smoke book build (``CTM_COURSE_SITE``; see
``sitecheck.py``).
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest
from sitecheck import is_redirect, lessons, pages, parse, site_dir

EXTERNAL_SCHEMES = ("http", "https", "mailto", "javascript", "tel", "ftp")


@pytest.fixture(scope="module")
def site() -> Path:
    return site_dir()


@pytest.fixture(scope="module")
def parsed(site):
    return {page: parse(page) for page in pages(site)}


def resolve(site: Path, page: Path, url: str) -> tuple[Path | None, str]:
    """The file an internal URL of ``page`` points at, and its fragment; ``None`` for an external one."""
    parts = urlparse(url)
    if (
        parts.scheme in EXTERNAL_SCHEMES
        or parts.scheme == "data"
        or url.startswith("//")
    ):
        return None, ""
    base, fragment = urldefrag(url)
    base = unquote(base.split("?", 1)[0])
    if not base:
        return page, fragment
    target = (site / base.lstrip("/")) if base.startswith("/") else (page.parent / base)
    target = Path(*target.parts).resolve()
    if target.is_dir():
        target = target / "index.html"
    return target, unquote(fragment)


def test_site_has_pages(site, parsed):
    assert len(parsed) >= 3, f"only {len(parsed)} pages in {site}"


def test_no_broken_internal_link_or_anchor(site, parsed):
    broken = []
    ids = {page: p.ids for page, p in parsed.items()}
    for page, info in parsed.items():
        for tag, url in info.refs:
            target, fragment = resolve(site, page, url)
            if target is None:
                continue
            where = f"{page.relative_to(site)}: <{tag}> {url}"
            if not str(target).startswith(str(site.resolve())):
                broken.append(f"{where} (leaves the site)")
            elif not target.is_file():
                broken.append(f"{where} (no such file)")
            elif fragment and target.suffix == ".html":
                anchors = ids.get(target) if target in ids else parse(target).ids
                if fragment not in anchors:
                    broken.append(
                        f"{where} (no id {fragment!r} on {target.relative_to(site.resolve())})"
                    )
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(
        broken[:50]
    )


def test_every_image_exists_and_is_not_empty(site, parsed):
    bad, count = [], 0
    for page, info in parsed.items():
        for tag, url in info.refs:
            if tag not in ("img", "source", "video"):
                continue
            count += 1
            where = f"{page.relative_to(site)}: <{tag}> {url[:80]}"
            if url.startswith("data:"):
                header, _, payload = url.partition(",")
                try:
                    data = (
                        base64.b64decode(payload, validate=True)
                        if ";base64" in header
                        else unquote(payload)
                    )
                except (binascii.Error, ValueError):
                    bad.append(f"{where} (bad base64)")
                    continue
                if len(data) < 16:
                    bad.append(f"{where} (empty data URI)")
                continue
            target, _ = resolve(site, page, url)
            if target is not None and (
                not target.is_file() or target.stat().st_size == 0
            ):
                bad.append(f"{where} (missing or empty)")
    assert count, "no image at all on the site"
    assert not bad, "missing images:\n" + "\n".join(bad)


def test_every_page_has_a_title(site, parsed):
    untitled = []
    for page, info in parsed.items():
        title = " ".join(info.title.split())
        # the root index.html: a bare redirect, checked in the next test
        if is_redirect(page):
            continue
        if not title or title.startswith("<no title>"):
            untitled.append(f"{page.relative_to(site)}: <title> {title!r}")
        elif page.name not in ("search.html", "genindex.html") and not any(
            h.strip() for h in info.h1
        ):
            untitled.append(f"{page.relative_to(site)}: no <h1>")
    assert not untitled, "pages without a title:\n" + "\n".join(untitled)


def test_redirects_lead_to_pages(site, parsed):
    for page in parsed:
        if is_redirect(page):
            match = re.search(r'url=([^"\']+)', page.read_text(encoding="utf-8"), re.I)
            assert match, f"{page.relative_to(site)}: a redirect without a target"
            target, _ = resolve(site, page, match.group(1).strip())
            assert target is not None and target.is_file(), (
                f"{page.relative_to(site)} redirects to a missing page"
            )


def test_every_lesson_became_a_page(site):
    missing = [
        stem
        for stem in lessons()
        if not (site / "notebooks" / f"{stem}.html").is_file()
    ]
    assert not missing, f"lessons without a page (missing from _toc.yml?): {missing}"


def test_glossary_terms_have_anchors(site):
    glossary = site / "book" / "glossary.html"
    assert glossary.is_file(), "no glossary page (book/glossary.md in _toc.yml)"
    ids = parse(glossary).ids
    for term in (
        "tick",
        "neuron-level-model",
        "synchronisation",
        "certainty",
        "slow-stream",
        "fast-stream",
        "probe",
        "perturbation",
        "functional-importance",
    ):
        assert f"term-{term}" in ids, f"glossary has no term {term!r} (id term-{term})"


# ----------------------------------------------------------------------------- numbering
CAPTION_NUMBER = re.compile(r'<span class="caption-number">([^<]*)</span>')
NUMBERED = re.compile(r"^(Fig\.|Exercise|Table|Listing) (\d+(?:\.\d+)*)$")
LINK = re.compile(r'<a\s[^>]*href="([^"]*)"[^>]*>(.*?)</a>', re.S)


def caption_numbers(html: str) -> dict[str, list[str]]:
    """``{"Exercise": ["4.1", "4.2"], "Fig.": [...]}``: the numbers a page shows, in order."""
    found: dict[str, list[str]] = {}
    for text in CAPTION_NUMBER.findall(html):
        match = NUMBERED.match(" ".join(text.split()))
        assert match, f"caption number {text!r} is neither a figure nor an exercise"
        found.setdefault(match[1], []).append(match[2])
    return found


@pytest.mark.parametrize("stem", lessons())
def test_figures_and_exercises_are_numbered_within_their_lesson(stem, site):
    """Lesson N's exercises read "Exercise N.1", "Exercise N.2", ... and its figures
    "Fig. N.1", ... (``numbered`` in ``_toc.yml``, ``numfig_secnum_depth`` in
    ``_config.yml``), while its title and headings carry no section number
    (``book/_ext/lesson_numbers.py``)."""
    n = int(stem[:2])
    html = (site / "notebooks" / f"{stem}.html").read_text(encoding="utf-8")
    numbers = caption_numbers(html)
    exercises = len(re.findall(r'<div class="exercise admonition"', html))
    figures = len(re.findall(r"<figcaption>", html))
    assert exercises >= 3 and figures >= 1, (stem, exercises, figures)
    for kind, count in (("Exercise", exercises), ("Fig.", figures)):
        expected = [f"{n}.{k}" for k in range(1, count + 1)]
        assert numbers.get(kind, []) == expected, (
            f"{stem}: {kind} numbers {numbers.get(kind)}, expected {expected} "
            f"(numbered within lesson {n})"
        )
    assert 'class="section-number"' not in html, (
        f"{stem}: a heading shows a section number (the lessons number their own)"
    )
    title = parse(site / "notebooks" / f"{stem}.html").title.strip()
    assert title.startswith(f"Lesson {n}"), f"{stem}: <title> {title!r}"


def test_references_to_figures_and_exercises_show_their_numbers(site, parsed):
    """A link that reads "Fig. 4.2" or "Exercise 4.1" leads to the figure or exercise
    that carries that number, on its lesson's page."""
    wrong, seen = [], 0
    for page in parsed:
        for href, inner in LINK.findall(page.read_text(encoding="utf-8")):
            text = " ".join(re.sub(r"<[^>]+>", "", inner).split())
            match = NUMBERED.match(text)
            if not match:
                continue
            seen += 1
            target, fragment = resolve(site, page, href)
            where = f"{page.relative_to(site)}: link {text!r} -> {href}"
            if target is None or not target.is_file() or not fragment:
                wrong.append(f"{where} (not a figure or exercise of the site)")
                continue
            html = target.read_text(encoding="utf-8")
            at = html.find(f'id="{fragment}"')
            shown = CAPTION_NUMBER.search(html, at) if at >= 0 else None
            if not shown or " ".join(shown[1].split()) != text:
                wrong.append(f"{where} (the target shows {shown and shown[1]!r})")
            elif target.parent.name == "notebooks" and not match[2].startswith(
                f"{int(target.name[:2])}."
            ):
                wrong.append(f"{where} (not numbered within its lesson)")
    print(f"{seen} numbered references checked")
    assert not wrong, "\n".join(wrong)
