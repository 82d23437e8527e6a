"""Reader and writer for the IDX format of (Fashion)MNIST, plain or gzip'd.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then the row-major payload of ``prod(dims)`` items of the given type. The
reader checks each part and raises :class:`~ebmbook.data.fetch.DataFileError` naming the file when
the magic number is wrong, the header is cut short, or the payload length differs from the one the
dimensions announce (a truncated download). Pass ``sha256`` to also check the content digest.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from .fetch import HOW_TO_GET, DataFileError, check_sha256, read_bytes

#: IDX type codes and the numpy dtypes they denote (big-endian in the file).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _corrupt(path: Path | str, what: str) -> DataFileError:
    return DataFileError(f"data file {path} is not a valid IDX file: {what}. {HOW_TO_GET}")


def parse_idx(data: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode IDX ``data`` into an array in native byte order; ``path`` is used in errors."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise _corrupt(path, f"bad magic number {data[:4].hex() or '(empty)'} (expected 0000TTNN)")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise _corrupt(path, f"unknown type code 0x{code:02x}")
    if ndim == 0:
        raise _corrupt(path, "zero dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _corrupt(path, f"truncated header ({len(data)} bytes, need {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got < expected:
        raise _corrupt(path, f"truncated payload ({got} bytes, dims {dims} need {expected})")
    if got > expected:
        raise _corrupt(path, f"{got - expected} trailing bytes after the payload of dims {dims}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike, *, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (plain or ``.gz``) into a writable numpy array.

    Raises :class:`~ebmbook.data.fetch.DataNotFoundError` if the file is missing,
    :class:`~ebmbook.data.fetch.DataFileError` if it is corrupt or truncated, and
    :class:`~ebmbook.data.fetch.ChecksumError` if ``sha256`` is given and the decompressed
    content does not match it.
    """
    data = read_bytes(path)
    if sha256 is not None:
        check_sha256(data, sha256, path)
    return parse_idx(data, path)


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array`` (its dtype must be one of :data:`IDX_DTYPES`)."""
    array = np.asarray(array)
    for code, dtype in IDX_DTYPES.items():
        if array.dtype.kind == dtype.kind and array.dtype.itemsize == dtype.itemsize:
            break
    else:
        raise ValueError(f"dtype {array.dtype} has no IDX type code")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"an IDX array needs 1..255 dimensions, got {array.ndim}")
    head = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return head + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip'd if ``path`` ends in ``.gz``), atomically."""
    path = Path(path)
    data = encode_idx(array)
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
