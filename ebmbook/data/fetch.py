"""Locate, obtain and verify the FashionMNIST IDX files.

Search order (the first folder that holds all four files wins):

1. an explicit ``path`` given by the caller (strict: if it lacks the files, that is an error);
2. ``$EBMBOOK_DATA`` (the folder itself or its ``fashion-mnist/`` subfolder);
3. the user cache, ``$XDG_CACHE_HOME/ebmbook/fashion-mnist`` or ``~/.cache/ebmbook/fashion-mnist``;
4. the Debian package's folder ``/usr/share/datasets/fashion-mnist``.

:func:`ensure_fashion_mnist` obtains the files without internet from the Debian archive: as root
it runs ``apt-get update`` and ``apt-get install -y dataset-fashion-mnist``; otherwise it runs
``apt-get download dataset-fashion-mnist`` and ``dpkg-deb -x`` into a temporary folder inside the
cache and moves the IDX folder into place with one ``os.replace``. :func:`download_fashion_mnist`
fetches the files from the official source where the internet exists; it is never called
implicitly (not at import, not by :func:`ensure_fashion_mnist` unless asked).

Checksums are SHA-256 digests of the *decompressed* IDX bytes, so the Debian files (gzip'd),
upstream's (gzip'd differently) and plain IDX files all verify against the same table.

Command line: ``python -m ebmbook.data.fetch`` ensures the data and prints the folder.
This module uses the standard library only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import BinaryIO, Sequence

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Where the IDX files sit inside the .deb (relative to its root).
DEBIAN_PAYLOAD = Path("usr/share/datasets/fashion-mnist")
ENV_VAR = "EBMBOOK_DATA"
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

#: SHA-256 of the decompressed IDX bytes and their length, measured on the files of the Debian
#: package dataset-fashion-mnist 0.0~git20200523.55506a9-1.
FASHION_MNIST_FILES: dict[str, tuple[str, int]] = {
    "train-images-idx3-ubyte": (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47_040_016),
    "train-labels-idx1-ubyte": (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60_008),
    "t10k-images-idx3-ubyte": (
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7_840_016),
    "t10k-labels-idx1-ubyte": (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10_008),
}

HOW_TO_GET = (
    "To get the FashionMNIST files, run `make env` or `python -m ebmbook.data.fetch` "
    f"(as root it runs `apt-get install -y {DEBIAN_PACKAGE}`; otherwise it unpacks that package "
    f"into the user cache), or run `sudo apt-get install {DEBIAN_PACKAGE}`, or set {ENV_VAR} to a "
    "folder holding the four IDX files (plain or .gz)."
)


class DataNotFoundError(FileNotFoundError):
    """A data file or folder is missing; the message says where it was looked for and how to get it."""


class DataFileError(ValueError):
    """A data file exists but is unreadable: corrupt, truncated, or not the format expected."""


class ChecksumError(DataFileError):
    """A data file's SHA-256 differs from the known one."""


# ----------------------------------------------------------------------------- locating


def cache_dir() -> Path:
    """The user cache of ebmbook: ``$XDG_CACHE_HOME/ebmbook`` or ``~/.cache/ebmbook``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ebmbook"


def locate_file(folder: Path, name: str) -> Path | None:
    """The plain or gzip'd version of IDX file ``name`` in ``folder``, or None if neither exists."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _complete(folder: Path) -> bool:
    return all(locate_file(folder, name) is not None for name in FASHION_MNIST_FILES)


