"""Lesson 1 in a fresh, Colab-like Python: only what a Colab GPU runtime already has, then the install cell.

What a reader gets in Colab: a Python with torch, torchvision, numpy, matplotlib, seaborn,
ipywidgets, tqdm and imageio already installed, ``google.colab`` imported in the kernel, and no
course package. The lesson's first cell then pip-installs the course package from the repository
and must not reinstall torch. This test rebuilds that situation:

1. a **new virtual environment** (``python -m venv``, no system site-packages, no ``.pth`` into
   ``.venv``) under ``_build/colab_like/venv`` with exactly those packages at the versions of
   ``.venv``, plus what runs the test itself (ipykernel, nbval, pytest, nbformat). They arrive
   as Colab's do, already installed: their files and those of everything they require are hard
   links to ``.venv``'s (:func:`preinstall`, a few seconds; installing them with pip took about
   two minutes here, most of it unpacking torch's CUDA libraries), and ``pip check`` finds every
   requirement satisfied;
2. a fake ``google.colab`` package in that venv, imported at kernel start by an IPython startup
   file (``IPYTHONDIR``), exactly as Colab's kernel has it in ``sys.modules``; so the install cell
   runs;
3. a wheel of the working tree's ``ctm_course`` stands in for the repository: the install cell
   reads its pip target from ``CTM_COURSE_INSTALL_URL`` (default ``git+<repository.url>``);
4. lesson 1, copied to a temporary folder outside the repository (so that it trains from
   scratch and writes its results there), runs under nbval in the smoke profile with that
   venv's Python as kernel;
5. afterwards torch and torchvision are the very same installation (``pip freeze`` lines and the
   inode and mtime of their files unchanged), the course package is installed, and the lesson
   recorded its results (so it ran to its last cell).

It is slow (a few minutes), so ``pytest tests/`` skips it; ``make test`` runs it with
``CTM_COURSE_COLAB_LIKE=1``. The venv is kept after the run for inspection and rebuilt from
scratch by the next one.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "_build" / "colab_like"
LESSON = "01_ctm_mnist"

#: What a Colab GPU runtime already has that the course needs (CONTRIBUTING.md).
COLAB_PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "matplotlib",
    "seaborn",
    "ipywidgets",
    "tqdm",
    "imageio",
)
#: What runs the notebook test itself in that venv.
TEST_PACKAGES = ("ipykernel", "nbval", "pytest", "nbformat")
#: Must be the very same installation before and after the lesson's install cell.
UNTOUCHED = ("torch", "torchvision")

pytestmark = pytest.mark.skipif(
    os.environ.get("CTM_COURSE_COLAB_LIKE") != "1",
    reason="slow (a fresh venv with torch): `make test` runs it with CTM_COURSE_COLAB_LIKE=1",
)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd``, echo its output, fail with it on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    print(
        f"$ {' '.join(map(str, cmd))}  ({time.perf_counter() - start:.0f} s, exit {proc.returncode})"
    )
    print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n")
    assert proc.returncode == 0, (
        f"{cmd[:4]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any trace of ``.venv`` (PATH, VIRTUAL_ENV, PYTHONPATH, PIP_*)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "MPLBACKEND", "JUPYTER_PATH")
        and not k.startswith("PIP_REQUIRE")
    }
    env["PATH"] = os.pathsep.join(
        p
        for p in env.get("PATH", "").split(os.pathsep)
        if not p.startswith(str(ROOT / ".venv"))
    )
    env.update(extra)
    return env


def installation(python: Path, name: str) -> dict[str, object]:
    """Version, location and (inode, mtime) of a distribution's files, seen by ``python``."""
    code = (
        "import importlib.metadata as m, json, os, sys\n"
        f"d = m.distribution({name!r})\n"
        "files = [f for f in d.files if f.suffix in ('.py', '.so', '.json') or f.name == 'RECORD'][:200]\n"
        "stat = {str(f): (os.stat(d.locate_file(f)).st_ino, os.stat(d.locate_file(f)).st_mtime_ns) "
        "for f in files if os.path.exists(d.locate_file(f))}\n"
        "print(json.dumps({'version': d.version, 'location': str(d.locate_file('')), 'stat': stat}))\n"
    )
    out = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def requirement_closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The distributions of ``.venv`` that ``names`` need on this platform, themselves included."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen[name] = dist = metadata.distribution(name)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def preinstall(names: tuple[str, ...], site: Path) -> int:
    """Put ``names`` and what they require into ``site`` as already installed, like Colab's image.

    Every file a distribution's RECORD lists under ``.venv``'s site-packages, metadata included,
    becomes a hard link in ``site`` (a copy where links are impossible); scripts in ``bin/`` are
    left out. pip then sees these distributions as installed and satisfied. Returns their number.
    """
    dists = requirement_closure(names)
    for dist in dists:
        source_site = Path(dist.locate_file("")).resolve()
        assert dist.files, f"{dist.metadata['Name']} has no RECORD to preinstall from"
        for file in dist.files:
            source = Path(dist.locate_file(file)).resolve()
            if not source.is_relative_to(source_site) or not source.is_file():
                continue
            target = site / source.relative_to(source_site)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)
    return len(dists)


