"""The built site in a real browser: headless Chromium (Debian's), driven by Playwright.

The test serves the built site with Python's ``http.server`` on 127.0.0.1 (a free port), opens
every page in Chromium and checks what a reader sees:

- every page loads without a console error, an uncaught exception or a failed request; the
  test blocks every request that leaves 127.0.0.1, so the site must be complete offline (MathJax
  and the Jupyter widget manager come from its own ``_static/vendor/``, filled by
  ``scripts/web_assets.py``; ``IGNORED_EXTERNAL`` lists what may still fail, today nothing);
- each lesson's formulas are typeset by MathJax (no TeX source left in the text), and the tick
  slider a lesson embeds with ipywidgets renders and moves;
- every image (files and ``data:`` URIs, the animations included) is decoded by the browser
  with a non-zero size;
- each lesson shows its exercises, keeps its solutions collapsed, and opens one when its title
  is clicked; its Colab button points at the lesson's ``.ipynb`` under ``repository.url``; it
  links the glossary and offers its student copy for download;
- the results page lists every lesson with recorded results;
- in dark mode every lesson keeps its figures on a light, opaque background (matplotlib draws
  black text for a white page), and a full-page screenshot of it goes to
  ``_build/screenshots/dark__notebooks__NN_slug.jpg``;
- a full-page screenshot (JPEG) of every page goes to ``_build/screenshots/`` for review; the
  tests that only read a page share one visit of it (``opened``).

Runs after the smoke book build (``CTM_COURSE_SITE``; see ``sitecheck.py``). Chromium is
``$CTM_COURSE_CHROMIUM``, else ``chromium`` on the PATH (Debian package ``chromium``).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from sitecheck import (
    ROOT,
    colab_url,
    lessons,
    page_paths_to_collect,
    recorded_lessons,
    site_dir,
)

SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

#: How long a page may take to fall quiet after its load event (see ``Visit._wait_until_idle``).
IDLE_TIMEOUT_MS = 90_000

#: External resources the pages may ask for although they cannot load without the internet, with
#: the reason each one is allowed to fail. None: MathJax 3 and the ipywidgets HTML manager used to
#: come from CDNs (cdn.jsdelivr.net, cdnjs.cloudflare.com); they are served from _static/vendor/.
IGNORED_EXTERNAL: dict[str, str] = {}


def ignored(url: str) -> bool:
    return any(url.startswith(prefix) for prefix in IGNORED_EXTERNAL)


def chromium() -> str:
    path = (
        os.environ.get("CTM_COURSE_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not path:
        pytest.fail(
            "Chromium not found: install Debian's `chromium` (apt-get install chromium; .ci/run does "
            "it on CI) or set CTM_COURSE_CHROMIUM to a Chromium binary"
        )
    return path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output readable
        pass


@pytest.fixture(scope="module")
def site() -> Path:
    return site_dir()


@pytest.fixture(scope="module")
def server(site):
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import (
        sync_playwright,  # requirements.txt; uses Debian's Chromium, downloads none
    )

    with sync_playwright() as playwright:
        # Playwright gives each launch a fresh, empty profile (its own --user-data-dir)
        browser = playwright.chromium.launch(
            executable_path=chromium(), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def opened(browser, server):
    """``opened(path)``: one light-mode :class:`Visit` of a lesson page per worker, shared by the tests
    that only read it (a lesson page costs seconds to load: loading it once for five such tests
    saves most of a minute). The visits stay open until the module ends, so only lesson pages are
    shared; tests that click or switch the theme open their own."""
    visits: dict[str, Visit] = {}

    def visit(path: str) -> Visit:
        if path not in visits:
            visits[path] = Visit(browser, server, path)
        return visits[path]

    yield visit
    for v in visits.values():
        v.close()


@pytest.fixture(scope="module")
def screenshots():
    # not emptied here: under pytest-xdist every worker builds its own module fixtures, and one
    # worker would delete the other's screenshots (`make test` empties the folder before the run;
    # each screenshot overwrites the last one of its page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


class Visit:
    """One page opened in a fresh browser context, with everything that went wrong on the way."""

    def __init__(self, browser, server: str, path: str, *, mode: str = "light"):
        self.context = browser.new_context(
            viewport={"width": 1280, "height": 900}, device_scale_factor=1
        )
        # the theme's colour mode, as its switch stores it (pydata-sphinx-theme's layout.html
        # sets <html data-theme> from localStorage before the page is drawn)
        self.context.add_init_script(
            f"localStorage.setItem('theme', '{mode}'); localStorage.setItem('mode', '{mode}');"
        )
        self.problems: list[str] = []
        self.ignored: list[str] = []
        self.pending: dict[object, str] = {}  # requests sent and not yet answered
        self.context.route(
            re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"), self._block_external
        )
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on(
            "pageerror",
            lambda error: self.problems.append(f"uncaught exception: {error}"),
        )
        self.page.on("request", lambda r: self.pending.__setitem__(r, r.url))
        self.page.on("requestfinished", lambda r: self.pending.pop(r, None))
        self.page.on("requestfailed", self._failed)
        self.page.on(
            "response",
            lambda r: (
                r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}")
            ),
        )
        response = self.page.goto(f"{server}/{path}", wait_until="load")
        assert response is not None and response.ok, (
            f"{path}: {response.status if response else 'no response'}"
        )
        self._wait_until_idle()

    def _wait_until_idle(self) -> None:
        """Playwright's ``networkidle`` (no request for 500 ms), given 90 s: a busy CI host has kept
        a page past the default 30 s; if it still times out, the failure names what was pending."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_load_state("networkidle", timeout=IDLE_TIMEOUT_MS)
        except PlaywrightTimeout:
            pending = sorted(set(self.pending.values())) or ["none"]
            raise AssertionError(
                f"{self.page.url}: the network was not idle after {IDLE_TIMEOUT_MS // 1000} s;"
                f" requests still pending: {pending}"
            ) from None

    def _block_external(self, route):
        url = route.request.url
        if url.startswith(("data:", "blob:", "about:")):
            route.continue_()
            return
        (self.ignored if ignored(url) else self.problems).append(
            f"external request blocked: {url}"
        )
        route.abort("internetdisconnected")

    def _console(self, message):
        if message.type not in ("error", "assert"):
            return
        url = (message.location or {}).get("url", "")
        if message.text.startswith("Failed to load resource") and ignored(url):
            self.ignored.append(f"console: {message.text} ({url})")
        else:
            self.problems.append(f"console {message.type}: {message.text} ({url})")

    def _failed(self, request):
        self.pending.pop(request, None)
        if not ignored(request.url):
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def close(self):
        self.context.close()


