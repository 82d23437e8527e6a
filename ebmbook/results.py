"""The results contract: every notebook reports the numbers its figures are about.

A notebook builds a :class:`Results`, adds named numbers and checked claims, displays the
table and writes ``_build/results/<notebook>.json``::

    {"notebook", "size", "seed", "elapsed_s", "results": {name: number},
     "claims": [{"claim", "value", "op", "threshold", "pass"}]}

A number that is undefined on a run (NaN or infinite) is written as ``null`` (strict JSON), and
a claim on it fails.

The book's "Reproduction report" page is assembled from these files.
"""

from __future__ import annotations

import json
import math
import operator
import os
import time
from pathlib import Path
from typing import Any

from .io import atomic_write_text

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

RESULTS_ENV = "EBMBOOK_RESULTS_DIR"

# elapsed_s counts from the first import of this module, i.e. from the top of a notebook
_IMPORTED_AT = time.perf_counter()


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
        self._t0 = _IMPORTED_AT

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

    def claim(self, claim: str, value: Any, op: str, threshold: float) -> bool:
        """Record a checked statement ``value <op> threshold``; returns whether it holds."""
        if op not in OPS:
            raise ValueError(f"op must be one of {sorted(OPS)}, got {op!r}")
        v = float(_number(value))
        ok = bool(math.isfinite(v) and OPS[op](v, threshold))
        self.claims.append({"claim": claim, "value": v, "op": op,
                            "threshold": float(threshold), "pass": ok})
        return ok

    def as_dict(self) -> dict[str, Any]:
        """The JSON payload; a non-finite number (e.g. an undefined ratio) becomes ``None``."""
        def finite(v):
            return v if (v is None or math.isfinite(v)) else None
        return {"notebook": self.notebook, "size": self.size, "seed": self.seed,
                "elapsed_s": round(time.perf_counter() - self._t0, 2),
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
        rows = [{"claim": c["claim"], "value": claim_value(c), "test": claim_test(c),
                 "reproduces": "✔ yes" if c["pass"] else "✘ NO"} for c in self.claims]
        df = pd.DataFrame(rows, columns=["claim", "value", "test", "reproduces"])
        passed = sum(c["pass"] for c in self.claims)
        return (df.style.hide(axis="index")
                .set_caption(f"{passed} of {n} claims reproduce on this run")
                .set_properties(subset=["claim"], **{"text-align": "left",
                                                     "white-space": "normal"}))

    def write(self, directory: str | Path | None = None) -> Path:
        """Write ``<directory>/<notebook>.json`` atomically and return its path."""
        d = Path(directory) if directory is not None else results_dir()
        path = d / f"{self.notebook}.json"
        atomic_write_text(path, json.dumps(self.as_dict(), indent=2, allow_nan=False))
        return path
