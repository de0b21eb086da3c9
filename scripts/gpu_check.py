"""One prepared GPU check: the CUDA-only tests and every lesson's gpu row in quick mode, one report.

    python scripts/gpu_check.py                          # make gpu-check: tests, then all five lessons
    python scripts/gpu_check.py --lessons 01_ctm_mnist   # one lesson, no tests: --skip-tests

Made for a lent GPU machine (a fresh one each time, minutes of device time): in one command it

1. runs the tests that only run on a GPU (:data:`GPU_TESTS`: CUDA-graph steps equal eager steps, a
   graphed run resumes bit for bit, the bf16 and ``channels_last`` paths);
2. executes every lesson notebook (``notebooks/NN_slug.ipynb``) in its own kernel with
   ``CTM_COURSE_PROFILE=gpu`` and ``CTM_COURSE_QUICK=1``: the gpu row's models, batch sizes, data
   and code paths, training cut to a few hundred steps (:func:`ctm_course.quick.quick`), so that
   each row is proven to run end to end on the GPU (memory, dtypes, CUDA graphs, plots). A quick
   run does not learn enough for the lessons' thresholds (``lesson.quick`` tells a lesson so);
   its result goes to ``results/gpu-check/runs/<lesson>.json``, never to ``results/gpu/``;
3. writes ``results/gpu-check/<device-slug>.json`` (:data:`REPORT_KEYS`; per notebook
   :data:`NOTEBOOK_KEYS`): device, torch, date, commit, and for each notebook its status
   (``passed``, ``failed`` with the error's last lines, or ``skipped`` when the time budget was
   spent), its seconds, and from the lesson's recorded result its training steps per second and
   the GPU memory its process took at most.

The whole check keeps to ``--budget`` seconds (default 480): a cell may run at most until the
budget is spent, and lessons left when it is are skipped. Without CUDA it stops at once (exit 2).
Exit status: 0 when everything passed, 1 when something failed or was skipped, 2 when the check
cannot run here (no CUDA, a missing package).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("ctm_course") is None:  # not installed (a bare GPU machine)
    sys.path.insert(0, str(ROOT))
NO_CUDA_MESSAGE = (
    "no CUDA device: make gpu-check needs a GPU (it runs the CUDA-only tests and every "
    "lesson's gpu row on the device); on a machine without one, run make test"
)
#: The tests that only run on a GPU (on a CPU they skip), relative to the repository root.
GPU_TESTS = ("tests/test_cuda_graph.py", "tests/test_gpu.py")
#: Modules the check and the lessons import; without one the check cannot run (exit 2).
NEEDED_MODULES = (
    "torch",
    "torchvision",
    "numpy",
    "matplotlib",
    "scipy",
    "sklearn",
    "tqdm",
    "imageio",
    "pytest",
    "nbformat",
    "nbclient",
    "jupyter_client",
    "ipykernel",
    "IPython",
)
REPORT_KEYS = (
    "device",
    "torch",
    "cuda",
    "date",
    "commit",
    "profile",
    "quick",
    "budget_seconds",
    "seconds",
    "passed",
    "tests",
    "notebooks",
)
NOTEBOOK_KEYS = (
    "status",
    "seconds",
    "error",
    "data_source",
    "steps",
    "train_seconds",
    "steps_per_second",
    "gpu_peak_memory_gib",
)
#: Budget a lesson needs at least to be started (else it is skipped), in seconds.
MIN_LESSON_SECONDS = 20.0
ERROR_LINES = 15

#: ``execute(notebook, output_dir, env, timeout)``: run every cell, raise on an error.
Executor = Callable[[Path, Path, Mapping[str, str], float], None]
#: ``run_tests(timeout) -> (passed, output)``.
TestRunner = Callable[[float], "tuple[bool, str]"]


def device_slug(name: str) -> str:
    """``"NVIDIA H100 80GB HBM3"`` -> ``"nvidia-h100-80gb-hbm3"`` (as ``results/bench/`` names files)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown-device"


def last_lines(text: str, n: int = ERROR_LINES) -> str:
    """The last ``n`` non-empty lines of ``text``, without terminal colour codes."""
    plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
    lines = [line.rstrip() for line in plain.splitlines() if line.strip()]
    return "\n".join(lines[-n:])


def missing_modules(names: Sequence[str] = NEEDED_MODULES) -> list[str]:
    """The modules of ``names`` that cannot be imported here."""
    return [name for name in names if importlib.util.find_spec(name) is None]


