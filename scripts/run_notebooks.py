"""Every lesson under nbval (smoke profile), then its student copy, two notebooks at a time.

``make test`` runs::

    python scripts/run_notebooks.py --jobs 2

Every lesson ``notebooks/NN_slug.ipynb`` runs as ``pytest --nbval-lax`` with
``CTM_COURSE_RESULTS=_build/smoke-results``, and once it has passed its student copy
``student/NN_slug.ipynb`` (``make student`` writes the copies first) with
``CTM_COURSE_RESULTS=_build/student-results``. The student copy trains with the lesson's
settings, so it resumes the lesson's checkpoint instead of training again: that is why it waits
for its lesson and never runs beside it.

``--jobs`` notebooks run at once: the lessons first, the slowest last time first (their
durations are kept in ``_build/notebook-durations.json``; without it, as in a fresh clone, those
with the most code cells first: lesson 5, the slowest, has twice as many as any other), then
the student copies as their lessons pass. Each runs with ``OMP_NUM_THREADS`` = cores / jobs,
which caps a lesson's own ``cpu_threads`` (:func:`ctm_course.notebook.cpu_threads`), so that
the notebooks never fight for the cores. A notebook's output is printed whole when it ends;
the exit status is 1 when any notebook failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DURATIONS = ROOT / "_build" / "notebook-durations.json"


def nbval(
    notebook: Path, results: Path, threads: int
) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run ``notebook`` under nbval in the smoke profile."""
    env = dict(
        os.environ,
        CTM_COURSE_PROFILE="smoke",
        CTM_COURSE_RESULTS=str(results),
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
    )
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-rs",
        "-p",
        "no:cacheprovider",
        "--nbval-lax",
        "--nbval-current-env",
        str(notebook.relative_to(ROOT)),
    ]
    return cmd, env


def code_cells(notebook: Path) -> int:
    """How many code cells ``notebook`` has (nbval runs each as one test)."""
    cells = json.loads(notebook.read_text())["cells"]
    return sum(cell["cell_type"] == "code" for cell in cells)


FOLDERS = {"notebooks": "_build/smoke-results", "student": "_build/student-results"}


def run_copy(folder: str, stem: str, threads: int) -> tuple[str, str, bool, float, str]:
    """nbval on ``folder/stem.ipynb``; return (folder, stem, passed, seconds, output)."""
    cmd, env = nbval(ROOT / folder / f"{stem}.ipynb", ROOT / FOLDERS[folder], threads)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    output = f"$ {' '.join(cmd[2:])}\n" + (proc.stdout + proc.stderr).strip()
    return folder, stem, proc.returncode == 0, seconds, output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="notebooks at a time")
    parser.add_argument(
        "stems", nargs="*", help="lessons (NN_slug); default: every notebooks/*.ipynb"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    stems = args.stems or sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    missing = [s for s in stems if not (ROOT / "student" / f"{s}.ipynb").is_file()]
    if missing:
        parser.error(f"no student copy of {missing}: run `make student` first")
    last = json.loads(DURATIONS.read_text()) if DURATIONS.is_file() else {}
    if all(s in last for s in stems):
        stems.sort(key=lambda s: -last[s])
    else:
        stems.sort(key=lambda s: -code_cells(ROOT / "notebooks" / f"{s}.ipynb"))
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    print(
        f"{len(stems)} lessons and their student copies, {args.jobs} at a time, "
        f"{threads} thread(s) each",
        flush=True,
    )
    durations, failed, passed_count = {}, [], 0
    started = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        running = {pool.submit(run_copy, "notebooks", stem, threads) for stem in stems}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                folder, stem, passed, seconds, output = future.result()
                durations[stem] = round(durations.get(stem, 0.0) + seconds, 1)
                verdict = "passed" if passed else "FAILED"
                print(
                    f"\n==== {folder}/{stem}: {verdict} in {seconds:.0f} s\n{output}",
                    flush=True,
                )
                if not passed:
                    failed.append(f"{folder}/{stem}")
                    continue
                passed_count += 1
                if folder == "notebooks":
                    # after the lessons still waiting: the queue is first in, first out
                    running.add(pool.submit(run_copy, "student", stem, threads))
    DURATIONS.parent.mkdir(parents=True, exist_ok=True)
    DURATIONS.write_text(json.dumps({**last, **durations}, indent=1) + "\n")
    total = time.perf_counter() - started
    print(
        f"\n{passed_count} of {2 * len(stems)} notebooks (lessons and student copies) "
        f"passed in {total:.0f} s"
    )
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