def candidate_dirs(path: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for FashionMNIST, in order (see the module docstring)."""
    dirs: list[Path] = []
    if path is not None:
        dirs += [Path(path), Path(path) / "fashion-mnist"]
    env = os.environ.get(ENV_VAR)
    if env:
        dirs += [Path(env), Path(env) / "fashion-mnist"]
    dirs += [cache_dir() / "fashion-mnist", DEBIAN_DIR]
    return dirs


def find_fashion_mnist(path: str | os.PathLike | None = None) -> Path:
    """The first folder in the search order that holds all four FashionMNIST IDX files.

    An explicit ``path`` is strict: if it does not hold the files, the search stops there with a
    :class:`DataNotFoundError` rather than silently using another copy.
    """
    searched = candidate_dirs(path)
    if path is not None:
        searched = searched[:2]
    for folder in searched:
        if _complete(folder):
            return folder
    where = ", ".join(str(d) for d in searched)
    names = ", ".join(FASHION_MNIST_FILES)
    raise DataNotFoundError(
        f"FashionMNIST IDX files ({names}, plain or .gz) not found; searched: {where}. {HOW_TO_GET}"
    )


def fashion_mnist_file(name: str, path: str | os.PathLike | None = None) -> Path:
    """The path of one FashionMNIST IDX file (e.g. ``"train-images-idx3-ubyte"``)."""
    if name not in FASHION_MNIST_FILES:
        raise ValueError(f"unknown FashionMNIST file {name!r}; expected one of {list(FASHION_MNIST_FILES)}")
    found = locate_file(find_fashion_mnist(path), name)
    assert found is not None  # find_fashion_mnist checked completeness
    return found


# ----------------------------------------------------------------------------- reading, hashing


def read_bytes(path: str | os.PathLike) -> bytes:
    """The content of ``path``, decompressed if it is gzip'd (detected by its magic bytes).

    Raises :class:`DataNotFoundError` if the file is missing and :class:`DataFileError` if a gzip
    stream is truncated or corrupt.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataNotFoundError(f"data file {path} does not exist. {HOW_TO_GET}") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataFileError(
            f"data file {path} is a truncated or corrupt gzip stream ({err}); delete it and "
            f"fetch it again. {HOW_TO_GET}"
        ) from None


def sha256_hex(data: bytes) -> str:
    """The SHA-256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def check_sha256(data: bytes, expected: str, path: str | os.PathLike) -> None:
    """Raise :class:`ChecksumError` naming ``path`` if ``data`` does not hash to ``expected``."""
    got = sha256_hex(data)
    if got != expected.lower():
        raise ChecksumError(
            f"data file {path} has SHA-256 {got}, expected {expected}: the file is damaged or "
            f"not the expected version; delete it and fetch it again. {HOW_TO_GET}"
        )


def verify_fashion_mnist(folder: str | os.PathLike) -> Path:
    """Check every FashionMNIST file in ``folder`` against the known content SHA-256."""
    folder = Path(folder)
    for name, (digest, _) in FASHION_MNIST_FILES.items():
        path = locate_file(folder, name)
        if path is None:
            raise DataNotFoundError(f"data file {folder / name}(.gz) does not exist. {HOW_TO_GET}")
        check_sha256(read_bytes(path), digest, path)
    return folder


# ----------------------------------------------------------------------------- Debian package


def _run(cmd: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command, capturing its output; raise :class:`DataNotFoundError` if it fails."""
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        done = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, env=env)
    except FileNotFoundError:
        raise DataNotFoundError(f"`{cmd[0]}` is not available on this machine. {HOW_TO_GET}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-800:]
        raise DataNotFoundError(
            f"`{' '.join(cmd)}` failed with exit code {done.returncode}: {tail}. {HOW_TO_GET}"
        )
    return done


def install_debian_package() -> Path:
    """As root: ``apt-get update`` then ``apt-get install -y dataset-fashion-mnist``."""
    _run(["apt-get", "update"])
    _run(["apt-get", "install", "-y", "--no-install-recommends", DEBIAN_PACKAGE])
    return DEBIAN_DIR


def unpack_debian_package(cache: Path | None = None) -> Path:
    """Without root: ``apt-get download`` + ``dpkg-deb -x`` into the cache, moved in atomically.

    The package is unpacked in a temporary folder inside the cache; only a complete IDX folder is
    moved to ``<cache>/fashion-mnist`` (one ``os.replace``), so an interrupted run leaves nothing
    half-written where the loader looks.
    """
    cache = cache_dir() if cache is None else Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / "fashion-mnist"
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=cache) as tmp:
        work = Path(tmp)
        _run(["apt-get", "download", DEBIAN_PACKAGE], cwd=work)
        debs = sorted(work.glob(f"{DEBIAN_PACKAGE}_*.deb"))
        if not debs:
            raise DataNotFoundError(f"`apt-get download {DEBIAN_PACKAGE}` produced no .deb in {work}. {HOW_TO_GET}")
        root = work / "root"
        _run(["dpkg-deb", "-x", str(debs[-1]), str(root)])
        unpacked = root / DEBIAN_PAYLOAD
        if not _complete(unpacked):
            raise DataNotFoundError(f"{debs[-1].name} did not contain the IDX files under /{DEBIAN_PAYLOAD}. {HOW_TO_GET}")
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)
    return target


