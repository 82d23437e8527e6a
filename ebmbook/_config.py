"""The one way of declaring parameter constraints, and the hashing of configs.

Every config is a frozen dataclass that validates itself in ``__post_init__`` with the
``require_*`` helpers beside its fields, and raises a ``ValueError`` that names the offending
field and says what would be valid. A function's own arguments (a step count, a step size) are
checked with :func:`check_int` and :func:`check_positive`, which return the value as a Python
number and raise ``"<name> must be ..., got <value>"``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import os
from typing import Any, Iterable


def _fail(field: str, value: Any, must: str) -> None:
    raise ValueError(f"config field '{field}' = {value!r} is invalid: it must be {must}")


def _coerce(obj: Any, name: str, v: Any) -> Any:
    """A numpy scalar field becomes the Python number it holds (so configs built from numpy
    values validate, and hash like the same config built from Python numbers)."""
    if isinstance(v, bool) or isinstance(v, (int, float)):
        return v
    if isinstance(v, numbers.Integral):
        v = int(v)
    elif isinstance(v, numbers.Real):
        v = float(v)
    else:
        return v
    object.__setattr__(obj, name, v)
    return v


def require_positive(obj: Any, *fields: str, allow_zero: bool = False) -> None:
    """Each named field must be a finite number > 0 (or >= 0 with ``allow_zero``)."""
    for name in fields:
        v = _coerce(obj, name, getattr(obj, name))
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and (v >= 0 if allow_zero else v > 0)
        if not ok:
            _fail(name, v, "a finite number " + (">= 0" if allow_zero else "> 0"))


def require_int(obj: Any, *fields: str, minimum: int = 1) -> None:
    """Each named field must be an integer >= ``minimum``."""
    for name in fields:
        v = _coerce(obj, name, getattr(obj, name))
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= minimum):
            _fail(name, v, f"an integer >= {minimum}")


def require_choice(obj: Any, field: str, options: Iterable[str]) -> None:
    """The named field must be one of ``options``."""
    options = tuple(options)
    v = getattr(obj, field)
    if v not in options:
        _fail(field, v, "one of " + ", ".join(repr(o) for o in options))


def require_range(obj: Any, field: str, lo: float, hi: float) -> None:
    """The named field must lie in the closed interval [lo, hi]."""
    v = getattr(obj, field)
    if not (isinstance(v, (int, float)) and lo <= v <= hi):
        _fail(field, v, f"a number in [{lo}, {hi}]")


def require_folder(obj: Any, field: str) -> None:
    """The named field must be a path string ("" for none) that is not an existing file: a
    folder, made when first written to."""
    v = getattr(obj, field)
    if not isinstance(v, str):
        _fail(field, v, 'a folder path (a string; "" for none)')
    if v and os.path.exists(v) and not os.path.isdir(v):
        _fail(field, v, "a folder, not an existing file")


def check_int(name: str, value: Any, minimum: int = 0) -> int:
    """``value`` as a Python int (numpy integers are accepted, bools are not), or a ValueError
    naming the argument ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive(name: str, value: Any) -> float:
    """``value`` as a Python float if it is a finite number > 0, or a ValueError naming the
    argument ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def config_dict(cfg: Any) -> dict:
    """A JSON-ready dict of a (possibly nested) dataclass config."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def neutral_field(default: Any, **kwargs: Any) -> Any:
    """A config field that enters :func:`config_hash` only when it differs from ``default``.

    For settings added after artifacts were stored under a config's hash (e.g. the energy's
    ``precision``): at their default the hash is the one the artifact was stored under, so the
    new field orphans nothing; any other value is a different config with its own hash."""
    return dataclasses.field(default=default, metadata={"hash_neutral": True}, **kwargs)


def runtime_field(default: Any, **kwargs: Any) -> Any:
    """A config field that says how a run is carried out, never what it computes (e.g. the
    folder where long maps save checkpoints): it never enters :func:`config_hash`, whatever its
    value, so setting it orphans no stored result."""
    return dataclasses.field(default=default, metadata={"runtime": True}, **kwargs)


def is_runtime_field(f: dataclasses.Field) -> bool:
    """Whether ``f`` was declared with :func:`runtime_field`."""
    return bool(f.metadata.get("runtime"))


def _hashed(obj: Any) -> Any:
    """``dataclasses.asdict`` without the :func:`runtime_field` fields and the
    :func:`neutral_field` fields at their default."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _hashed(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not (is_runtime_field(f) or (f.metadata.get("hash_neutral")
                                                and getattr(obj, f.name) == f.default))}
    if isinstance(obj, (list, tuple)):
        return [_hashed(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _hashed(v) for k, v in obj.items()}
    return obj


def config_hash(cfg: Any, ignore: tuple[str, ...] = ()) -> str:
    """A short, stable hash of a config: equal configs give equal hashes across runs. Fields
    declared with :func:`neutral_field` count only when they differ from their default, those
    declared with :func:`runtime_field` and the top-level fields named in ``ignore`` never."""
    fields = json.loads(json.dumps(_hashed(cfg), default=str))
    for name in ignore:
        fields.pop(name, None)
    payload = json.dumps({"type": type(cfg).__name__, **fields}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
