"""A small Sphinx extension for the book's HTML build (listed in ``_config.yml``).

sphinx-thebe registers its inline configuration script (``const THEBE_JS_URL = ...``) once per
reading pass, and a Jupyter Book 1.x build can register it twice, so every page declared the
same ``const`` twice and the browser logged "Identifier 'THEBE_JS_URL' has already been
declared". This extension drops exact duplicates from each page's script list (same file, same
attributes and inline body), keeping the first. It also gives the theme a default light/dark
mode, without which a reader's first page logs "Got invalid theme mode" to the console, and
keeps Sphinx's own figure numbers off (:func:`no_numfig`), and makes every figure a link to
its full-size image (:func:`link_images`).
"""

from __future__ import annotations

import re


def _key(script) -> tuple:
    attrs = getattr(script, "attributes", {}) or {}
    name = getattr(script, "filename", script)
    # an inline script's file name is None or "" depending on who added it
    return (str(name or ""), tuple(sorted(attrs.items())))


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


def default_mode(app, pagename, templatename, context, doctree) -> None:
    """The theme's light/dark mode before a reader picks one: ``auto`` (follow the system).
    Left empty, pydata-sphinx-theme logs "Got invalid theme mode" on a reader's first page."""
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


_IMG = re.compile(r'(<a\b[^>]*>\s*)?(<img\b[^>]*\bsrc="([^"]*_images/[^"]+)"[^>]*>)')


def link_images(app, pagename, templatename, context, doctree) -> None:
    """Wrap every figure image of a page (``_images/...``) that is not already a link in a link
    to the image itself, so that a figure shrunk to the column's width opens full-size on
    click."""
    body = context.get("body")
    if not body:
        return

    def wrap(m):
        if m.group(1):                      # already inside a link
            return m.group(0)
        return (f'<a class="reference internal image-reference" href="{m.group(3)}" '
                f'title="open full-size">{m.group(2)}</a>')
    context["body"] = _IMG.sub(wrap, body)


def no_numfig(app, config) -> None:
    """Keep Sphinx's figure numbering off: the captions carry the thesis's numbers (Fig 5.10),
    and sphinx-jupyterbook-latex turns ``numfig`` on for every builder, which put a second,
    book-wide number ("Fig. 9") before each of them."""
    config["numfig"] = False


def setup(app):
    app.connect("config-inited", no_numfig, priority=900)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.connect("html-page-context", default_mode, priority=900)
    app.connect("html-page-context", link_images, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
