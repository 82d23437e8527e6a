"""Data: image sets (FashionMNIST, MNIST-5k, digits, faces, textures) and their files.

``ebmbook.data.images`` loads image sets as float32 tensors ``(n, 1, H, W)``;
``ebmbook.data.idx`` reads IDX files; ``ebmbook.data.fetch`` locates, obtains and verifies the
FashionMNIST files (``python -m ebmbook.data.fetch``). The toy 2D densities live in
``ebmbook.data.toy2d``.

The names below are re-exported lazily, so importing this package (or ``ebmbook.data.toy2d``)
does not import scikit-learn, scikit-image or the image loaders.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ImageOptions": "images",
    "ImageSet": "images",
    "load_images": "images",
    "load_fashion_mnist": "images",
    "load_mnist_5k": "images",
    "load_digits": "images",
    "load_lfw_subset": "images",
    "load_texture": "images",
    "split_indices": "images",
    "read_idx": "idx",
    "write_idx": "idx",
    "DataNotFoundError": "fetch",
    "DataFileError": "fetch",
    "ChecksumError": "fetch",
    "ensure_fashion_mnist": "fetch",
    "find_fashion_mnist": "fetch",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
