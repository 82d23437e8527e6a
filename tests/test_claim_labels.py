"""Issue 20: every claim says its kind, ref and source; the report opens with the thesis ledger
and a headline computed per kind of claim."""

import ast
import json
from pathlib import Path

import pytest

from ebmbook.book import reproduction_table
from ebmbook.ledger import FIGURES, counts, headline, ledger_rows, ledger_table, status
from ebmbook.results import KINDS, Results, interior, validate_claim_labels

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _claim_calls(nb: Path):
    """Every ``<x>.claim(...)`` call in the notebook's code cells."""
    cells = json.loads(nb.read_text())["cells"]
    for i, c in enumerate(cells):
        if c["cell_type"] != "code":
            continue
        src = "".join(c["source"])
        tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "claim"):
                yield i, node


def _constants(node) -> set:
    """The values an expression can take when it is a constant or a conditional of constants
    (``"check" if x else "thesis"``); None when it is anything else."""
    if isinstance(node, ast.Constant):
        return {node.value}
    if isinstance(node, ast.IfExp):
        a, b = _constants(node.body), _constants(node.orelse)
        return None if a is None or b is None else a | b
    return None


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_claim_in_every_notebook_passes_kind_ref_and_source(nb):
    calls = list(_claim_calls(nb))
    assert calls, f"{nb.name} records no claim"
    for cell, call in calls:
        kw = {k.arg: k.value for k in call.keywords}
        where = f"{nb.name} cell {cell} line {call.lineno}"
        assert "kind" in kw and "source" in kw, f"{where}: a claim needs kind= and source="
        kinds = _constants(kw["kind"])
        assert kinds and kinds <= set(KINDS), f"{where}: kind must be one of {KINDS}"
        if "thesis" in kinds:
            refs = _constants(kw.get("ref", ast.Constant(None)))
            assert refs and all(isinstance(r, str) and r.split(" ")[0] in
                                ("Fig", "Table", "Sec") for r in refs), \
                f"{where}: a thesis claim needs ref='Fig x.y' / 'Table x.y' / 'Sec x.y'"
            for r in refs:
                assert r.startswith("Sec") or r in FIGURES, f"{where}: {r} is not in the ledger"
        src = kw["source"]
        if isinstance(src, ast.Constant):
            validate_claim_labels("check", None, src.value)
        else:   # an f-string whose first word is a size: {size} or {config.model_size}, or a literal
            assert isinstance(src, ast.JoinedStr), f"{where}: source must be a string"
            first = src.values[0]
            text = ast.unparse(first)
            assert (isinstance(first, ast.FormattedValue) and ("size" in text)) or \
                (isinstance(first, ast.Constant) and first.value.split(" ")[0] in
                 ("ci", "cpu", "paper")), f"{where}: source must start with the size"


def test_claim_refuses_missing_or_bad_labels_naming_the_fix():
    r = Results("ch0", "ci", 0)
    with pytest.raises(ValueError, match="kind="):
        r.claim("x", 1, ">", 0, source="ci run")
    with pytest.raises(ValueError, match="kind="):
        r.claim("x", 1, ">", 0, kind="reproduction", source="ci run")
    with pytest.raises(ValueError, match="ref="):
        r.claim("x", 1, ">", 0, kind="thesis", source="ci run")
    with pytest.raises(ValueError, match="ref="):
        r.claim("x", 1, ">", 0, kind="thesis", ref="Figure 3.8", source="ci run")
    with pytest.raises(ValueError, match="source="):
        r.claim("x", 1, ">", 0, kind="check")
    with pytest.raises(ValueError, match="source="):
        r.claim("x", 1, ">", 0, kind="check", source="gpu run")
    with pytest.raises(ValueError, match="source="):
        r.claim("x", 1, ">", 0, kind="check", source="ci")
    assert r.claims == []
    assert r.claim("x", 1, ">", 0, kind="beyond", source="paper table sk_sensitivity-paper")
    assert r.claim("x", 1, ">", 0, kind="thesis", ref="Sec 5.2.3.1",
                   source="cpu artifact fmnist_convergent (ci run)", thesis_value="44 of 58")
    assert r.claims[-1]["thesis_value"] == "44 of 58"


def test_interior_pick():
    assert interior(3.0, (1.0, 3.0, 10.0)) == 1
    assert interior(10.0, (1.0, 3.0, 10.0)) == 0     # top edge
    assert interior(1.0, [10.0, 3.0, 1.0]) == 0      # bottom edge, grid in any order
    assert interior(2.0, (1.0, 3.0)) == 0            # two values have no interior


