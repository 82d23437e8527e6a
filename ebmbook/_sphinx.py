"""A small Sphinx extension for the book's HTML build (listed in ``_config.yml``).

sphinx-thebe registers its inline configuration script (``const THEBE_JS_URL = ...``) once per
reading pass, and a Jupyter Book 1.x build can register it twice, so every page declared the
same ``const`` twice and the browser logged "Identifier 'THEBE_JS_URL' has already been
declared". This extension drops exact duplicates from each page's script list (same file, same
attributes and inline body), keeping the first. It also gives the theme a default light/dark
mode, without which a reader's first page logs "Got invalid theme mode" to the console, and
keeps Sphinx's own figure numbers off (:func:`no_numfig`), and makes every figure a link to
its full-size image (:func:`link_images`).

It also adds the ``ebmbook-api`` directive of the API reference pages (``book/api/``): one
line per module, which renders the module's docstring, a summary table (autosummary) of its
public names and an autodoc entry for each (:class:`ApiModule`), and reads the package's
aligned ``name: text`` paragraphs in docstrings as lists (:func:`field_paragraphs`).
"""

from __future__ import annotations

import importlib
import inspect
import re

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective


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


#: a field line of the package's docstrings: ``name: text`` or ``a, b: text`` at the margin
_FIELD = re.compile(r"^(?P<names>[A-Za-z_]\w*(?:, [A-Za-z_]\w*)*):\s*(?P<text>\S.*)$")
#: a numpy-style section header's underline (napoleon reads the section that follows)
_UNDERLINE = re.compile(r"^-{3,}\s*$")


def _field_block(lines: list[str]) -> list[tuple[str, list[str]]] | None:
    """``lines`` as (names, [text, continuation...]) fields if every line is a field line or an
    indented continuation of one, and there are at least two fields; else None."""
    fields = []
    for line in lines:
        m = _FIELD.match(line)
        if m:
            fields.append((m["names"], [m["text"]]))
        elif fields and line[:1] == " " and line.strip():
            fields[-1][1].append(line.strip())
        else:
            return None
    return fields if len(fields) >= 2 else None


def field_paragraphs(app, what, name, obj, options, lines: list[str]) -> None:
    """Read the package's aligned field paragraphs, e.g. ::

        eps:   the step size epsilon > 0.
        noise: tau * gamma >= 0, a number or a ``(n,)`` tensor (one temperature
               factor per chain).

    as what they mean (reStructuredText would run them into one paragraph, and reports the
    hanging indentation as an error): a bulleted list of fields, or, right under a numpy-style
    section header (``Parameters`` / ``----------``), numpy-style fields for napoleon. A
    paragraph is read so only if every line of it is a ``name: text`` line (``a, b: text`` for
    several names) or an indented continuation, with at least two fields; any other paragraph
    is left as it is. Runs before napoleon (``autodoc-process-docstring``, priority 400)."""
    out, para = [], []

    def flush():
        header = para[:2] if len(para) > 2 and _UNDERLINE.match(para[1]) else []
        body = para[len(header):]
        fields = _field_block(body)
        if fields is None:
            out.extend(para)
        elif header:
            out.extend(header)
            for names, text in fields:
                out.append(names)
                out.extend("    " + t for t in text)
        else:
            for names, text in fields:
                shown = ", ".join(f"``{n}``" for n in names.split(", "))
                out.append(f"* {shown}: {text[0]}")
                out.extend("  " + t for t in text[1:])
        para.clear()

    for line in lines:
        if line.strip():
            para.append(line)
        else:
            flush()
            out.append(line)
    flush()
    lines[:] = out


def public_names(module) -> list[str]:
    """The public API of ``module``, in order: its ``__all__`` if it has one; otherwise every
    function and class without a leading underscore that the module defines (or, for a package,
    that one of its own submodules defines and it imports), in definition order."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    prefix = module.__name__ + "."
    out = []
    for name, obj in vars(module).items():
        if name.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        home = getattr(obj, "__module__", None) or ""
        if home == module.__name__ or (hasattr(module, "__path__") and home.startswith(prefix)):
            out.append(name)
    return out


def _entry(qualified: str, obj, no_index: bool = False) -> list[str]:
    flag = ["   :no-index:"] if no_index else []
    if inspect.isclass(obj):
        kind = "exception" if issubclass(obj, BaseException) else "class"
        return [f".. auto{kind}:: {qualified}", "   :members:", *flag, ""]
    if callable(obj):
        return [f".. autofunction:: {qualified}", *flag, ""]
    return [f".. autodata:: {qualified}", *flag, ""]


class ApiModule(SphinxDirective):
    """``.. ebmbook-api:: MODULE`` (reStructuredText; in a MyST page, inside ``{eval-rst}``):
    the module's docstring (``automodule``), a table of its public names with their first
    lines (``autosummary``) and an autodoc entry for each, linked from the table. The names
    are :func:`public_names`, so a function added to a module (or to a package's ``__all__``)
    appears without touching the page.

    ``:optional-names: A B``: names to add when the module has them and to leave out while it
    does not (a place kept for an API that is on its way). A listed name the module has is
    rendered once, whether or not it is also public.

    ``:no-index:``: the entries are not added to the index, for names documented (and indexed)
    on another page too, e.g. the top-level re-exports of ``ebmbook``."""

    required_arguments = 1
    has_content = False
    option_spec = {"optional-names": directives.unchanged, "no-index": directives.flag}

    def run(self) -> list[nodes.Node]:
        modname = self.arguments[0]
        try:
            module = importlib.import_module(modname)
        except Exception as exc:  # noqa: BLE001 - reported on the page's line, failing the build
            raise self.error(f"cannot import {modname}: {type(exc).__name__}: {exc}") from None
        names = public_names(module)
        for n in (self.options.get("optional-names") or "").split():
            if n not in names and hasattr(module, n):
                names.append(n)
        lines = [f".. automodule:: {modname}", ""]
        if names:
            lines += [".. autosummary::", "   :nosignatures:", ""]
            # relative names: automodule has made the module the current one
            lines += [f"   {n}" for n in names] + [""]
        missing = [n for n in names if not hasattr(module, n)]
        if missing:
            raise self.error(f"{modname} has no {', '.join(missing)} (listed in its __all__)")
        for n in names:
            lines += _entry(f"{modname}.{n}", getattr(module, n), "no-index" in self.options)
        container = nodes.container(classes=["ebmbook-api"])
        self.state.nested_parse(StringList(lines, source=f"<ebmbook-api {modname}>"),
                                self.content_offset, container)
        return container.children


#: abbreviations after which autosummary must not end a table's first sentence: the docstrings
#: cite the thesis's equations as "(eq. 4.6)", which would otherwise cut "... states (eq."
ABBREVIATIONS = ("(eq.", " eq.")


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.setup_extension("sphinx.ext.autosummary")
    from sphinx.ext import autosummary
    known = tuple(autosummary.WELL_KNOWN_ABBREVIATIONS)
    autosummary.WELL_KNOWN_ABBREVIATIONS = known + tuple(a for a in ABBREVIATIONS
                                                         if a not in known)
    app.add_directive("ebmbook-api", ApiModule)
    app.connect("autodoc-process-docstring", field_paragraphs, priority=400)
    app.connect("config-inited", no_numfig, priority=900)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.connect("html-page-context", default_mode, priority=900)
    app.connect("html-page-context", link_images, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
