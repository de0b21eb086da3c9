"""The site's JavaScript comes from ``_static/vendor/`` (``scripts/web_assets.py``), not a CDN.

These checks need no network: they compare ``_config.yml`` with the script's pins and file
selection. ``tests/test_site.py`` then checks the built pages in a browser that can reach
nothing but the local server.
"""

from __future__ import annotations

from pathlib import Path

import web_assets
import yaml

ROOT = Path(__file__).resolve().parents[1]


def sphinx_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]


def package(name: str) -> web_assets.Package:
    return next(p for p in web_assets.PACKAGES if p.name == name)


def test_config_loads_mathjax_and_the_widget_manager_from_vendor():
    config = sphinx_config()
    static = [ROOT / path for path in config["html_static_path"]]
    assert web_assets.VENDOR.parent in static, (
        f"html_static_path {config['html_static_path']} must hold {web_assets.VENDOR}"
    )
    names = {p.name for p in web_assets.PACKAGES}
    for url in (config["mathjax_path"], *config["nb_ipywidgets_js"]):
        assert "://" not in url and not url.startswith("/"), (
            f"{url}: not a path under _static"
        )
        assert url.startswith("vendor/"), f"{url}: not under _static/vendor/"
        name, _, file = url.removeprefix("vendor/").partition("/")
        assert name in names, f"{url}: {name} is not one of {sorted(names)}"
        assert web_assets.wanted(package(name), file), (
            f"{url}: scripts/web_assets.py does not unpack {file}"
        )


def test_the_course_css_and_js_are_committed():
    config = sphinx_config()
    files = [e if isinstance(e, str) else e[0] for e in config.get("html_js_files", [])]
    files += list(config.get("html_css_files", []))
    assert files, (
        "no html_js_files / html_css_files (book/_static/widgets-compat.js, ...)"
    )
    for name in files:
        assert (web_assets.VENDOR.parent / name).is_file(), (
            f"book/_static/{name} is missing"
        )


def test_pins_are_exact_versions_with_checksums():
    for p in web_assets.PACKAGES:
        version = p.spec.rsplit("@", 1)[1]
        assert all(part.isdigit() for part in version.split(".")), p.spec
        assert len(p.sha256) == 64 and int(p.sha256, 16) >= 0, p.spec


def test_only_loadable_files_are_unpacked():
    mathjax, widgets = package("mathjax"), package("html-manager")
    assert web_assets.wanted(mathjax, "tex-mml-chtml.js")
    assert web_assets.wanted(mathjax, "output/chtml/fonts/woff-v2/MathJax_Zero.woff")
    assert web_assets.wanted(mathjax, "input/tex/extensions/ams.js")
    assert not web_assets.wanted(mathjax, "tex-svg-full.js")  # an unused bundle
    assert web_assets.wanted(widgets, "embed.js")
    assert web_assets.wanted(widgets, "d878b0a6a1144760244f.woff2")
    assert not web_assets.wanted(widgets, "embed.js.map")
    assert not web_assets.wanted(widgets, "embed-amd.js")


def test_vendor_folder_is_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    relative = web_assets.VENDOR.relative_to(ROOT).as_posix()
    assert any(line.strip().strip("/") == relative for line in ignored), (
        f"{relative}/ must be in .gitignore (it is fetched, not committed)"
    )
