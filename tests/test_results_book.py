"""Results contract, atomic writes and the book builder's failure reporting."""

import json
import os

import nbformat
import pytest

from ebmbook.book import BookBuildError, build, reproduction_table
from ebmbook.io import atomic_write
from ebmbook.results import Results


def test_results_json_follows_the_contract(tmp_path):
    r = Results("ch0_demo", "ci", 7)
    r.add("kl", 0.25, "a divergence")
    assert r.claim("|kl| is small", 0.25, "<=", 0.5) is True
    assert r.claim("kl is tiny", 0.25, "<", 0.1) is False
    assert r.claim("nan never passes", float("nan"), ">", 0.0) is False
    path = r.write(tmp_path)
    d = json.loads(path.read_text())
    assert path.name == "ch0_demo.json"
    assert set(d) == {"notebook", "size", "seed", "elapsed_s", "results", "claims"}
    assert d["results"] == {"kl": 0.25} and d["seed"] == 7
    assert [c["pass"] for c in d["claims"]] == [True, False, False]
    assert d["claims"][2]["value"] is None  # NaN is written as null (strict JSON)
    assert set(d["claims"][0]) == {"claim", "value", "op", "threshold", "pass"}
    with pytest.raises(ValueError, match="op must be"):
        r.claim("bad", 1, "==", 1)
    with pytest.raises(TypeError, match="number"):
        r.add("text", "0.3")
    table = reproduction_table(tmp_path)
    assert "| ch0_demo | kl is tiny | 0.25 | < 0.1 | **no** |" in table
    assert "1 / 3" in table
    assert "| ch0_demo | \\|kl\\| is small | 0.25 | <= 0.5 | yes |" in table
    assert "| nan never passes | n/a |" in table


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")

    def failing(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(target, failing)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def _notebook(path, source):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('size = "ci"\nseed = 0\ndevice = "cpu"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _project(tmp_path, source):
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "ebmbook").mkdir()
    (root / "book").mkdir()
    (root / "_config.yml").write_text("title: t\n")
    (root / "book" / "reproduction_report.md").write_text("# R\n<!-- REPRODUCTION-TABLE -->\n")
    _notebook(root / "notebooks" / "chx_demo.ipynb", source)
    return root


@pytest.mark.slow
def test_failing_notebook_stops_the_build_naming_notebook_and_cell(tmp_path, monkeypatch):
    monkeypatch.delenv("EBMBOOK_RESULTS_DIR", raising=False)
    root = _project(tmp_path, "raise ValueError('boom in the demo')")
    with pytest.raises(BookBuildError, match=r"chx_demo: cell \d+ .*ValueError: boom in the demo"):
        build(root=root, jobs=1, html=False)


@pytest.mark.slow
def test_notebook_that_writes_results_passes_and_fills_the_report(tmp_path, monkeypatch):
    monkeypatch.delenv("EBMBOOK_RESULTS_DIR", raising=False)
    src = ("from ebmbook.results import Results\n"
           "r = Results('chx_demo', size, seed)\nr.add('x', 1.5)\n"
           "r.claim('x is positive', 1.5, '>', 0)\nr.write()")
    root = _project(tmp_path, src)
    stage = build(root=root, jobs=1, html=False)
    d = json.loads((root / "_build" / "results" / "chx_demo.json").read_text())
    assert d["results"] == {"x": 1.5} and d["size"] == "ci"
    assert "x is positive" in (stage / "reproduction_report.md").read_text()
    assert "EBMBOOK_RESULTS_DIR" not in os.environ


@pytest.mark.slow
def test_notebook_without_results_fails_the_build(tmp_path, monkeypatch):
    monkeypatch.delenv("EBMBOOK_RESULTS_DIR", raising=False)
    root = _project(tmp_path, "x = 1")
    with pytest.raises(BookBuildError, match="did not write"):
        build(root=root, jobs=1, html=False)
    assert "EBMBOOK_RESULTS_DIR" not in os.environ
