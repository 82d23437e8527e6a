"""Build the book: execute every chapter notebook with papermill, gather the results JSON into
the Reproduction report page, and render HTML with Jupyter Book 1.x (its own execution off).

Layout of ``_build/`` after ``ebmbook book``::

    _build/src/        staged book sources (pages, _toc.yml, _config.yml, executed notebooks)
    _build/results/    <notebook>.json results of this run (the results contract)
    _build/html/       the rendered book (open index.html)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ._timing import Stopwatch
from .io import atomic_write_text
from .results import RESULTS_ENV, STATIC_ENV, claim_test, claim_value, project_root

KERNEL_NAME = "ebmbook"
REPORT_MARKER = "<!-- REPRODUCTION-TABLE -->"


class BookBuildError(RuntimeError):
    """A notebook failed or did not write its results; the message names notebook and cell."""


@dataclass
class NotebookRun:
    name: str
    seconds: float
    error: str | None = None


def _kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager
    specs = KernelSpecManager().find_kernel_specs()
    if KERNEL_NAME in specs:
        return KERNEL_NAME
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name",
                    KERNEL_NAME, "--display-name", "Python (ebmbook)"], check=True,
                   capture_output=True)
    return KERNEL_NAME


def _jupyter_book() -> str:
    """The jupyter-book executable of this environment (or the first one on PATH)."""
    local = Path(sys.executable).parent / "jupyter-book"
    found = str(local) if local.exists() else shutil.which("jupyter-book")
    if not found:
        raise BookBuildError("jupyter-book is not installed: pip install 'jupyter-book>=1.0.4,<2'")
    return found


def _describe_failure(exc: Exception) -> str:
    from papermill.exceptions import PapermillExecutionError
    if isinstance(exc, PapermillExecutionError):
        return (f"cell {exc.cell_index} (execution count {exc.exec_count}) raised "
                f"{exc.ename}: {exc.evalue}")
    return f"{type(exc).__name__}: {exc}"


def execute_notebook(src: Path, dst: Path, parameters: dict, kernel: str,
                     results: Path) -> NotebookRun:
    """Execute one notebook with papermill into ``dst``; never raises, reports the failure."""
    import papermill as pm
    clock = Stopwatch()
    try:
        pm.execute_notebook(str(src), str(dst), parameters=parameters, kernel_name=kernel,
                            cwd=str(src.parent), progress_bar=False, log_output=False)
    except Exception as exc:  # noqa: BLE001 - reported with the notebook's name below
        return NotebookRun(src.stem, clock.seconds, _describe_failure(exc))
    secs = clock.seconds
    _hide_template_parameters(dst)
    if not (results / f"{src.stem}.json").exists():
        return NotebookRun(src.stem, secs, f"it did not write {results / (src.stem + '.json')}"
                           " (every notebook must end with Results.write())")
    return NotebookRun(src.stem, secs)


def _hide_template_parameters(path: Path) -> None:
    """Hide the notebook's own ``parameters`` cell in the book: papermill's injected cell right
    after it shows the values this run actually used."""
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    if not any("injected-parameters" in t for t in tags):
        return
    for cell, t in zip(nb.cells, tags):
        if "parameters" in t and "remove-cell" not in t:
            cell.metadata["tags"] = [*t, "remove-cell"]
    nbformat.write(nb, str(path))


def _mark(ok: bool) -> str:
    """Pass or fail in words and a symbol, never by colour alone."""
    return "✔ yes" if ok else "✘ **no**"


FIGURES_MARKER = "<!-- FIGURE-LIST -->"


def _short_name(caption: str, label: str) -> str:
    """How a link to a figure reads: the caption's first clause, up to its first full stop or
    colon (not a decimal point), shortened to about 50 characters: ``Fig 3.11 (right)``,
    ``Fig 3.8 investigated``, ``Table 5.3 (as a figure)``."""
    head = re.split(r"\.\s|:\s|\.$", caption.strip(), maxsplit=1)[0].strip()
    if len(head) > 50:
        head = head[:50].rsplit(" ", 1)[0] + "…"
    return head or label


def figure_index(notebooks: list[Path]) -> dict[str, list[tuple[str, str]]]:
    """Each notebook's captioned figures, in page order: stem -> [(label, link text)], from
    the myst-nb ``figure`` metadata of its cells."""
    out = {}
    for p in notebooks:
        try:
            cells = json.loads(p.read_text()).get("cells", [])
        except (ValueError, OSError):
            cells = []
        figs = []
        for c in cells:
            f = c.get("metadata", {}).get("mystnb", {}).get("figure") or {}
            if f.get("name"):
                figs.append((f["name"], _short_name(f.get("caption", ""), f["name"])))
        out[p.stem] = figs
    return out


def _figure_refs(figs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{{ref}}`{text} <{label}>`" for label, text in figs)


def chapter_sections(toc: Path) -> dict[str, list[str]]:
    """Chapter page -> the notebook stems of its sections, from ``_toc.yml``."""
    import yaml
    if not toc.exists():
        return {}
    data = yaml.safe_load(toc.read_text()) or {}
    out = {}

    def walk(entries):
        for e in entries or []:
            f = e.get("file")
            secs = [Path(s["file"]).stem for s in e.get("sections", []) if "file" in s
                    and s["file"].startswith("notebooks/")]
            if f and secs:
                out[f] = secs
            walk(e.get("sections"))
            walk(e.get("chapters"))
    for part in data.get("parts", []):
        walk(part.get("chapters"))
    walk(data.get("chapters"))
    return out


def fill_figure_lists(stage: Path, index: dict[str, list[tuple[str, str]]]) -> None:
    """Replace the figure-list marker of every staged chapter page by links to the figures of
    its notebooks (by label, so a renamed or removed figure breaks the build, not the link)."""
    for page, stems in chapter_sections(stage / "_toc.yml").items():
        md = stage / f"{page}.md"
        if not md.exists():
            continue
        text = md.read_text()
        if FIGURES_MARKER not in text:
            continue
        lines = [f"* {{doc}}`notebooks/{s}`: {_figure_refs(index.get(s, []))}"
                 for s in stems if index.get(s)]
        md.write_text(text.replace(FIGURES_MARKER, "\n".join(lines)))


def reproduction_table(results: Path, link_notebooks: bool = False,
                       figures: dict | None = None) -> str:
    """The Reproduction report: the computed headline (thesis statements, checks and
    extensions on their own lines), the thesis ledger (:mod:`ebmbook.ledger`: one row per figure
    and table), one row per notebook, and one row per claim with its kind, ref and source.

    ``link_notebooks``: link each notebook's name to its page (``notebooks/<name>.ipynb``, for
    the built book, where every notebook is a page). ``figures`` (:func:`figure_index`) adds a
    column of links to each notebook's figures."""
    from .ledger import headline, ledger_table
    files = sorted(results.glob("*.json"))
    runs = [json.loads(f.read_text()) for f in files]
    sizes = sorted({r["size"] for r in runs})
    total = (headline(runs) + f"\n\n({len(runs)} notebooks, build size "
             f"{', '.join(sizes) or 'n/a'}; each claim's source names the size that produced "
             f"its number.)")

    def name(r):
        return f"[{r['notebook']}](notebooks/{r['notebook']}.ipynb)" if link_notebooks \
            else r["notebook"]

    def held(r, kind):
        cs = [c for c in r["claims"] if c.get("kind", "check") == kind]
        return f"{sum(c['pass'] for c in cs)} / {len(cs)}"
    lines = ["| notebook | kind | ref | claim | value | test | thesis | source | holds |",
             "|---|---|---|---|---|---|---|---|---|"]
    summary = ["| notebook | size | seed | time (s) | thesis held | checks passed | extensions "
               "held |", "|---|---|---|---|---|---|---|"]
    if figures is not None:
        summary = [summary[0] + " figures |", summary[1] + "---|"]
    for r in runs:
        row = (f"| {name(r)} | {r['size']} | {r['seed']} | {r['elapsed_s']:.0f} "
               f"| {held(r, 'thesis')} | {held(r, 'check')} | {held(r, 'beyond')} |")
        if figures is not None:
            row += f" {_figure_refs(figures.get(r['notebook'], []))} |"
        summary.append(row)
        for c in r["claims"]:
            claim = c["claim"].replace("|", "\\|")  # a literal bar must not split the row
            tv = c.get("thesis_value")
            tv = "" if tv is None else (tv if isinstance(tv, str) else f"{tv:.4g}")
            lines.append(f"| {r['notebook']} | {c.get('kind', '?')} | {c.get('ref') or ''} "
                         f"| {claim} | {claim_value(c)} | {claim_test(c)} | {tv} "
                         f"| {c.get('source', '?')} | {_mark(c['pass'])} |")
    return (total + "\n\n## Thesis ledger\n\n" + ledger_table(runs, link_notebooks)
            + "\n\n## Notebooks\n\n" + "\n".join(summary)
            + "\n\n## Every claim\n\n" + "\n".join(lines) + "\n")


