"""Result tables kept as artifacts: a JSON file with a manifest (the config that produced it and
its hash, the command that rebuilds it, the git commit, the machine, the wall time), written
atomically, loaded only for the config whose hash it records. For experiments too long for a
notebook's budget but too small to be a trained model (sweeps over settings)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

from ..io import atomic_write_text
from ..registry import cache_root, committed_root

FILE = "table.json"


def config_key(config) -> str:
    """Hash of every config field that determines the numbers (not progress, device, size)."""
    d = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
         if f.name not in ("progress", "device", "size", "executor")}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def directory(name: str, config, default) -> Path:
    """``artifacts/<name>`` for the ``default`` config (committed), else the build cache."""
    key = config_key(config)
    if key == config_key(default):
        return committed_root() / name
    return cache_root() / f"{name}-{key}"


def load(name: str, config, default, file: str = FILE) -> dict | None:
    """The saved payload and manifest of this config (``{"manifest", ...}``), or None when the
    file is absent, unreadable or was made with another config."""
    p = directory(name, config, default) / file
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if d.get("manifest", {}).get("config_key") != config_key(config):
        return None
    return d


def save(name: str, config, default, payload: dict, wall_time_s: float,
         file: str = FILE) -> dict:
    """Write ``payload`` with its manifest; returns the manifest."""
    from ..store import git_commit, machine
    manifest = {"name": name, "config_key": config_key(config),
                "config": {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                           if f.name not in ("progress", "executor")},
                "command": f"ebmbook run {name} --size {config.size}",
                "git_commit": git_commit(Path(__file__).parent),
                "wall_time_s": round(wall_time_s, 1), "machine": machine(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    out = directory(name, config, default)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / file, json.dumps({"manifest": manifest, **payload}, default=str))
    return manifest
