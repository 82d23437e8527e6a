"""Helpers the experiments share (ebmbook.experiments._common) and the import arrows issue 22
removed: no experiment imports another, explorers take frames computed below them, the data
modules import no cycle."""

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ebmbook.experiments import _common

PKG = Path(_common.__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Every module a file imports (relative imports resolved inside ebmbook)."""
    mod = ".".join(path.relative_to(PKG.parent).with_suffix("").parts)
    package = mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            out.add(name)
            out |= {f"{name}.{a.name}" for a in node.names}
    return out


@pytest.mark.parametrize("name", ["sk_spin_glass", "sk_sensitivity", "order_to_chaos",
                                  "chaos_and_optimisers"])
def test_these_experiments_import_no_other_experiment_and_no_explorer(name):
    from ebmbook.experiments._base import EXPERIMENTS
    imports = _imports(PKG / "experiments" / f"{name}.py")
    others = {m for m in EXPERIMENTS.values() if not m.endswith(f".{name}")}
    assert not imports & others
    assert "ebmbook.explore" not in imports


def test_the_image_loaders_and_the_patch_cutter_import_no_cycle():
    images = _imports(PKG / "data" / "images.py")
    patches = _imports(PKG / "data" / "patches.py")
    textures = _imports(PKG / "data" / "textures.py")
    assert "ebmbook.data.patches" in images        # images -> patches, one way
    assert not any(m.startswith("ebmbook.data.images") for m in patches | textures)
    assert not any(m.startswith("ebmbook.data.patches") for m in textures)


def test_landscape_kernels_import_no_other_packages_private_helper():
    """``from ..sampling.spins import _x`` would reach into another package's internals."""
    for path in (PKG / "landscape" / "_kernels.py", PKG / "landscape" / "gwl.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level != 1:
                assert not [a.name for a in node.names if a.name.startswith("_")], path


def test_find_rows_finds_identical_rows_and_minus_one_otherwise():
    B = np.array([[1, -1, 1], [-1, -1, 1], [1, 1, 1]], dtype=np.int8)
    A = np.array([[-1, -1, 1], [1, 1, -1], [1, 1, 1], [1, -1, 1]])
    np.testing.assert_array_equal(_common.find_rows(A, B), [1, -1, 2, 0])
    np.testing.assert_array_equal(_common.find_rows(-B, B), [-1, -1, -1])
    assert _common.find_rows(np.zeros((0, 3)), B).shape == (0,)


def test_sk_sensitivity_reads_the_sk_page_config_at_its_size():
    from ebmbook.experiments import sk_sensitivity, sk_spin_glass
    for size in ("ci", "paper"):
        shared = sk_sensitivity.Config.for_size(size).sk()
        page = sk_spin_glass.Config.for_size(size, progress=False)
        assert isinstance(page, _common.SKMapConfig)
        assert dataclasses.asdict(shared) == dataclasses.asdict(page)
    with pytest.raises(ValueError, match="n_spins"):
        sk_spin_glass.Config(n_spins=200)


MAP_EXPERIMENTS = ("sk_spin_glass", "digit_maps", "texture_maps", "face_map")


@pytest.mark.parametrize("name", MAP_EXPERIMENTS)
def test_a_map_checkpoint_folder_changes_no_hash_and_names_one_file_per_map(name, tmp_path):
    """``map_checkpoint`` says where maps are saved, not what they are: the config's hash and
    its result-table key ignore it. Each map of a run gets its own file, named after the
    experiment, the settings that shape the numbers (not progress or executor) and the map."""
    from ebmbook._config import config_hash
    from ebmbook.experiments import _tables, get_experiment
    Config = get_experiment(name).Config
    plain, saved = Config.for_size("ci"), Config.for_size("ci", map_checkpoint=str(tmp_path))
    assert config_hash(saved) == config_hash(plain)
    assert _tables.config_key(saved) == _tables.config_key(plain)
    assert _common.map_checkpoint(plain, "a") is None
    a = _common.map_checkpoint(saved, "a")
    assert a.parent == tmp_path and a.name.startswith(f"{name}-") and a.name.endswith("-a.pt")
    assert _common.map_checkpoint(saved, "b") != a
    quiet = dataclasses.replace(saved, progress=False)
    assert _common.map_checkpoint(quiet, "a") == a
    others = (dataclasses.replace(saved, seed=1),
              Config.for_size("paper", map_checkpoint=str(tmp_path)))
    assert all(_common.map_checkpoint(other, "a") != a for other in others)
    with pytest.raises(ValueError, match="file-name-safe"):
        _common.map_checkpoint(saved, "digits 0-3")
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="'map_checkpoint'.*a folder, not an existing file"):
        Config.for_size("ci", map_checkpoint=str(tmp_path / "f"))


def test_the_texton_maps_count_as_finished_only_with_every_iteration_saved(tmp_path):
    """texture_maps.texton_maps_finished reads the iterations saved in both texton maps' ADELM
    checkpoints: false without a map folder, with a file missing, or with either map short of
    its ``adelm_iter``; true when both hold that many."""
    import torch
    from ebmbook.experiments import texture_maps as tm
    assert not tm.texton_maps_finished(tm.Config.for_size("ci"))
    config = tm.Config.for_size("ci", map_checkpoint=str(tmp_path))
    n = config.texton.adelm_iter
    assert not tm.texton_maps_finished(config)
    weak, strong = (_common.map_checkpoint(config, k) for k in ("textons", "textons_strong"))
    torch.save({"done": n}, weak)
    assert not tm.texton_maps_finished(config)            # the strong map's file is missing
    torch.save({"done": n - 1}, strong)
    assert not tm.texton_maps_finished(config)            # one iteration short
    torch.save({"done": n}, strong)
    assert tm.texton_maps_finished(config)
