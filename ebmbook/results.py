"""The results contract: every notebook reports the numbers its figures are about.

A notebook builds a :class:`Results`, adds named numbers and checked claims, displays the
table and writes ``_build/results/<notebook>.json``::

    {"notebook", "size", "seed", "elapsed_s", "results": {name: number},
     "claims": [{"claim", "value", "op", "threshold", "pass", "kind", "ref", "source",
                 "thesis_value"}]}

Every claim says what it is (``kind``):

* ``thesis``: a statement of the thesis; ``ref`` names where (``"Fig 3.8"``, ``"Table 3.1"``,
  ``"Sec 5.2.1"``) and ``thesis_value`` may give the thesis's own number (a number or a short
  text such as ``"44 of 58"``). One statement of the thesis is one claim; its variants are
  evidence shown beside it on the page.
* ``check``: a sanity or procedural check; shown on its page, never counted as a reproduction.
* ``beyond``: an extension of our own; counted apart.

and where its number comes from (``source``): the size that produced it and, for a committed
artifact or table, its name, e.g. ``"ci run"``, ``"cpu artifact fmnist_convergent"``,
``"paper table sk_sensitivity-paper"``.

A number that is undefined on a run (NaN or infinite) is written as ``null`` (strict JSON), and
a claim on it fails.

The book's "Reproduction report" page is assembled from these files.
"""

from __future__ import annotations

import json
import math
import operator
import os
from pathlib import Path
from typing import Any

from ._timing import Stopwatch
from .io import atomic_write_text

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

RESULTS_ENV = "EBMBOOK_RESULTS_DIR"
#: set to "1" by `ebmbook book` for its kernels: explorers draw their static grid of frames
STATIC_ENV = "EBMBOOK_STATIC"

KINDS = ("thesis", "check", "beyond")
SOURCE_SIZES = ("ci", "cpu", "paper")
REF_PREFIXES = ("Fig ", "Table ", "Sec ", "Alg ", "Eq ")


def validate_claim_labels(kind: Any, ref: Any, source: Any) -> None:
    """Raise ``ValueError`` naming the fix when a claim's ``kind`` / ``ref`` / ``source`` break
    the results contract."""
    if kind not in KINDS:
        raise ValueError(f"a claim needs kind= one of {KINDS} (thesis: a statement of the "
                         f"thesis; check: a sanity check; beyond: our extension), got {kind!r}")
    if kind == "thesis" and not (isinstance(ref, str) and ref.startswith(REF_PREFIXES)
                                 and ref.split(" ", 1)[1:] != [""]):
        raise ValueError(f"a thesis claim needs ref= where the thesis states it, starting "
                         f"with one of {REF_PREFIXES} (e.g. 'Fig 3.8'), got {ref!r}")
    if ref is not None and not isinstance(ref, str):
        raise ValueError(f"ref must be a string such as 'Fig 3.8', got {ref!r}")
    if not (isinstance(source, str) and source.split(" ", 1)[0] in SOURCE_SIZES
            and len(source.split()) >= 2):
        raise ValueError(f"a claim needs source= the size that produced its number and what "
                         f"(e.g. 'ci run', 'cpu artifact fmnist_convergent', 'paper table "
                         f"sk_sensitivity-paper'; the first word one of {SOURCE_SIZES}), "
                         f"got {source!r}")

