"""Installable anywhere (issue 22, item 5): the wheel built from this checkout, installed into a
fresh virtual environment outside it, imports from another folder with no path into the
checkout, and holds every module and data file of the package.

The wheel is built offline (``pip wheel --no-deps --no-build-isolation --no-index``) from a copy
of the checkout, so the build leaves nothing in the working tree. The fresh environment gets
the package only from the wheel; its dependencies (torch, numpy, ...) come from this test's own
environment through a ``.pth`` file of plain folder paths. The ``.pth`` files inside those
folders are not run, so this checkout's editable install (a ``.pth`` import hook) cannot shadow
the wheel, and the test checks where ``ebmbook`` was imported from anyway.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import ebmbook

REPO = Path(__file__).resolve().parents[1]

#: public names that ``pip install .`` must provide, as ``module:attribute``
PUBLIC = [
    "ebmbook:__version__",
    "ebmbook.sampling.langevin:langevin",
    "ebmbook.sampling.langevin:LangevinParams",
    "ebmbook.sampling.model:EnergyModel",
    "ebmbook.sampling.rwm:step",
    "ebmbook.sampling.spins:sk_sweeps",
    "ebmbook.sampling.init:PersistentBank",
    "ebmbook.learning.trainer:train",
    "ebmbook.learning.trainer:TrainConfig",
    "ebmbook.learning.fit:fit",
    "ebmbook.learning.coop:train_coop",
    "ebmbook.learning.optim:OptimizerSchedule",
    "ebmbook.landscape:adelm",
    "ebmbook.landscape:attraction_diffusion",
    "ebmbook.landscape:disconnectivity_graph",
    "ebmbook.landscape:gwl_map",
    "ebmbook.diagnostics.stats:autocorrelation",
    "ebmbook.diagnostics.density:kl_divergence",
    "ebmbook.diagnostics.lyapunov:maximal_lyapunov",
    "ebmbook.diagnostics.clustering:partition_scores",
    "ebmbook.parallel:get_executor",
    "ebmbook.cli:main",
    "ebmbook:map_energy",
    "ebmbook:EnergyMap",
    "ebmbook.landscape.saddles:refine_path",
    "ebmbook.learning.stacked:train_stacked",
]

#: folders of the checkout that a build does not need (data, outputs, environments)
SKIP = {".git", ".venv", "_build", "artifacts", "build", "dist", "cache", ".pytest_cache",
        ".ipynb_checkpoints", "__pycache__"}

#: run inside the fresh environment: argv[1] the checkout, argv[2] that environment's
#: site-packages, argv[3] the PUBLIC names, argv[4] the dependency folders (which may lie in
#: the checkout, as .venv does), both as JSON; prints one JSON report
CHECK = r"""
import importlib, importlib.metadata, json, os, pkgutil, sys
from pathlib import Path

repo, site_dir = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
public, deps = json.loads(sys.argv[3]), [Path(d).resolve() for d in json.loads(sys.argv[4])]

def inside(path, root):
    try:
        Path(path).resolve().relative_to(root)
        return True
    except (ValueError, OSError):
        return False

def checkout(path):  # in the checkout, and not in one of the dependency folders
    return inside(path, repo) and not any(inside(path, d) for d in deps)

import ebmbook
failed = {}
modules = []
for m in pkgutil.walk_packages(ebmbook.__path__, "ebmbook.",
                               onerror=lambda name: failed.setdefault(name, "not walkable")):
    modules.append(m.name)
    try:
        importlib.import_module(m.name)
    except Exception as exc:
        failed[m.name] = f"{type(exc).__name__}: {exc}"
missing = []
for entry in public:
    mod, _, attr = entry.partition(":")
    try:
        if not hasattr(importlib.import_module(mod), attr):
            missing.append(entry)
    except Exception as exc:
        missing.append(f"{entry} ({type(exc).__name__}: {exc})")