def ensure_fashion_mnist(
    path: str | os.PathLike | None = None,
    *,
    install: bool = True,
    download: bool = False,
    verify: bool = True,
) -> Path:
    """The FashionMNIST folder, obtaining the files first if none is found.

    Parameters
    ----------
    path: an explicit folder (searched first, strictly; nothing is installed for it).
    install: when missing, obtain the Debian package (``apt-get install`` as root, otherwise
        ``apt-get download`` + ``dpkg-deb -x`` into the cache).
    download: when still missing, download from the official source into the cache (internet).
    verify: check each file's SHA-256 against :data:`FASHION_MNIST_FILES`.
    """
    try:
        folder = find_fashion_mnist(path)
    except DataNotFoundError:
        if path is not None or not (install or download):
            raise
        folder = _obtain(install=install, download=download)
    return verify_fashion_mnist(folder) if verify else folder


def _obtain(*, install: bool, download: bool) -> Path:
    errors: list[str] = []
    if install:
        try:
            is_root = hasattr(os, "geteuid") and os.geteuid() == 0
            return install_debian_package() if is_root else unpack_debian_package()
        except DataNotFoundError as err:
            errors.append(str(err))
    if download:
        return download_fashion_mnist()
    raise DataNotFoundError(" | ".join(errors) or f"FashionMNIST not found. {HOW_TO_GET}")


# ----------------------------------------------------------------------------- internet download


def _copy_hashing(src: BinaryIO, dst: BinaryIO, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    while block := src.read(chunk):
        digest.update(block)
        dst.write(block)
    return digest.hexdigest()


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str,
    *,
    content_digest: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, verify its SHA-256, and write it atomically.

    The bytes go to a temporary file next to ``dest``; only after the digest matches is it moved
    onto ``dest`` with ``os.replace``. On any failure (network, checksum) the temporary file is
    removed and ``dest`` is left untouched, so nothing half-written stays in the cache.

    With ``content_digest=True`` the digest is taken over the gzip-decompressed content rather
    than the downloaded bytes (for ``.gz`` files whose compression may differ between mirrors).
    Never called implicitly: only an explicit call or ``--download`` reaches the network.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    got = _copy_hashing(response, out)
            except (urllib.error.URLError, OSError) as err:
                raise DataNotFoundError(f"could not download {url} to {dest}: {err}. {HOW_TO_GET}") from None
            out.flush()
            os.fsync(out.fileno())
        if content_digest:
            check_sha256(read_bytes(tmp), sha256, f"{dest} (downloaded from {url})")
        elif got != sha256.lower():
            raise ChecksumError(
                f"download of {url} to {dest} has SHA-256 {got}, expected {sha256}; nothing was "
                f"written. {HOW_TO_GET}"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def download_fashion_mnist(dest: str | os.PathLike | None = None, base_url: str = FASHION_MNIST_URL) -> Path:
    """Download the four FashionMNIST ``.gz`` files from ``base_url`` into ``dest`` (the cache).

    Each file is verified against the known content SHA-256 before it is moved into place.
    """
    folder = cache_dir() / "fashion-mnist" if dest is None else Path(dest)
    for name, (digest, _) in FASHION_MNIST_FILES.items():
        download(base_url.rstrip("/") + f"/{name}.gz", folder / f"{name}.gz", digest, content_digest=True)
    return folder


# ----------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ebmbook.data.fetch``: ensure FashionMNIST is present and print its folder."""
    parser = argparse.ArgumentParser(prog="python -m ebmbook.data.fetch", description=main.__doc__)
    parser.add_argument("--path", help="an explicit folder holding the IDX files")
    parser.add_argument("--no-install", action="store_true", help="do not use apt-get / dpkg-deb")
    parser.add_argument("--download", action="store_true", help=f"allow downloading from {FASHION_MNIST_URL}")
    parser.add_argument("--no-verify", action="store_true", help="skip the SHA-256 check")
    args = parser.parse_args(argv)
    try:
        folder = ensure_fashion_mnist(
            args.path, install=not args.no_install, download=args.download, verify=not args.no_verify
        )
    except (DataNotFoundError, DataFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