def screenshot_name(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "__", path.removesuffix(".html")) + ".jpg"


def photograph(page, target: Path) -> None:
    """A full-page JPEG (quality 85) of ``page`` at ``target``: for review, about a third faster
    than a PNG of a long lesson page."""
    page.screenshot(path=str(target), full_page=True, type="jpeg", quality=85)
    assert target.stat().st_size > 10_000, (
        f"{target.name}: screenshot is (nearly) empty"
    )


def images_ok(page) -> list[str]:
    """Images the browser could not decode, or that are empty, on the current page."""
    page.evaluate("""async () => { for (const img of document.images) { img.loading = 'eager';
        try { await img.decode(); } catch (e) {} } }""")
    return page.evaluate("""() => Array.from(document.images)
        .filter(img => !(img.complete && img.naturalWidth > 0 && img.naturalHeight > 0))
        .map(img => img.src.slice(0, 120))""")


# ----------------------------------------------------------------------------- every page
@pytest.mark.parametrize("path", page_paths_to_collect())
def test_every_page_loads_cleanly_and_is_photographed(
    path, server, browser, opened, screenshots
):
    # a lesson page is read by other tests too: share its visit; open any other page alone
    shared = path.startswith("notebooks/")
    visit = opened(path) if shared else Visit(browser, server, path)
    try:
        broken = images_ok(visit.page)
        failures = [f"{path}: {p}" for p in visit.problems]
        failures += [f"{path}: image not shown: {src}" for src in broken]
        target = screenshots / screenshot_name(path)
        photograph(visit.page, target)
        print(f"screenshot: {target}")
        if visit.ignored:
            print("ignored (offline CDN):", *sorted(set(visit.ignored)), sep="\n  ")
    finally:
        if not shared:
            visit.close()
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures)


