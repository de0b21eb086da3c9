"""Put the site's JavaScript libraries in ``book/_static/vendor/``, so the book loads no CDN.

The lesson pages typeset their formulas with MathJax 3 and show their embedded ipywidgets
(lesson 1's tick slider, the progress bars) with the Jupyter widgets' HTML manager. Sphinx
and myst-nb would load both from CDNs; ``_config.yml`` points them at ``_static/vendor/``
instead (``mathjax_path``, ``nb_ipywidgets_js``), and this script fills that folder from
npm: ``npm pack`` of a pinned version, the tarball's SHA-256 checked against the pin below,
then only the files a page can load unpacked (no source maps, no unused bundles).

    python scripts/web_assets.py          # `make web-assets` (make book and make test run it)
    python scripts/web_assets.py --check  # exit 1 unless the pinned versions are in place

A second run finds each package's ``.pinned`` record and does nothing; npm keeps the
tarballs in its cache. ``book/_static/vendor/`` is ignored by git.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "book" / "_static" / "vendor"


@dataclass(frozen=True)
class Package:
    """One npm package: its pinned version, the tarball's SHA-256, which files to keep."""

    spec: str  # name@version, exactly
    sha256: str
    folder: str  # the package's folder whose contents go to VENDOR / name
    keep: tuple[
        str, ...
    ]  # of that folder: top-level files to keep (all subfolders are kept)
    drop: tuple[str, ...] = ()  # suffixes never kept

    @property
    def name(self) -> str:
        return self.spec.rsplit("@", 1)[0].rsplit("/", 1)[-1]


PACKAGES = (
    # tex-mml-chtml.js is what Sphinx loads by default from the CDN; it lazy-loads TeX
    # extensions, its fonts, the accessibility and menu components from its own folder
    Package(
        spec="mathjax@3.2.2",
        sha256="1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09",
        folder="package/es5",
        keep=("tex-mml-chtml.js", "core.js", "loader.js", "startup.js"),
    ),
    # the version myst-nb 1.x loads from the CDN; embed.js renders the standard widgets
    # (@jupyter-widgets/base, controls, output) without RequireJS
    Package(
        spec="@jupyter-widgets/html-manager@1.0.6",
        sha256="6c198ceb99ba7e7526990a1de16e8147ad7d3a714e3fb06741183623c04b5f6e",
        folder="package/dist",
        keep=("embed.js", "embed.js.LICENSE.txt", "106.embed.js", "330.embed.js"),
        drop=(".map",),
    ),
)
FONT_SUFFIXES = (
    ".eot",
    ".svg",
    ".ttf",
    ".woff",
    ".woff2",
)  # kept in a kept folder's top


def wanted(package: Package, relative: str) -> bool:
    """Whether ``relative`` (a path inside ``package.folder``) goes to the site."""
    if package.drop and relative.endswith(package.drop):
        return False
    if "/" in relative:
        return True
    return relative in package.keep or relative.endswith(FONT_SUFFIXES)


def pinned(package: Package) -> bool:
    record = VENDOR / package.name / ".pinned"
    return record.is_file() and record.read_text().split() == [
        package.spec,
        package.sha256,
    ]


def npm() -> str:
    path = shutil.which("npm")
    if not path:
        sys.exit(
            "web_assets: npm not found; install it (Debian: apt-get install npm; "
            "`make web-assets` does it as root)"
        )
    return path


def fetch(package: Package) -> None:
    """npm pack the pinned version, check its SHA-256, unpack the wanted files."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [npm(), "pack", "--silent", "--pack-destination", tmp, package.spec],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        tarball = Path(tmp) / out[-1]
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        if digest != package.sha256:
            sys.exit(
                f"web_assets: {package.spec}: SHA-256 {digest}, pinned {package.sha256}"
            )
        target = VENDOR / package.name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        prefix, count = package.folder.rstrip("/") + "/", 0
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                if member.name == "package/LICENSE":
                    member.name = "LICENSE"
                elif member.isfile() and member.name.startswith(prefix):
                    member.name = member.name[len(prefix) :]
                    if not wanted(package, member.name):
                        continue
                else:
                    continue
                if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12
                    tar.extract(member, target, filter="data")
                else:
                    tar.extract(member, target)
                count += 1
        (target / ".pinned").write_text(f"{package.spec} {package.sha256}\n")
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        print(
            f"web_assets: {package.spec}: {count} files, {size / 1e6:.1f} MB in {target}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only check, exit 1 if not in place"
    )
    args = parser.parse_args()
    missing = [p for p in PACKAGES if not pinned(p)]
    if args.check:
        for package in missing:
            print(f"web_assets: {package.spec} missing in {VENDOR} (make web-assets)")
        return 1 if missing else 0
    for package in missing:
        fetch(package)
    if not missing:
        print(f"web_assets: {', '.join(p.spec for p in PACKAGES)} in place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