print(json.dumps({
    "file": ebmbook.__file__,
    "in_site": inside(ebmbook.__file__, site_dir),
    "cwd": os.getcwd(),
    "version": ebmbook.__version__,
    "dist_version": importlib.metadata.version("ebmbook"),
    "repo_paths": [p for p in sys.path if p and checkout(p)],
    "repo_modules": sorted(name for name, m in list(sys.modules.items())
                           if checkout(getattr(m, "__file__", None) or "/nonexistent")),
    "modules": modules,
    "failed": failed,
    "missing": missing,
}))
"""


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, (f"`{' '.join(map(str, cmd))}` failed ({r.returncode}):\n"
                               f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def _package_files(root: Path) -> set[str]:
    """Every file of the package under ``root`` (``ebmbook/...``), caches left out."""
    return {p.relative_to(root).as_posix() for p in (root / "ebmbook").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")}


def _module_names(root: Path) -> list[str]:
    """The module names of every ``.py`` file of the package under ``root``."""
    out = []
    for f in _package_files(root):
        if f.endswith(".py"):
            parts = f[:-3].split("/")
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(out)


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV", "CONDA_PREFIX"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the wheel from a copy of the checkout, install it into a fresh venv; returns
    (wheel, venv python, venv site-packages, source copy, dependency folders)."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=lambda d, names: [
        n for n in names if n in SKIP or n.endswith((".egg-info", ".pyc"))])
    wheels = tmp / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", src, "--no-deps", "--no-build-isolation",
          "--no-index", "-q", "-w", wheels], env=_clean_env(), cwd=tmp)
    (wheel,) = wheels.glob("ebmbook-*.whl")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    py = venv / "bin" / "python"
    site_dir = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         env=_clean_env(), cwd=tmp).stdout.strip())
    # the dependencies: this environment's site folders, as plain paths (their .pth files,
    # the checkout's editable-install hook among them, are not run)
    user = [site.getusersitepackages()] if site.ENABLE_USER_SITE else []
    deps = [p for p in {*site.getsitepackages(), *user, sysconfig.get_paths()["purelib"],
                        sysconfig.get_paths()["platlib"]} if Path(p).is_dir()]
    (site_dir / "_ebmbook_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index",
          "-q", wheel], env=_clean_env(), cwd=tmp)
    return wheel, py, site_dir, src, deps


def test_wheel_holds_the_package_and_nothing_else(installed):
    """Every module and data file of ebmbook/ is in the wheel (a data file that pyproject.toml
    does not declare would be missing), with the ``ebmbook`` command, and nothing of the
    checkout outside the package (tests, notebooks, book) is."""
    wheel, _, _, src, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    top = {n.split("/", 1)[0] for n in names}
    assert top <= {"ebmbook", f"ebmbook-{ebmbook.__version__}.dist-info"}, top
    missing = sorted(_package_files(src) - names)
    assert not missing, (f"the wheel lacks {missing}: a data file read at run time needs "
                         "[tool.setuptools.package-data] in pyproject.toml")
    entry = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert entry and "ebmbook = ebmbook.cli:main" in zipfile.ZipFile(wheel).read(
        entry[0]).decode()


def test_import_from_another_folder_with_no_path_into_the_checkout(installed, tmp_path):
    _, py, site_dir, src, deps = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = _run([py, "-c", CHECK, REPO, site_dir, json.dumps(PUBLIC), json.dumps(deps)],
             cwd=elsewhere,
             env=_clean_env(OMP_NUM_THREADS="1", MPLBACKEND="Agg", TQDM_DISABLE="1"))
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["in_site"], f"ebmbook was imported from {rep['file']}, not from {site_dir}"
    assert Path(rep["cwd"]).resolve() == elsewhere.resolve()
    assert not rep["repo_paths"], f"sys.path reaches into the checkout: {rep['repo_paths']}"
    assert not rep["repo_modules"], f"modules loaded from the checkout: {rep['repo_modules']}"
    assert rep["version"] == rep["dist_version"] == ebmbook.__version__
    # every module of the checkout's package is found in the installed one (a folder without
    # an __init__.py would hide its modules) and imports
    found = sorted({"ebmbook", *rep["modules"]})
    assert found == _module_names(src), (
        f"modules of the checkout not found when installed: "
        f"{sorted(set(_module_names(src)) - set(found))}; found but not in the checkout: "
        f"{sorted(set(found) - set(_module_names(src)))}")
    assert not rep["failed"], f"modules that do not import when installed: {rep['failed']}"
    assert not rep["missing"], f"public names missing when installed: {rep['missing']}"


def test_console_script(installed, tmp_path):
    """The ``ebmbook`` command of the installed wheel runs outside the checkout."""
    py = installed[1]
    r = _run([py.parent / "ebmbook", "--help"], cwd=tmp_path,
             env=_clean_env(OMP_NUM_THREADS="1", MPLBACKEND="Agg"))
    assert "run" in r.stdout and "book" in r.stdout