EXPECTED_S = "expected_s"


def execution_order(notebooks: list[Path]) -> list[Path]:
    """Longest first: by the run time a notebook's metadata expects (``metadata.ebmbook.
    expected_s``, seconds at ``ci`` size on a 2-core machine; 0 if absent), then by name. With
    two workers, the longest notebooks start at once and the short ones fill the gaps, so the
    book takes about as long as its longest notebook or half the total, whichever is more."""
    def expected(p: Path) -> float:
        try:
            meta = json.loads(p.read_text()).get("metadata", {})
            return float(meta.get("ebmbook", {}).get(EXPECTED_S, 0.0))
        except (ValueError, TypeError, OSError):
            return 0.0
    return sorted(notebooks, key=lambda p: (-expected(p), p.name))


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """Set environment variables for the block (inherited by kernels), then restore them."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def stage_sources(root: Path, stage: Path, keep_notebooks: bool) -> None:
    """Copy the book's pages and config into ``stage``; executed notebooks are kept only if
    ``keep_notebooks`` (a partial rebuild), so a full build never shows stale results."""
    if stage.exists() and not keep_notebooks:
        shutil.rmtree(stage)
    shutil.copytree(root / "book", stage, dirs_exist_ok=True)
    shutil.copy(root / "_config.yml", stage / "_config.yml")
    (stage / "notebooks").mkdir(exist_ok=True)


def build(size: str = "ci", jobs: int = 2, seed: int = 0, device: str = "cpu",
          only: list[str] | None = None, html: bool = True, execute: bool = True,
          browser: str = "auto",
          root: Path | None = None) -> Path:
    """Execute the notebooks and build the book; returns the HTML folder.

    ``only``: execute just these notebooks and keep the others' earlier outputs and results.
    ``execute=False``: rebuild the HTML from the notebooks and results of an earlier run.
    """
    root = Path(root or project_root()).resolve()
    out = root / "_build"
    stage, results = out / "src", out / "results"
    stage_sources(root, stage, keep_notebooks=bool(only) or not execute)
    if results.exists() and execute and not only:
        shutil.rmtree(results)
    results.mkdir(parents=True, exist_ok=True)

    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    if only:
        unknown = set(only) - {p.stem for p in notebooks}
        if unknown:
            raise BookBuildError(f"no notebook named {sorted(unknown)} in {root / 'notebooks'}")
        notebooks = [p for p in notebooks if p.stem in only]
    if not execute:
        missing = [p.stem for p in notebooks if not (stage / "notebooks" / p.name).exists()]
        if missing:
            raise BookBuildError(f"no executed copy of {missing} in {stage / 'notebooks'}: "
                                 "run `ebmbook book` (with execution) first")
        notebooks = []
    notebooks = execution_order(notebooks)
    kernel = _kernel_name() if notebooks else None
    params = {"size": size, "seed": seed, "device": device}

    if notebooks:
        print(f"executing {len(notebooks)} notebooks at size={size!r} with {jobs} job(s)", flush=True)

    def one(src: Path) -> NotebookRun:
        print(f"  [start] {src.stem}", flush=True)
        run = execute_notebook(src, stage / "notebooks" / src.name, params, kernel, results)
        status = "ok" if run.error is None else "FAILED"
        print(f"  [{status}] {src.stem}: {run.seconds:.1f} s", flush=True)
        return run

    # each kernel inherits this environment: the results folder and one math thread per notebook
    # (progress bars off: in a rendered page they are only noise). Figures go through the
    # kernel's inline backend whatever MPLBACKEND the caller set: with MPLBACKEND=Agg inherited
    # (as .ci/run sets for the tests) a kernel draws every figure and displays none. Explorers
    # draw their grid of frames instead of widgets (ebmbook.explore: a static page cannot run
    # them, and their embedded state would need CDN scripts).
    env = {RESULTS_ENV: str(results), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", "1"), "TQDM_DISABLE": "1",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline", STATIC_ENV: "1"}
    with _environment(env), ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        runs = list(pool.map(one, notebooks))
    failed = [r for r in runs if r.error]
    for r in runs:
        print(f"notebook time  {r.name:<32s} {r.seconds:8.1f} s", flush=True)
    if failed:
        raise BookBuildError("notebook(s) failed:\n" + "\n".join(
            f"  {r.name}: {r.error} (executed copy with the traceback: "
            f"{stage / 'notebooks' / (r.name + '.ipynb')})" for r in failed))

    index = figure_index(sorted((stage / "notebooks").glob("*.ipynb")))
    fill_figure_lists(stage, index)
    report = stage / "reproduction_report.md"
    text = report.read_text()
    report.write_text(text.replace(REPORT_MARKER, reproduction_table(
        results, link_notebooks=True, figures=index)))
    if not html:
        return stage
    clock = Stopwatch()
    jb_out = out / "jupyter-book"
    proc = subprocess.run([_jupyter_book(), "build", str(stage), "--path-output", str(jb_out),
                           "--warningiserror", "--keep-going"], capture_output=True, text=True)
    print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
    if proc.returncode != 0:
        raise BookBuildError(f"jupyter-book build failed (exit {proc.returncode}); see output above")
    html_dir = out / "html"
    if html_dir.exists():
        shutil.rmtree(html_dir)
    os.replace(jb_out / "_build" / "html", html_dir)
    print(f"book built in {clock.seconds:.1f} s: {html_dir / 'index.html'}")
    check_html(html_dir, browser)
    return html_dir


def check_html(html_dir: Path, mode: str = "auto") -> None:
    """Open every page in headless Chromium (:mod:`ebmbook.browser`) and raise a
    :class:`BookBuildError` on a request to another host, a console error or a broken image.
    ``mode``: ``"auto"`` (check when Chromium is installed), ``"require"`` or ``"off"``. The
    report is also written to ``_build/browser_check.txt``."""
    from . import browser as br
    if mode not in ("auto", "require", "off"):
        raise ValueError(f"browser = {mode!r} is invalid: it must be 'auto', 'require' or 'off'")
    if mode == "off" or (mode == "auto" and not br.available()):
        if mode == "auto":
            print("browser check skipped: Chromium is not installed (make env installs it)")
        return
    clock = Stopwatch()
    try:
        rep = br.check_site(html_dir)
    except br.BrowserUnavailable as exc:
        raise BookBuildError(str(exc)) from None
    text = rep.summary()
    print(text + f"\n(browser check took {clock.seconds:.1f} s)")
    atomic_write_text(Path(html_dir).parent / "browser_check.txt", text + "\n")
    if rep.failures:
        raise BookBuildError(f"the browser check found {len(rep.failures)} failures (listed "
                             "above)")
