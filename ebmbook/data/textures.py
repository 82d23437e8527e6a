"""The bundled grey textures and photo, and the pixel helpers shared by the image loaders
(:mod:`ebmbook.data.images`) and the patch cutter (:mod:`ebmbook.data.patches`).

``grass``, ``gravel``, ``brick`` (512x512) and the ``chelsea`` photo (300x451 RGB) come with
scikit-image (CC0). Each is brought to grey values in [0, 1] (colour with scikit-image's
``rgb2gray``) and centre-cropped to a square. Both image modules import from here, so neither
imports the other's internals.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

TEXTURES = ("grass", "gravel", "brick", "chelsea")


def optional_module(module: str) -> Any:
    """Import an optional dependency of the ``data`` extra, with an actionable error."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{module} is needed for this data set: pip install 'ebmbook[data]' ({err})"
        ) from None


def to_unit(images: np.ndarray, name: str) -> np.ndarray:
    """Bytes divided by 255, or float images already in [0, 1], as float32; anything else is a
    ValueError naming the source ``name``."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    if images.min() >= 0.0 and images.max() <= 1.0:
        return images.astype(np.float32)
    raise ValueError(f"{name}: unexpected pixel range [{images.min()}, {images.max()}] for dtype "
                     f"{images.dtype}")


def center_square(u: np.ndarray) -> np.ndarray:
    """The central square of the last two axes (the shorter side's length)."""
    h, w = u.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return u[..., top : top + s, left : left + s]


def texture_array(name: str) -> np.ndarray:
    """One bundled texture or photo (``name`` in :data:`TEXTURES`) as a grey, square
    ``(S, S)`` float32 array in [0, 1], at its native resolution."""
    if name not in TEXTURES:
        raise ValueError(f"unknown texture {name!r}; expected one of {', '.join(TEXTURES)}")
    image = np.asarray(getattr(optional_module("skimage.data"), name)())
    if image.ndim == 3:
        image = optional_module("skimage.color").rgb2gray(image)  # float in [0, 1]
    return np.ascontiguousarray(center_square(to_unit(image, name)), dtype=np.float32)