# --------------------------------------------------------------------------------------------
# The two kinds of work: the tests, and one notebook
# --------------------------------------------------------------------------------------------
def run_gpu_tests(timeout: float, tests: Sequence[str] = GPU_TESTS) -> tuple[bool, str]:
    """``pytest`` on :data:`GPU_TESTS` in the repository root; ``(passed, output)``."""
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"]
    try:
        done = subprocess.run(
            [*command, *tests],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as error:
        out = (error.stdout or b"").decode(errors="replace")
        return False, f"{out}\nthe GPU tests ran past {timeout:.0f} s and were stopped"
    return done.returncode == 0, done.stdout + done.stderr


def execute_notebook(
    notebook: Path, output_dir: Path, env: Mapping[str, str], timeout: float
) -> None:
    """Run every cell of ``notebook`` in a fresh kernel of this Python, in the notebook's folder,
    with ``env`` as the kernel's environment and at most ``timeout`` seconds per cell; save the
    executed copy in ``output_dir``. Raises on the first cell that fails."""
    import nbformat
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from nbclient import NotebookClient

    class ThisPython(KernelSpecManager):
        """Every kernel name means this interpreter (as nbval's ``--nbval-current-env``)."""

        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            argv = [sys.executable, "-m", "ipykernel_launcher", "-f"]
            return KernelSpec(
                argv=[*argv, "{connection_file}"],
                display_name="Python 3",
                language="python",
            )

    nb = nbformat.read(notebook, as_version=4)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ThisPython())
    client = NotebookClient(
        nb,
        km=km,
        timeout=max(1, int(timeout)),
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    try:
        client.execute(env=dict(env))
    finally:
        output_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, output_dir / notebook.name)


