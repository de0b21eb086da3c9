"""Two fixes for errors that every page of a Jupyter Book 1.0.4 site shows in the browser console.

Loaded through ``sphinx.local_extensions`` in ``_config.yml``; ``tests/test_site.py`` fails on
any console error, so it would catch either one coming back.

1. ``Uncaught SyntaxError: Identifier 'THEBE_JS_URL' has already been declared``: with Sphinx 7,
   sphinx-thebe 0.3.1's inline ``const THEBE_JS_URL = ...`` script is put on every page twice
   (once from Sphinx's registry, once from the builder, one with filename ``None``, one with ``''``);
   so is sphinx-togglebutton's selector script. Identical scripts are dropped here.
2. ``Got invalid theme mode: . Resetting to auto.``: the theme's ``default_mode`` is empty unless
   set. It is set to ``light`` (the lessons' figures have white backgrounds); the reader can still
   switch to dark mode with the theme button.
"""

from __future__ import annotations

from typing import Any


def _default_mode(app: Any, config: Any) -> None:
    # pydata-sphinx-theme reads it from the page context
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "light")
    config.html_context = context


def _drop_duplicate_scripts(
    app: Any, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # an inline script has filename None or "" depending on who added it: both mean "no file"
        key = (
            getattr(script, "filename", None) or "",
            repr(sorted(getattr(script, "attributes", {}).items())),
        )
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    scripts[:] = unique


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _default_mode)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