def freeze(python: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--all"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [
        line for line in out.stdout.splitlines() if line and not line.startswith("#")
    ]
    return {
        line.split("==")[0].split(" @ ")[0].lower().replace("_", "-"): line
        for line in lines
    }


def build_wheel(dest: Path) -> Path:
    """A wheel of the working tree's course package (built from a copy: no build/ in the checkout)."""
    src = dest / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "ctm_course",
        src / "ctm_course",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dest / "dist"),
            str(src),
        ]
    )
    (wheel,) = (dest / "dist").glob("ctm_course-*.whl")
    return wheel


def test_lesson_1_runs_in_a_colab_like_runtime(tmp_path):
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    venv, ipython_dir = WORK / "venv", WORK / "ipython"
    # outside the repository, as on Colab: results/ and checkpoints/ go to the lesson's folder, and no
    # checkpoint of the other test runs is found (ctm_course looks for the repository from the cwd)
    lesson_dir = tmp_path / "lesson"
    env = clean_env(
        VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{clean_env()['PATH']}"
    )

    # 1. a fresh venv with the Colab runtime's packages, at .venv's versions (torch from the local wheel)
    base_python = getattr(sys, "_base_executable", sys.executable)
    run([base_python, "-m", "venv", str(venv)], env=clean_env())
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [
                str(python),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    started = time.perf_counter()
    linked = preinstall(COLAB_PACKAGES + TEST_PACKAGES, site)
    run([str(python), "-m", "pip", "check"], env=env)  # every requirement is there
    print(
        f"Colab-like venv: {linked} distributions preinstalled (the "
        f"{len(COLAB_PACKAGES + TEST_PACKAGES)} above and what they require) "
        f"in {time.perf_counter() - started:.0f} s"
    )
    preinstalled, ours = freeze(python), freeze(Path(sys.executable))
    for name in COLAB_PACKAGES + TEST_PACKAGES:
        assert preinstalled[name] == ours[name], (
            f"{name} in the Colab-like venv is not .venv's: {preinstalled[name]}"
        )
    probe = subprocess.run(
        [str(python), "-c", "import ctm_course"],
        capture_output=True,
        env=env,
        cwd=tmp_path,
    )
    assert probe.returncode != 0, (
        "the fresh venv must not see the course package before the install cell"
    )
    # not on Colab: the course must not need them there
    for name in (
        "mediapy",
        "jupyter-book",
        "myst-nb",
    ):
        assert name not in freeze(python), (
            f"{name} should not be in the Colab-like venv yet"
        )

    # 2. `google.colab` in the kernel's sys.modules, as on Colab
    (site / "google" / "colab").mkdir(parents=True)
    (site / "google" / "colab" / "__init__.py").write_text(
        '"""Stand-in for Colab\'s module (tests only)."""\n'
    )
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text(
        "import google.colab  # Colab's kernel has it imported\n"
    )

    # 3. the course package as the install cell gets it, from a wheel standing in for the repository
    wheel = build_wheel(WORK)

    # 4. lesson 1 outside the repository, smoke profile, this venv's Python as the kernel
    lesson_dir.mkdir()
    shutil.copy(ROOT / "notebooks" / f"{LESSON}.ipynb", lesson_dir)
    before = {name: installation(python, name) for name in UNTOUCHED}
    frozen_before = freeze(python)
    run_env = dict(
        env,
        IPYTHONDIR=str(ipython_dir),
        CTM_COURSE_PROFILE="smoke",
        CTM_COURSE_INSTALL_URL=wheel.resolve().as_uri(),
    )
    started = time.perf_counter()
    run(
        [
            str(python),
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--nbval-current-env",
            "-q",
            f"{LESSON}.ipynb",
        ],
        env=run_env,
        cwd=lesson_dir,
    )
    print(f"lesson 1 in the Colab-like venv: {time.perf_counter() - started:.0f} s")

    # 5. torch untouched, the course package installed, the lesson ran to its end
    after = {name: installation(python, name) for name in UNTOUCHED}
    frozen_after = freeze(python)
    for name in UNTOUCHED:
        assert frozen_after[name] == frozen_before[name], (
            f"{name} was changed: {frozen_after[name]}"
        )
        assert after[name] == before[name], (
            f"{name} was reinstalled (its files changed) by the install cell"
        )
    changed = {k for k in frozen_before if frozen_after.get(k) != frozen_before[k]}
    assert not changed, (
        f"the install cell changed packages Colab already has: {sorted(changed)}"
    )
    assert "ctm-course" in frozen_after, (
        "the install cell did not install the course package"
    )
    added = sorted(set(frozen_after) - set(frozen_before))
    print(f"installed by the lesson's first cell: {added}")
    assert not {"torch", "torchvision"} & set(added)
    result = lesson_dir / "results" / "smoke" / f"{LESSON}.json"
    assert result.is_file(), (
        "the lesson did not record its results: it did not run to the end"
    )
    assert json.loads(result.read_text())["profile"] == "smoke"