def _run(name, claims):
    return {"notebook": name, "size": "ci", "seed": 0, "elapsed_s": 1.0, "results": {},
            "claims": [{"claim": f"c{i}", "value": v, "op": ">", "threshold": 0.0,
                        "pass": bool(v is not None and v > 0), "kind": k, "ref": ref,
                        "source": "ci run", "thesis_value": tv}
                       for i, (k, ref, v, tv) in enumerate(claims)]}


def test_ledger_status_headline_and_rows_from_synthetic_results(tmp_path):
    runs = [_run("ch3_a", [("thesis", "Fig 3.8", 0.5, "gamma close to 1"),
                           ("thesis", "Fig 3.8", -1.0, None),
                           ("thesis", "Fig 3.1", 2.0, 3.0),
                           ("check", None, 1.0, None), ("check", None, -1.0, None),
                           ("check", None, 2.0, None)]),
            _run("ch5_b", [("thesis", "Fig 5.8", -0.6, None), ("beyond", None, 1.0, None),
                           ("thesis", "Sec 5.2.3.1", -1.0, None)])]
    assert status([]) == "not attempted"
    assert counts(runs) == {"thesis": (2, 5), "check": (2, 3), "beyond": (1, 1)}
    h = headline(runs)
    assert h.startswith("**2 of 5 thesis statements reproduce**")
    assert "2 of 3 checks pass" in h and "1 of 1 extensions" in h
    rows = {r["ref"]: r for r in ledger_rows(runs)}
    # every figure and table of the thesis has a row, attempted or not, plus the section refs
    assert set(FIGURES) <= set(rows) and "Sec 5.2.3.1" in rows
    assert {"Fig 1.1", "Fig 5.13", "Table 3.1", "Table 5.1", "Table 5.2", "Table 5.3",
            "Fig 4.13", "Fig 3.11"} <= set(FIGURES)
    assert len([f for f in FIGURES if f.startswith("Fig")]) == 1 + 5 + 11 + 13 + 13
    assert rows["Fig 3.8"]["status"] == "partly" and rows["Fig 3.8"]["held"] == "1 / 2"
    assert rows["Fig 3.8"]["thesis"] == "gamma close to 1" and rows["Fig 3.8"]["value"] == "0.5"
    assert rows["Fig 3.1"]["status"] == "reproduced" and rows["Fig 3.1"]["thesis"] == "3"
    # the key number is the claim that states the thesis's own number, wherever it comes
    rows2 = {r["ref"]: r for r in ledger_rows([_run("x", [("thesis", "Fig 5.4", 0.3, None),
                                                          ("thesis", "Fig 5.4", 0.7, "44 of 58")])])}
    assert rows2["Fig 5.4"]["value"] == "0.7" and rows2["Fig 5.4"]["thesis"] == "44 of 58"
    assert rows["Fig 5.8"]["status"] == "not reproduced" and rows["Fig 5.8"]["page"] == "ch5_b"
    assert rows["Fig 5.13"]["status"] == "not attempted"
    assert "Oxford Flowers" in rows["Fig 5.13"]["reason"]
    assert rows["Fig 2.1"]["status"] == "not attempted" and rows["Fig 2.1"]["reason"]
    table = ledger_table(runs, link_notebooks=True)
    assert "| Fig 3.8 |" in table and "[ch5_b](notebooks/ch5_b.ipynb)" in table
    # the report opens with the headline, then the ledger
    for r in runs:
        (tmp_path / f"{r['notebook']}.json").write_text(json.dumps(r))
    report = reproduction_table(tmp_path)
    assert report.startswith("**2 of 5 thesis statements reproduce**")
    assert report.index("## Thesis ledger") < report.index("## Notebooks") < \
        report.index("## Every claim")
    assert "| ch3_a | ci | 0 | 1 | 2 / 3 | 2 / 3 | 0 / 0 |" in report


def test_an_unlabelled_claim_of_an_old_results_file_is_never_a_thesis_statement():
    old = {"notebook": "x", "size": "ci", "seed": 0, "elapsed_s": 1.0, "results": {},
           "claims": [{"claim": "c", "value": 1.0, "op": ">", "threshold": 0, "pass": True}]}
    assert counts([old]) == {"thesis": (0, 0), "check": (1, 1), "beyond": (0, 0)}