# ----------------------------------------------------------------------------- lessons
@pytest.mark.parametrize("stem", lessons())
def test_lesson_page_as_a_reader_sees_it(stem, site, server, browser):
    path = f"notebooks/{stem}.html"
    assert (site / path).is_file(), f"{stem} has no page (is it in _toc.yml?)"
    visit = Visit(browser, server, path)
    page = visit.page
    try:
        assert page.locator("h1").first.inner_text().strip(), f"{stem}: no title"

        # exercises visible, solutions collapsed, a click opens one
        exercises = page.locator("div.exercise")
        assert exercises.count() >= 3, (
            f"{stem}: {exercises.count()} exercises (the course asks for 3)"
        )
        for i in range(exercises.count()):
            assert exercises.nth(i).is_visible(), (
                f"{stem}: exercise {i + 1} is not visible"
            )
        solutions = page.locator("div.solution")
        assert solutions.count() >= exercises.count(), (
            f"{stem}: fewer solutions than exercises"
        )
        for i in range(solutions.count()):
            solution = solutions.nth(i)
            assert solution.locator(".admonition-title").is_visible(), (
                f"{stem}: solution {i + 1} has no title"
            )
            body = solution.locator(":scope > :not(.admonition-title)")
            assert body.count() and not any(
                body.nth(k).is_visible() for k in range(body.count())
            ), f"{stem}: solution {i + 1} is not collapsed"
        code_solutions = page.locator(".cell.tag_solution")
        assert code_solutions.count() and not code_solutions.first.is_visible(), (
            f"{stem}: solution code is visible before a click"
        )
        first = solutions.first
        first.locator(".admonition-title").click()
        first.locator(":scope > :not(.admonition-title)").first.wait_for(
            state="visible", timeout=5000
        )
        assert first.locator(".cell.tag_solution, pre").first.is_visible(), (
            f"{stem}: the opened solution is empty"
        )

        # Colab launch button
        expected = colab_url(stem)
        hrefs = page.locator("a[href*='colab.research.google.com']").evaluate_all(
            "es => es.map(e => e.href)"
        )
        assert expected in hrefs, f"{stem}: Colab links {hrefs}, expected {expected}"

        # glossary links and the student copy
        glossary = page.locator("a[href*='glossary.html#term-']")
        assert glossary.count() >= 1, f"{stem}: no link to the glossary"
        downloads = page.locator("a.download[href$='/" + stem + ".ipynb']")
        assert downloads.count() >= 1, f"{stem}: no download link of its student copy"
        href = downloads.first.get_attribute("href")
        notebook = (site / Path(path).parent / href).resolve()
        copy = json.loads(notebook.read_text())
        tags = [
            t
            for cell in copy["cells"]
            for t in cell.get("metadata", {}).get("tags", [])
        ]
        assert "solution" not in tags and "raises-exception" in tags, (
            f"{stem}: the downloadable student copy still has its solutions"
        )

        # no output shown twice (e.g. an object displayed and also returned as the cell's value)
        repeated = page.evaluate("""() => Array.from(document.querySelectorAll('.cell_output')).flatMap(out => {
            const srcs = Array.from(out.querySelectorAll('img')).map(i => i.src);
            return srcs.filter((s, k) => srcs.indexOf(s) !== k).map(s => s.slice(0, 60)); })""")
        assert not repeated, f"{stem}: a cell shows the same image twice: {repeated}"

        assert not visit.problems, "\n".join(visit.problems)
    finally:
        visit.close()


@pytest.mark.parametrize("stem", lessons())
def test_figures_are_not_shrunk_into_unreadable_fonts(stem, opened):
    """A figure drawn wider than the page is scaled down, and its 10 pt labels with it.

    The page's text column is about 690 px wide at a 1280 px window; matplotlib draws 100 px per
    inch, so a figure wider than about 11.5 inches is shown below 60 % of its size and its
    default 10 pt labels below 8 px: unreadable. (The animation frames are 10 in wide: 69 %.)
    """
    images = opened(f"notebooks/{stem}.html").page.evaluate(
        """() => Array.from(document.querySelectorAll('.cell_output img'))
            .map(i => [i.src.slice(-40), i.naturalWidth, i.getBoundingClientRect().width])"""
    )
    shrunk = [
        f"{src} drawn {natural} px, shown {shown:.0f} px ({shown / natural:.0%})"
        for src, natural, shown in images
        if natural and shown / natural < 0.6
    ]
    assert not shrunk, (
        f"{stem}: figures shrunk below 60 % (labels unreadable):\n" + "\n".join(shrunk)
    )


