"""What a student copy of a lesson calls: the fallback to the worked solution of an exercise.

``scripts/make_student.py`` writes the student copies (``make student``); after the first cell that
uses an exercise's stub it adds a collapsed *Fallback* cell that runs::

    from ctm_course.student import fallback
    fallback("label", ["name", ...], solution="<base64>", check="<base64>")

This runs in the reader's notebook (Colab or Jupyter), so it lives in the package they install.
"""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["fallback"]


def _is_stub(value: Any) -> bool:
    code = getattr(value, "__code__", None)
    return code is not None and "NotImplementedError" in code.co_names


def fallback(label: str, names: list[str], solution: str, check: str) -> bool:
    """Use the worked solution of exercise ``label`` if the reader's code is unfinished or failed.

    Called by the fallback cell of a student copy, right after the first cell that uses the
    exercise's ``names``. If any of them is still a stub (its code raises ``NotImplementedError``)
    or that cell failed, the reader's versions are kept as ``my_<name>``, the worked ``solution``
    (base64) is executed in the notebook's namespace and the ``check`` cell (base64) runs again.
    Returns ``True`` when the solution was used.
    """
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("fallback() runs inside a notebook (IPython)")
    namespace = shell.user_ns
    unfinished = [name for name in names if _is_stub(namespace.get(name))]
    failed = not shell.last_execution_succeeded
    if not unfinished and not failed:
        print(f"Exercise {label}: your code works, the lesson goes on with it.")
        return False
    for name in names:
        if name in namespace:
            namespace[f"my_{name}"] = namespace[name]
    why = (
        f"{', '.join(f'`{n}`' for n in unfinished)} still raise(s) NotImplementedError"
        if unfinished
        else "the cell above failed"
    )
    print(
        f"Exercise {label}: {why}, so the lesson goes on with the worked solution "
        f"(your version is kept as {', '.join('my_' + n for n in names)})."
    )
    exec(
        compile(base64.b64decode(solution).decode(), f"<solution {label}>", "exec"),
        namespace,
    )
    result = shell.run_cell(base64.b64decode(check).decode(), store_history=False)
    result.raise_error()
    return True
