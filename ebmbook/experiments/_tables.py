"""Result tables kept as artifacts: a JSON file with a manifest (the config that produced it and
its hash, the command that rebuilds it, the git commit, the machine, the wall time), written
atomically, loaded only for the config whose hash it records. For experiments too long for a
notebook's budget but too small to be a trained model (sweeps over settings).

The table of a named size's default config (``Config.for_size(size)``) is committed:
``artifacts/<name>`` for ``ci``, ``artifacts/<name>-<size>`` for any other size. Every other
config's table goes to the build cache. A long table can be written row by row
(:func:`save_partial`), so that an interrupted run resumes from its last finished row."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

from .._config import is_runtime_field
from ..io import atomic_write_text
from ..registry import cache_root, committed_root

FILE = "table.json"


def config_key(config) -> str:
    """Hash of every config field that determines the numbers (not progress, device, size,
    executor, nor a :func:`~ebmbook._config.runtime_field` such as a checkpoint folder)."""
    d = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
         if f.name not in ("progress", "device", "size", "executor") and not is_runtime_field(f)}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def directory(name: str, config) -> Path:
    """``artifacts/<name>[-<size>]`` for a size's default config (committed), else the cache."""
    key = config_key(config)
    if key == config_key(type(config).for_size(config.size)):
        return committed_root() / (name if config.size == "ci" else f"{name}-{config.size}")
    return cache_root() / f"{name}-{key}"


def load(name: str, config, file: str = FILE) -> dict | None:
    """The saved payload and manifest of this config (``{"manifest", ...}``), or None when the
    file is absent, unreadable or was made with another config."""
    p = directory(name, config) / file
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if d.get("manifest", {}).get("config_key") != config_key(config):
        return None
    return d


def code_version() -> str:
    """The git commit of the package now (``+dirty`` with uncommitted changes): call it when a
    run starts and pass it to :func:`save`, so that the manifest names the code that ran, not
    whatever was checked out when a long run ended."""
    from ..store import git_commit
    return git_commit(Path(__file__).parent)


def save(name: str, config, payload: dict, wall_time_s: float, file: str = FILE,
         commit: str | None = None) -> dict:
    """Write ``payload`` with its manifest; returns the manifest."""
    from ..store import machine
    manifest = {"name": name, "config_key": config_key(config),
                "config": {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                           if f.name not in ("progress", "executor") and not is_runtime_field(f)},
                "command": f"ebmbook run {name} --size {config.size}",
                "git_commit": commit if commit is not None else code_version(),
                "wall_time_s": round(wall_time_s, 1), "machine": machine(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    out = _write(name, config, file, {"manifest": manifest, **payload})
    (out / _partial_name(file)).unlink(missing_ok=True)
    return manifest


def _write(name: str, config, file: str, obj: dict) -> Path:
    """Write ``obj`` as JSON to ``file`` in this config's folder, atomically; the folder."""
    out = directory(name, config)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / file, json.dumps(obj, default=str))
    return out


def _partial_name(file: str) -> str:
    return f"{Path(file).stem}.partial.json"


def load_partial(name: str, config, file: str = FILE) -> tuple[list, float]:
    """The rows an interrupted run of this config finished, and the seconds they took
    (``([], 0.0)`` when there are none, or they were made with another config)."""
    p = directory(name, config) / _partial_name(file)
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError):
        return [], 0.0
    if d.get("config_key") != config_key(config):
        return [], 0.0
    return list(d.get("rows", [])), float(d.get("seconds", 0.0))


def save_partial(name: str, config, rows: list, seconds: float, file: str = FILE) -> None:
    """Record the rows finished so far (atomically; :func:`save` removes the record)."""
    _write(name, config, _partial_name(file),
           {"config_key": config_key(config), "rows": rows, "seconds": seconds})