@pytest.mark.parametrize("stem", lessons())
def test_figures_have_captions(stem, opened):
    """Every figure of a lesson (image or animation) sits in a <figure> with a caption.

    Lessons give a figure cell its caption in the cell's metadata (``mystnb: figure: caption:``, in the
    ``.py`` as ``# %% mystnb={"figure": {"caption": "..."}}``). Live training curves are exempt: their
    cell holds an interactive widget, and their titles and axes say what they show.
    """
    missing = opened(f"notebooks/{stem}.html").page.evaluate(
        """() => Array.from(document.querySelectorAll('.cell_output img'))
            .filter(i => !i.closest('.cell_output').querySelector('script[type*="widget-view"], .jupyter-widgets, .widget-subarea'))
            .filter(i => { const f = i.closest('figure'); return !f || !f.querySelector('figcaption'); })
            .map(i => i.src.slice(-40))"""
    )
    assert not missing, (
        f"{stem}: figures without a caption (add mystnb figure caption metadata): {missing}"
    )


@pytest.mark.parametrize("stem", lessons())
def test_markdown_outputs_are_rendered(stem, opened):
    """A table a lesson displays with ``display(Markdown(...))`` shows as a table, not as a paragraph of pipes."""
    paragraphs = (
        opened(f"notebooks/{stem}.html")
        .page.locator(".cell_output p")
        .all_inner_texts()
    )
    raw = [
        text[:80] for text in paragraphs if re.search(r"\|\s*(-{3,}|—)\s*\|", text)
    ]  # "---" may become "—"
    assert not raw, (
        f"{stem}: Markdown output shown as raw text (nb_render_markdown_format): {raw}"
    )


# ----------------------------------------------------------------------------- offline: math, widgets
#: TeX left as text: \( \) \[ \] delimiters, $$...$$, or $...$ around a non-blank.
RAW_TEX = r"\\\(|\\\)|\\\[|\\\]|\$\$|\$[^\s$][^$]*\$"


def local_scripts(page, server: str, pattern: str) -> list[str]:
    srcs = page.evaluate(
        "p => Array.from(document.scripts).map(s => s.src).filter(s => new RegExp(p, 'i').test(s))",
        pattern,
    )
    assert srcs, f"no script matching {pattern!r} on the page"
    assert all(src.startswith(f"{server}/") for src in srcs), (
        f"{pattern} not served by the site itself: {srcs}"
    )
    return srcs


@pytest.mark.parametrize("stem", lessons())
def test_math_is_typeset_offline(stem, server, opened):
    """MathJax from the site's ``_static/vendor/`` typesets every formula of the lesson.

    Every request leaving 127.0.0.1 is blocked (``Visit``), so this passes only when MathJax,
    its TeX extensions and its fonts are all part of the site.
    """
    visit = opened(f"notebooks/{stem}.html")
    page = visit.page
    local_scripts(page, server, r"mathjax")
    page.wait_for_function(
        "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
        timeout=20_000,
    )
    page.evaluate("() => MathJax.startup.promise")
    page.evaluate("() => document.fonts.ready.then(() => true)")
    found = page.evaluate("""() => {
        const maths = Array.from(document.querySelectorAll('article .math'));
        const text = (root) => {
            const copy = root.cloneNode(true);
            copy.querySelectorAll('pre, code, script, style, mjx-container, .cell_input, '
                + '.cell_output, .headerlink').forEach(e => e.remove());
            return copy.textContent;
        };
        return {
            maths: maths.length,
            typeset: maths.filter(m => m.querySelector('mjx-container')).length,
            errors: document.querySelectorAll('mjx-merror').length,
            text: text(document.querySelector('article') || document.body),
        };
    }""")
    assert found["maths"] >= 1, f"{stem}: no formula on the page"
    assert found["typeset"] == found["maths"], (
        f"{stem}: MathJax typeset {found['typeset']} of {found['maths']} formulas"
    )
    assert not found["errors"], f"{stem}: {found['errors']} MathJax errors"
    raw = [m.group(0) for m in re.finditer(RAW_TEX, found["text"])]
    assert not raw, f"{stem}: TeX left as text: {raw[:5]}"
    assert not visit.problems, "\n".join(visit.problems)


def slider_lessons(site: Path) -> list[str]:
    """Lessons whose page embeds an ipywidgets slider (lesson 1's tick slider)."""
    return [
        stem
        for stem in lessons()
        if '"IntSliderModel"' in (site / "notebooks" / f"{stem}.html").read_text()
    ]


