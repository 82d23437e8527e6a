"""Data: the IDX reader on the real FashionMNIST files, clear failures, verified downloads, loaders."""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from ebmbook.data import fetch
from ebmbook.data.fetch import (
    FASHION_MNIST_FILES,
    ChecksumError,
    DataFileError,
    DataNotFoundError,
    download,
    ensure_fashion_mnist,
    find_fashion_mnist,
)
from ebmbook.data.idx import encode_idx, read_idx, write_idx
from ebmbook.data.images import (
    ImageOptions,
    load_digits,
    load_fashion_mnist,
    load_lfw_subset,
    load_mnist_5k,
    load_texture,
    split_indices,
)


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def fashion_dir() -> Path:
    try:
        return find_fashion_mnist()
    except DataNotFoundError as err:
        pytest.skip(f"FashionMNIST files absent (CI installs them via make): {err}")


def test_real_fashion_mnist_counts_and_mean(fashion_dir: Path) -> None:
    def read(name: str) -> np.ndarray:
        return read_idx(fetch.locate_file(fashion_dir, name), sha256=FASHION_MNIST_FILES[name][0])

    train_x, train_y = read("train-images-idx3-ubyte"), read("train-labels-idx1-ubyte")
    test_x, test_y = read("t10k-images-idx3-ubyte"), read("t10k-labels-idx1-ubyte")
    assert train_x.shape == (60_000, 28, 28) and train_x.dtype == np.uint8
    assert test_x.shape == (10_000, 28, 28)
    assert train_y.shape == (60_000,) and test_y.shape == (10_000,)
    assert np.bincount(train_y).tolist() == [6_000] * 10
    assert np.bincount(test_y).tolist() == [1_000] * 10
    assert abs(train_x.mean(dtype=np.float64) - 72.94) < 0.01


def test_real_fashion_mnist_loader(fashion_dir: Path) -> None:
    data = load_fashion_mnist(path=str(fashion_dir), classes=(0, 9), split="test", size=16)
    assert data.images.shape == (2_000, 1, 16, 16) and data.images.dtype == torch.float32
    assert torch.bincount(data.labels).tolist()[0] == 1_000 and set(data.labels.tolist()) == {0, 9}
    assert data.images.min() >= -1.0 and data.images.max() <= 1.0
    full = load_fashion_mnist(path=str(fashion_dir), scale="byte", n_per_class=100)
    assert full.images.shape == (1_000, 1, 28, 28)
    assert torch.bincount(full.labels).tolist() == [100] * 10


def test_ensure_finds_verified_debian_files(fashion_dir: Path) -> None:
    assert ensure_fashion_mnist(install=False) == fashion_dir


# ----------------------------------------------------------------------------- IDX errors


@pytest.fixture
def small() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(7, 5, 4), dtype=np.uint8)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_roundtrip(tmp_path: Path, small: np.ndarray, suffix: str) -> None:
    path = write_idx(tmp_path / f"x-idx3-ubyte{suffix}", small)
    np.testing.assert_array_equal(read_idx(path), small)
    ints = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "i.idx", ints)), ints)


def test_bad_magic_raises_naming_file(tmp_path: Path, small: np.ndarray) -> None:
    path = tmp_path / "bad-magic-idx3-ubyte"
    path.write_bytes(b"\x12\x34" + encode_idx(small)[2:])
    with pytest.raises(DataFileError, match="bad magic number") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "python -m ebmbook.data.fetch" in str(info.value)


def test_unknown_type_code_raises(tmp_path: Path, small: np.ndarray) -> None:
    data = bytearray(encode_idx(small))
    data[2] = 0x42
    path = tmp_path / "code-idx3-ubyte"
    path.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match="type code 0x42"):
        read_idx(path)


@pytest.mark.parametrize("cut", [3, 9, 40])
def test_truncated_raises(tmp_path: Path, small: np.ndarray, cut: int) -> None:
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(encode_idx(small)[:-cut] if cut != 3 else encode_idx(small)[:cut])
    with pytest.raises(DataFileError, match="truncated|magic") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_trailing_bytes_raise(tmp_path: Path, small: np.ndarray) -> None:
    path = tmp_path / "long-idx3-ubyte"
    path.write_bytes(encode_idx(small) + b"\0\0")
    with pytest.raises(DataFileError, match="2 trailing bytes"):
        read_idx(path)