# --------------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------------
def lesson_env(
    results_root: Path, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The kernel's environment: the gpu profile in quick mode, results under ``results_root``,
    and the repository on ``PYTHONPATH`` (the package need not be installed)."""
    env = dict(os.environ if base is None else base)
    path = [str(ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        CTM_COURSE_PROFILE="gpu",
        CTM_COURSE_QUICK="1",
        CTM_COURSE_RESULTS=str(results_root),
        PYTHONPATH=os.pathsep.join(path),
    )
    return env


def recorded(results_root: Path, lesson: str) -> dict[str, Any]:
    """What the check reads from a lesson's quick result (``{}`` when it recorded none)."""
    path = results_root / "gpu-check" / "runs" / f"{lesson}.json"
    if not path.is_file():
        return {}
    entry = json.loads(path.read_text())
    steps, seconds = entry.get("steps"), entry.get("train_seconds")
    rate = round(steps / seconds, 2) if steps and seconds else None
    return {
        "data_source": entry.get("data_source"),
        "steps": steps,
        "train_seconds": seconds,
        "steps_per_second": rate,
        "gpu_peak_memory_gib": entry.get("gpu_peak_memory_gib"),
    }


def run_check(
    notebooks: Sequence[Path],
    *,
    execute: Executor,
    run_tests: TestRunner | None,
    results_root: Path,
    output_dir: Path,
    budget: float,
    device: str,
    torch_version: str,
    cuda_version: str | None,
    clock: Callable[[], float] = time.monotonic,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run the tests and ``notebooks`` within ``budget`` seconds; the report (:data:`REPORT_KEYS`)."""
    from ctm_course.quick import QUICK_SECONDS, QUICK_STEPS
    from ctm_course.results import git_commit

    began = clock()

    def left() -> float:
        return budget - (clock() - began)

    report: dict[str, Any] = {
        "device": device,
        "torch": torch_version,
        "cuda": cuda_version,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(ROOT, mark_changes=True),
        "profile": "gpu",
        "quick": {"steps": QUICK_STEPS, "max_seconds": QUICK_SECONDS},
        "budget_seconds": budget,
        "seconds": 0.0,
        "passed": False,
        "tests": None,
        "notebooks": {},
    }
    if run_tests is not None:
        started = clock()
        print(f"== the GPU-only tests: {' '.join(GPU_TESTS)}", flush=True)
        passed, output = run_tests(max(1.0, min(left(), budget / 3)))
        summary = last_lines(output, 1)
        print(summary, flush=True)
        report["tests"] = {
            "files": list(GPU_TESTS),
            "status": "passed" if passed else "failed",
            "seconds": round(clock() - started, 1),
            "summary": summary,
            "error": None if passed else last_lines(output, 40),
        }
    lesson_environment = lesson_env(results_root, env)
    for notebook in notebooks:
        lesson = notebook.stem
        entry: dict[str, Any] = dict.fromkeys(NOTEBOOK_KEYS)
        report["notebooks"][lesson] = entry
        if left() < MIN_LESSON_SECONDS:
            entry.update(
                status="skipped", seconds=0.0, error="the time budget was spent"
            )
            print(f"== {lesson}: skipped, the time budget was spent", flush=True)
            continue
        (results_root / "gpu-check" / "runs" / f"{lesson}.json").unlink(missing_ok=True)
        print(f"== {lesson} (gpu row, quick mode; {left():.0f} s left)", flush=True)
        started = clock()
        try:
            execute(notebook, output_dir, lesson_environment, left())
        except Exception as error:  # noqa: BLE001 - any failure of a lesson is reported, then the next runs
            entry.update(
                status="failed", error=last_lines(f"{type(error).__name__}: {error}")
            )
        else:
            entry["status"] = "passed"
        entry["seconds"] = round(clock() - started, 1)
        entry.update(recorded(results_root, lesson))
        print(
            f"   {entry['status']} in {entry['seconds']:.0f} s; "
            f"{entry['steps_per_second']} steps/s, "
            f"peak GPU memory {entry['gpu_peak_memory_gib']} GiB",
            flush=True,
        )
        if entry["error"]:
            print(entry["error"], flush=True)
    report["seconds"] = round(clock() - began, 1)
    statuses = [e["status"] for e in report["notebooks"].values()]
    tests_ok = report["tests"] is None or report["tests"]["status"] == "passed"
    report["passed"] = tests_ok and all(s == "passed" for s in statuses)
    return report


def write_report(report: Mapping[str, Any], folder: Path) -> Path:
    """``<folder>/<device-slug>.json`` (the keys :data:`REPORT_KEYS`, in that order)."""
    missing = [key for key in REPORT_KEYS if key not in report]
    if missing:
        raise ValueError(f"write_report: the report lacks {missing}")
    path = folder / f"{device_slug(str(report['device']))}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = {key: report[key] for key in REPORT_KEYS}
    path.write_text(json.dumps(ordered, indent=2) + "\n")
    return path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--lessons",
        nargs="+",
        default=None,
        help="notebook stems to run (default: every notebooks/*.ipynb)",
    )
    parser.add_argument(
        "--skip-tests", action="store_true", help="do not run the GPU-only tests"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=480.0,
        help="seconds for the whole check (default 480)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="results folder (default: $CTM_COURSE_RESULTS, else <repo>/results)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "_build" / "gpu-check",
        help="where the executed notebooks are saved (default: _build/gpu-check)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(NO_CUDA_MESSAGE, file=sys.stderr)
        return 2
    missing = missing_modules()
    if missing:
        print(
            f"make gpu-check cannot run here: the Python modules {', '.join(missing)} are "
            f"missing from {sys.executable} (carry them as wheels, or make venv)",
            file=sys.stderr,
        )
        return 2
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.lessons:
        unknown = sorted(set(args.lessons) - {nb.stem for nb in notebooks})
        if unknown:
            known = ", ".join(nb.stem for nb in notebooks)
            print(f"--lessons: unknown {unknown}; known: {known}", file=sys.stderr)
            return 2
        notebooks = [nb for nb in notebooks if nb.stem in args.lessons]
    if not os.environ.get("CTM_COURSE_DATA"):
        print(
            "note: CTM_COURSE_DATA is not set; lessons without a full data set fall back to "
            "the package's samples (too small for lesson 4's gpu batch of 2048)",
            flush=True,
        )
    results_root = args.results or Path(
        os.environ.get("CTM_COURSE_RESULTS") or ROOT / "results"
    )
    # quick runs train from the first step: no checkpoint of an earlier check is resumed
    shutil.rmtree(ROOT / "checkpoints" / "gpu-check", ignore_errors=True)
    report = run_check(
        notebooks,
        execute=execute_notebook,
        run_tests=None if args.skip_tests else run_gpu_tests,
        results_root=results_root,
        output_dir=args.output,
        budget=args.budget,
        device=torch.cuda.get_device_name(),
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda,
    )
    path = write_report(report, results_root / "gpu-check")
    verdict = "passed" if report["passed"] else "FAILED"
    print(f"gpu-check {verdict} in {report['seconds']:.0f} s; report: {path}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