def test_tick_slider_renders_and_moves_offline(site, server, browser):
    """The embedded tick slider is drawn by the widget manager from ``_static/vendor/`` and
    moves: a key press on its handle steps the tick, as a reader's drag would, and its play
    button runs it; neither throws (``book/_static/widgets-compat.js``)."""
    stems = slider_lessons(site)
    assert stems, "no lesson embeds an ipywidgets slider (lesson 1's tick_scrubber)"
    for stem in stems:
        visit = Visit(browser, server, f"notebooks/{stem}.html")
        page = visit.page
        try:
            local_scripts(page, server, r"html-manager")
            slider = page.locator(".widget-slider").first
            slider.wait_for(state="visible", timeout=20_000)
            slider.scroll_into_view_if_needed()
            readout = slider.locator(".widget-readout")
            before = int(readout.inner_text().strip())
            slider.locator(".noUi-handle").focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "([el, v]) => el.textContent.trim() !== String(v)",
                arg=[readout.element_handle(), before],
                timeout=5_000,
            )
            after = int(readout.inner_text().strip())
            assert after == before + 1, f"{stem}: the slider went {before} -> {after}"
            # the play button (linked to the slider in the browser) steps it on its own
            play = page.locator(".widget-play button").first
            assert play.is_visible(), f"{stem}: the slider's play button is not drawn"
            play.click()
            page.wait_for_function(
                "([el, v]) => Number(el.textContent.trim()) > v",
                arg=[readout.element_handle(), after],
                timeout=5_000,
            )
            assert not visit.problems, "\n".join(visit.problems)
        finally:
            visit.close()


# ----------------------------------------------------------------------------- dark mode
def relative_luminance(css: str) -> tuple[float, float]:
    """(WCAG relative luminance, alpha) of a computed CSS colour ``rgb(...)``/``rgba(...)``."""
    values = [float(v) for v in re.findall(r"[\d.]+", css)]
    r, g, b = values[:3]
    alpha = values[3] if len(values) > 3 else 1.0

    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b), alpha


def light_and_opaque(css: str) -> bool:
    luminance, alpha = relative_luminance(css)
    return alpha == 1 and luminance >= 0.5


@pytest.mark.parametrize("stem", lessons())
def test_dark_mode_keeps_figures_readable(stem, site, server, browser, screenshots):
    """With the theme switched to dark, every figure, animation and widget image of the lesson
    sits on an opaque light background: matplotlib draws black text for a white page, which
    would vanish on the dark page wherever a figure is transparent. The page is photographed
    in dark mode for review."""
    visit = Visit(browser, server, f"notebooks/{stem}.html", mode="dark")
    page = visit.page
    try:
        theme = page.evaluate("() => document.documentElement.dataset.theme")
        assert theme == "dark", f"{stem}: data-theme={theme!r}, expected dark"
        body = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert relative_luminance(body)[0] < 0.1, (
            f"{stem}: dark mode not applied: {body}"
        )
        images = page.evaluate("""() => Array.from(document.querySelectorAll(
                '.bd-content .cell_output img, .bd-content figure img'))
            .map(i => [i.src.slice(-40), getComputedStyle(i).backgroundColor])""")
        assert images, f"{stem}: no figure on the page"
        dark = [
            f"{src}: background {colour}"
            for src, colour in images
            if not light_and_opaque(colour)
        ]
        assert not dark, (
            f"{stem}: in dark mode these figures have no light background "
            "(book/_static/ctm-course.css):\n" + "\n".join(dark)
        )
        page.evaluate("() => window.MathJax ? MathJax.startup.promise : null")
        target = screenshots / f"dark__{screenshot_name(f'notebooks/{stem}.html')}"
        photograph(page, target)
        assert not visit.problems, "\n".join(visit.problems)
    finally:
        visit.close()


# ----------------------------------------------------------------------------- results page
def test_results_page_lists_every_recorded_lesson(site, server, browser):
    visit = Visit(browser, server, "book/results.html")
    try:
        headings = [h.strip() for h in visit.page.locator("h2").all_inner_texts()]
        text = visit.page.locator("main").inner_text()
    finally:
        visit.close()
    recorded = recorded_lessons()
    assert recorded, "no results/*/*.json recorded (besides smoke)"
    for lesson in recorded:
        assert any(h.startswith(f"{lesson[:2]} ·") for h in headings), (
            f"results page has no section for {lesson} (run `python scripts/book_results.py`): {headings}"
        )
    assert "training time" in text.lower()
