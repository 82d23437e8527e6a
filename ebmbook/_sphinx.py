"""A small Sphinx extension for the book's HTML build (listed in ``_config.yml``).

sphinx-thebe registers its inline configuration script (``const THEBE_JS_URL = ...``) once per
reading pass, and a Jupyter Book 1.x build can register it twice, so every page declared the
same ``const`` twice and the browser logged "Identifier 'THEBE_JS_URL' has already been
declared". This extension drops exact duplicates from each page's script list (same file, same
attributes and inline body), keeping the first.
"""

from __future__ import annotations


def _key(script) -> tuple:
    attrs = getattr(script, "attributes", {}) or {}
    return (str(getattr(script, "filename", script)), tuple(sorted(attrs.items())))


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    files = context.get("script_files")
    if not files:
        return
    seen, kept = set(), []
    for f in files:
        k = _key(f)
        if k not in seen:
            seen.add(k)
            kept.append(f)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