def test_truncated_gzip_raises(tmp_path: Path, small: np.ndarray) -> None:
    path = tmp_path / "short-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(encode_idx(small))[:-10])
    with pytest.raises(DataFileError, match="truncated or corrupt gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_checksum_mismatch_raises(tmp_path: Path, small: np.ndarray) -> None:
    path = write_idx(tmp_path / "x-idx3-ubyte.gz", small)
    assert read_idx(path, sha256=_sha(encode_idx(small))).shape == small.shape  # content digest
    with pytest.raises(ChecksumError, match="SHA-256") as info:
        read_idx(path, sha256="0" * 64)
    assert str(path) in str(info.value)
    assert isinstance(info.value, DataFileError)


def test_missing_file_raises_with_instructions(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        read_idx(tmp_path / "nothing-idx1-ubyte")
    message = str(info.value)
    assert "nothing-idx1-ubyte" in message and "apt-get install dataset-fashion-mnist" in message
    assert isinstance(info.value, FileNotFoundError)


# ----------------------------------------------------------------------------- search order


def _fake_set(folder: Path, fill: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in FASHION_MNIST_FILES:
        write_idx(folder / f"{name}.gz", np.full((2, 2), fill, dtype=np.uint8))
    return folder


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No EBMBOOK_DATA, an empty cache and an empty 'Debian' folder, all under tmp_path."""
    monkeypatch.delenv("EBMBOOK_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(fetch, "DEBIAN_DIR", tmp_path / "debian" / "fashion-mnist")
    return tmp_path


def test_search_order(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    debian = _fake_set(isolated / "debian" / "fashion-mnist", 1)
    assert find_fashion_mnist() == debian
    cache = _fake_set(isolated / "cache" / "ebmbook" / "fashion-mnist", 2)
    assert find_fashion_mnist() == cache
    env = _fake_set(isolated / "env" / "fashion-mnist", 3)
    monkeypatch.setenv("EBMBOOK_DATA", str(isolated / "env"))
    assert find_fashion_mnist() == env
    explicit = _fake_set(isolated / "explicit", 4)
    assert find_fashion_mnist(explicit) == explicit
    with pytest.raises(DataNotFoundError, match="empty"):  # an explicit path is strict
        find_fashion_mnist(isolated / "empty")


def test_incomplete_folder_is_skipped_and_error_lists_places(isolated: Path) -> None:
    folder = isolated / "cache" / "ebmbook" / "fashion-mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "train-images-idx3-ubyte", np.zeros((1, 1), np.uint8))
    with pytest.raises(DataNotFoundError) as info:
        ensure_fashion_mnist(install=False)
    message = str(info.value)
    assert str(folder) in message and "EBMBOOK_DATA" in message and "python -m ebmbook.data.fetch" in message


def test_fake_files_fail_verification(isolated: Path) -> None:
    _fake_set(isolated / "debian" / "fashion-mnist", 1)
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte"):
        ensure_fashion_mnist(install=False)
    assert ensure_fashion_mnist(install=False, verify=False) == fetch.DEBIAN_DIR


def test_unpack_without_root_moves_complete_folder(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The non-root path (apt-get download + dpkg-deb -x) with the two commands faked."""
    calls: list[list[str]] = []

    def fake_run(cmd, cwd=None):
        calls.append(list(cmd))
        if cmd[:2] == ["apt-get", "download"]:
            (Path(cwd) / "dataset-fashion-mnist_1_all.deb").write_bytes(b"deb")
        elif cmd[0] == "dpkg-deb":
            _fake_set(Path(cmd[3]) / "usr/share/datasets/fashion-mnist", 5)

    monkeypatch.setattr(fetch, "_run", fake_run)
    monkeypatch.setattr(fetch.os, "geteuid", lambda: 1000)
    folder = ensure_fashion_mnist(verify=False)
    assert folder == isolated / "cache" / "ebmbook" / "fashion-mnist"
    assert [c[:2] for c in calls] == [["apt-get", "download"], ["dpkg-deb", "-x"]]
    assert sorted(p.name for p in folder.parent.iterdir()) == ["fashion-mnist"]  # temp dir gone
    assert read_idx(folder / "t10k-labels-idx1-ubyte.gz")[0, 0] == 5


def test_root_runs_apt_get_update_then_install(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(cmd, cwd=None):
        calls.append(list(cmd))
        if "install" in cmd:
            _fake_set(fetch.DEBIAN_DIR, 6)

    monkeypatch.setattr(fetch, "_run", fake_run)
    monkeypatch.setattr(fetch.os, "geteuid", lambda: 0)
    assert ensure_fashion_mnist(verify=False) == fetch.DEBIAN_DIR
    assert calls[0] == ["apt-get", "update"] and calls[1][:3] == ["apt-get", "install", "-y"]
    assert calls[1][-1] == "dataset-fashion-mnist"


def test_main_reports_missing_data(isolated: Path, capsys: pytest.CaptureFixture) -> None:
    assert fetch.main(["--no-install"]) == 1
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err
    _fake_set(fetch.DEBIAN_DIR, 1)
    assert fetch.main(["--no-install", "--no-verify"]) == 0
    assert capsys.readouterr().out.strip() == str(fetch.DEBIAN_DIR)


# ----------------------------------------------------------------------------- loopback download


@pytest.fixture
def server(tmp_path: Path):
    """An HTTP server on 127.0.0.1 (port 0) serving tmp_path/'served', in a thread."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


def test_loopback_download_verified_and_atomic(tmp_path: Path, server) -> None:
    root, url = server
    payload = os.urandom(100_000)
    (root / "blob.bin").write_bytes(payload)
    cache = tmp_path / "cache"
    target = download(f"{url}/blob.bin", cache / "blob.bin", _sha(payload))
    assert target.read_bytes() == payload
    assert sorted(p.name for p in cache.iterdir()) == ["blob.bin"]

    with pytest.raises(ChecksumError, match="blob2.bin"):
        download(f"{url}/blob.bin", cache / "blob2.bin", "f" * 64)
    assert sorted(p.name for p in cache.iterdir()) == ["blob.bin"]  # neither target nor temp file

    with pytest.raises(ChecksumError):  # a bad download never clobbers a good file
        download(f"{url}/blob.bin", cache / "blob.bin", "f" * 64)
    assert (cache / "blob.bin").read_bytes() == payload

    with pytest.raises(DataNotFoundError, match="missing.bin"):
        download(f"{url}/missing.bin", cache / "missing.bin", "0" * 64)
    assert sorted(p.name for p in cache.iterdir()) == ["blob.bin"]


def test_loopback_fashion_mnist_download_uses_content_digest(
    tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, url = server
    arrays = {name: np.full((3, 2), i, dtype=np.uint8) for i, name in enumerate(FASHION_MNIST_FILES)}
    table = {name: (_sha(encode_idx(a)), 0) for name, a in arrays.items()}
    for name, a in arrays.items():  # gzip'd at another level than the digest's source: still valid
        (root / f"{name}.gz").write_bytes(gzip.compress(encode_idx(a), compresslevel=1))
    monkeypatch.setattr(fetch, "FASHION_MNIST_FILES", table)
    folder = fetch.download_fashion_mnist(tmp_path / "dl", base_url=url + "/")
    assert fetch.verify_fashion_mnist(folder) == folder
    np.testing.assert_array_equal(read_idx(folder / "t10k-labels-idx1-ubyte.gz"), arrays["t10k-labels-idx1-ubyte"])


# ----------------------------------------------------------------------------- other loaders


def test_mnist_5k_has_500_per_class() -> None:
    data = load_mnist_5k(split="all")
    assert data.images.shape == (5_000, 1, 28, 28) and data.images.dtype == torch.float32
    assert torch.bincount(data.labels).tolist() == [500] * 10
    assert data.images.min() == -1.0 and data.images.max() == 1.0
    train = load_mnist_5k(test_fraction=0.2, seed=3)
    assert torch.bincount(train.labels).tolist() == [400] * 10


@pytest.mark.parametrize("size", [8, 16, 28, 32])
def test_digits_resize_and_scale(size: int) -> None:
    data = load_digits(size=size, split="all")
    assert data.images.shape == (1_797, 1, size, size)
    assert data.images.min() == -1.0 and data.images.max() == 1.0
    unit = load_digits(size=size, split="all", scale="unit")
    torch.testing.assert_close(data.images, unit.images * 2 - 1)
    assert unit.images.min() == 0.0 and unit.images.max() == 1.0


def test_scaling_is_x_over_255_times_2_minus_1() -> None:
    byte = load_mnist_5k(split="all", scale="byte", classes=(1,))
    sym = load_mnist_5k(split="all", classes=(1,))
    torch.testing.assert_close(sym.images, byte.images / 255 * 2 - 1)
    assert torch.equal(byte.images, byte.images.round())


def test_resize_preserves_mean_roughly() -> None:
    native = load_digits(split="all", scale="unit")
    big = load_digits(split="all", scale="unit", size=32)
    assert abs(native.images.mean() - big.images.mean()) < 0.01


def test_class_subsets_keep_labels_and_counts() -> None:
    full = load_digits(split="all")
    sub = load_digits(split="all", classes=[5, 3])
    counts = torch.bincount(full.labels)
    assert set(sub.labels.tolist()) == {3, 5}
    assert len(sub.labels) == counts[3] + counts[5]
    torch.testing.assert_close(sub.images, full.images[(full.labels == 3) | (full.labels == 5)])
    with pytest.raises(ValueError, match=r"classes \[11\]"):
        load_digits(classes=(3, 11))


def test_split_disjoint_seeded_and_stratified() -> None:
    labels = np.repeat(np.arange(4), [50, 60, 70, 80])
    train, test = split_indices(labels, 0.2, seed=7)
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(labels)))
    assert np.bincount(labels[test]).tolist() == [10, 12, 14, 16]
    again = split_indices(labels, 0.2, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip((train, test), again))
    assert not np.array_equal(test, split_indices(labels, 0.2, seed=8)[1])


def test_loader_split_disjoint_and_independent_of_class_subset() -> None:
    train = load_digits(split="train", seed=1, scale="byte")
    test = load_digits(split="test", seed=1, scale="byte")
    assert len(train.labels) + len(test.labels) == 1_797
    test3 = load_digits(split="test", seed=1, scale="byte", classes=(3,))
    torch.testing.assert_close(test3.images, test.images[test.labels == 3])


def test_n_per_class_is_seeded() -> None:
    a = load_mnist_5k(split="all", n_per_class=20, seed=0)
    b = load_mnist_5k(split="all", n_per_class=20, seed=0)
    c = load_mnist_5k(split="all", n_per_class=20, seed=1)
    assert torch.bincount(a.labels).tolist() == [20] * 10
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)


def test_faces_and_textures() -> None:
    faces = load_lfw_subset(split="all", classes=(1,), size=16)
    assert faces.images.shape == (100, 1, 16, 16)
    for name in ("grass", "gravel", "brick", "chelsea"):
        tex = load_texture(name, size=32)
        assert tex.images.shape == (1, 1, 32, 32)
        assert -1.0 <= tex.images.min() < tex.images.max() <= 1.0
    with pytest.raises(ValueError, match="unknown texture"):
        load_texture("marble")


@pytest.mark.parametrize(
    "kwargs, field",
    [({"size": 0}, "size"), ({"scale": "zscore"}, "scale"), ({"split": "val"}, "split"),
     ({"classes": ()}, "classes"), ({"n_per_class": -1}, "n_per_class"), ({"test_fraction": 1.0}, "test_fraction")],
)
def test_options_validate(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"'{field}'"):
        ImageOptions(**kwargs)
