"""Number figures, tables and exercises within their lesson ("Fig. 4.1", "Exercise 4.1"),
without numbering the headings.

Sphinx numbers figures per chapter only when the chapters have section numbers:
``_toc.yml`` numbers the *Lessons* part to depth 1 (lesson N is chapter N; the setup page
sits in a part of its own and gets no number) and ``_config.yml`` sets ``numfig`` with
``numfig_secnum_depth: 1``. Those section numbers would also show in front of every
lesson's title, in the page, the navigation and the browser tab ("4. Lesson 4: ..."),
although the titles already carry their number and the lessons number their own
headings ("## 1. ..."). Once the figure and exercise numbers are assigned, this
extension drops the section numbers again, so only the figures, tables and exercises
keep them. ``tests/test_site.py`` checks both: per-lesson numbers, and no number in
front of a lesson's title.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes


def _drop_section_numbers(app: Any, env: Any) -> list[str]:
    # runs after the toctree collector (priority 500): env.toc_fignumbers is already final
    env.toc_secnumbers = {}
    for title in env.titles.values():
        title.attributes.pop("secnumber", None)
    for toc in env.tocs.values():
        for reference in toc.findall(nodes.reference):
            reference.attributes.pop("secnumber", None)
    return []


def setup(app: Any) -> dict[str, Any]:
    app.connect("env-get-updated", _drop_section_numbers, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