# elapsed_s counts from the first import of this module, i.e. from the top of a notebook
_SINCE_IMPORT = Stopwatch()


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` that holds ``_config.yml`` and ``ebmbook/``."""
    here = Path(start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "_config.yml").exists() and (p / "ebmbook").is_dir():
            return p
    return here


def results_dir() -> Path:
    """Where results JSON files go: ``$EBMBOOK_RESULTS_DIR`` or ``<project>/_build/results``."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env) if env else project_root() / "_build" / "results"


def _number(value: Any) -> float | int:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"a result must be a number, got {type(value).__name__}")
    return value


def claim_value(claim: dict) -> str:
    """A claim's value for a reader: 4 significant digits, ``n/a`` when it is undefined
    (``None`` in a results file, NaN or infinite in memory)."""
    v = claim["value"]
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.4g}"


def claim_test(claim: dict) -> str:
    """A claim's test for a reader, e.g. ``>= 0.8``."""
    return f"{claim['op']} {claim['threshold']:.4g}"


class Metric(float):
    """A number that carries its own description: what an experiment's ``metrics()`` returns.

    It is a ``float`` (compare it, format it, write it to JSON as it is); ``description`` says
    what it measures, written once beside the code that computes it, so a notebook does not
    restate it (:meth:`Results.add_metrics`)."""

    description: str

    def __new__(cls, value: Any, description: str = "") -> "Metric":
        number = _number(value)
        obj = super().__new__(cls, number)
        obj.description = description
        obj.integer = isinstance(number, int)      # a count stays an int in the results JSON
        return obj

    def plain(self) -> float | int:
        """The number without its description (an int for a count)."""
        return int(self) if self.integer else float(self)

    def __reduce__(self):
        return (Metric, (self.plain(), self.description))


def metric(value: Any, description: str) -> Metric:
    """``Metric(value, description)``."""
    return Metric(value, description)


class Results:
    """Named numbers and pass/fail claims of one notebook run."""

    def __init__(self, notebook: str, size: str, seed: int):
        self.notebook = notebook
        self.size = size
        self.seed = int(seed)
        self.values: dict[str, float | int] = {}
        self.descriptions: dict[str, str] = {}
        self.claims: list[dict[str, Any]] = []
        self._clock = _SINCE_IMPORT

    def add(self, name: str, value: Any, description: str = "") -> float | int:
        """Record one number (a Python or numpy/torch scalar, or a :class:`Metric`, whose own
        description is used when none is given)."""
        self.values[name] = value.plain() if isinstance(value, Metric) else _number(value)
        self.descriptions[name] = description or getattr(value, "description", "")
        return self.values[name]

    def add_metrics(self, metrics: dict[str, Any]) -> dict[str, float | int]:
        """Record every metric of an experiment's ``metrics()`` with its own description;
        returns the plain numbers by name (for the claims)."""
        return {name: self.add(name, value) for name, value in metrics.items()}

    def claim(self, claim: str, value: Any, op: str, threshold: float, *, kind: str | None = None,
              source: str | None = None, ref: str | None = None,
              thesis_value: Any = None) -> bool:
        """Record a checked statement ``value <op> threshold``; returns whether it holds.

        ``kind`` (``thesis`` | ``check`` | ``beyond``) and ``source`` (e.g. ``f"{size} run"``,
        ``"cpu artifact fmnist_convergent"``) are required, and ``ref`` (``"Fig 3.8"``) for a
        thesis claim; ``thesis_value`` is the thesis's own number where it gives one."""
        if op not in OPS:
            raise ValueError(f"op must be one of {sorted(OPS)}, got {op!r}")
        validate_claim_labels(kind, ref, source)
        if thesis_value is not None and not isinstance(thesis_value, str):
            thesis_value = float(_number(thesis_value))
        v = float(_number(value))
        ok = bool(math.isfinite(v) and OPS[op](v, threshold))
        self.claims.append({"claim": claim, "value": v, "op": op,
                            "threshold": float(threshold), "pass": ok, "kind": kind,
                            "ref": ref, "source": source, "thesis_value": thesis_value})
        return ok

    def as_dict(self) -> dict[str, Any]:
        """The JSON payload; a non-finite number (e.g. an undefined ratio) becomes ``None``."""
        def finite(v):
            return v if (v is None or math.isfinite(v)) else None
        return {"notebook": self.notebook, "size": self.size, "seed": self.seed,
                "elapsed_s": round(self._clock.seconds, 2),
                "results": {k: finite(v) for k, v in self.values.items()},
                "claims": [{**c, "value": finite(c["value"])} for c in self.claims]}

    def table(self):
        """The results table as a pandas DataFrame (for display in the notebook)."""
        import pandas as pd
        rows = [{"name": k, "value": v, "meaning": self.descriptions.get(k, "")}
                for k, v in self.values.items()]
        return pd.DataFrame(rows).set_index("name")

    def claims_table(self):
        """The claims for display: each claim in full, its value, the test and whether it
        reproduces in words (a styled DataFrame; ``.data`` is the plain one)."""
        import pandas as pd
        n = len(self.claims)
        rows = [{"kind": c["kind"], "ref": c["ref"] or "", "claim": c["claim"],
                 "value": claim_value(c), "test": claim_test(c),
                 "thesis": "" if c.get("thesis_value") is None else (
                     c["thesis_value"] if isinstance(c["thesis_value"], str)
                     else f"{c['thesis_value']:.4g}"),
                 "source": c["source"],
                 "holds": "✔ yes" if c["pass"] else "✘ NO"} for c in self.claims]
        df = pd.DataFrame(rows, columns=["kind", "ref", "claim", "value", "test", "thesis",
                                         "source", "holds"])
        by = {k: [c["pass"] for c in self.claims if c["kind"] == k] for k in KINDS}
        caption = "; ".join(f"{sum(v)} of {len(v)} {k} claims hold" for k, v in by.items() if v)
        return (df.style.hide(axis="index")
                .set_caption(f"{caption or 'no claims'} on this run ({n} in all)")
                .set_properties(subset=["claim"], **{"text-align": "left",
                                                     "white-space": "normal"}))

    def write(self, directory: str | Path | None = None) -> Path:
        """Write ``<directory>/<notebook>.json`` atomically and return its path."""
        d = Path(directory) if directory is not None else results_dir()
        path = d / f"{self.notebook}.json"
        atomic_write_text(path, json.dumps(self.as_dict(), indent=2, allow_nan=False))
        return path


def interior(pick: float, grid) -> int:
    """1 when a tuning rule's ``pick`` lies strictly inside its ``grid`` (neither its lowest nor
    its highest value), else 0: a pick on an edge means the rule did not resolve on that grid."""
    values = sorted(float(g) for g in grid)
    return int(len(values) >= 3 and values[0] < float(pick) < values[-1])
