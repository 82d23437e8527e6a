"""Image patches at several scales from one photo, and folders of a user's own images.

Sec 5.2.2.3-4 of the thesis maps Co-Op nets trained on patches of one ivy photo cut at four
scales: the smallest show single textons (near-uniform colour), the largest show texture with no
distinct features, and all are resized to one network size. The ivy photo is not available
offline, so the bundled data sets are cut from scikit-image's CC0 textures (``grass``,
``gravel``, ``brick``, 512x512); any photo of a user's works the same way through the data set
name ``patches:<path to an image file>``. A folder of a user's own images (for example aligned
cat faces) is the data set ``folder:<path to a folder>``.

Scales and counts: scale k (label k = 1..4) cuts square patches of :data:`PATCH_SIZES` ``[k-1]``
pixels of a 512-pixel photo (a photo of another size scales them in proportion), at seeded
uniform positions, :data:`PATCHES_PER_SCALE` per scale, so that the seeded 80/20 split of
:func:`ebmbook.data.images.split_indices` keeps 1000 training patches per scale, the thesis's
number.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .textures import TEXTURES, texture_array

PATCH_SIZES = (8, 16, 32, 64)       # patch side at each scale, in pixels of a 512-px photo
PATCHES_PER_SCALE = 1250            # 1000 train + 250 test with the default split
REFERENCE_SIDE = 512
MIN_PATCH = 4                       # the smallest patch side a photo may give
NATIVE_SIZE = 32                    # patches are brought to this side when no size is asked
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageFileError(ValueError):
    """A user's image file or folder that cannot be used, with the fix in the message."""


def _pil():
    try:
        from PIL import Image
    except ImportError as err:   # pragma: no cover - Pillow comes with scikit-image
        raise ImportError(f"Pillow is needed to read image files: pip install pillow ({err})")
    return Image


#: Pillow modes of 8-bit images (grey, palette, colour), the ones :func:`read_grey` converts
EIGHT_BIT_MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK",
                   "YCbCr", "LAB", "HSV")


def read_grey(path: str | os.PathLike) -> np.ndarray:
    """An image file as a grey ``(H, W)`` float32 array in [0, 1] (colour is converted with
    ITU-R 601 luma, Pillow's ``"L"`` mode)."""
    p = Path(path)
    if not p.exists():
        raise ImageFileError(f"image file {str(p)!r} does not exist: check the path (relative "
                             f"paths are taken from {os.getcwd()!r})")
    if p.is_dir():
        raise ImageFileError(f"{str(p)!r} is a folder, not an image file: for a folder of "
                             "images use the data set 'folder:<path>'")
    Image = _pil()
    try:
        with Image.open(p) as im:
            im.load()
            mode = im.mode
            grey = im.convert("L") if mode in EIGHT_BIT_MODES else None
    except Exception as err:  # noqa: BLE001 - Pillow raises many types for bad files
        raise ImageFileError(f"cannot read {str(p)!r} as an image ({type(err).__name__}: "
                             f"{err}): use a PNG or JPEG file, or remove it") from None
    if grey is None:
        # Pillow's conversion of 16-bit or float pixels to 8 bits clips instead of scaling, so
        # such an image would silently turn white among the 8-bit images of a folder
        raise ImageFileError(f"{str(p)!r} has {mode!r} pixels (16-bit or floating point); "
                             "only 8-bit images (grey, palette or colour) are read: save it "
                             "as an 8-bit PNG or JPEG, or remove it")
    return np.asarray(grey, dtype=np.float32) / np.float32(255.0)


def photo(source: str) -> np.ndarray:
    """A bundled texture (``grass``, ``gravel``, ``brick``, ``chelsea``) or an image file, as a
    grey ``(H, W)`` array in [0, 1]."""
    if source in TEXTURES:
        return texture_array(source)
    return read_grey(source)


def patch_sides(shape: tuple[int, int], sizes=PATCH_SIZES) -> tuple[int, ...]:
    """The patch side of each scale on a photo of ``shape``: ``sizes`` are in pixels of a
    512-pixel photo and scale with the photo's shorter side."""
    side = min(shape)
    need = int(np.ceil(MIN_PATCH * REFERENCE_SIDE / min(sizes)))
    if side < need:
        raise ImageFileError(f"the photo is {shape[0]}x{shape[1]} pixels, too small: its "
                             f"smallest patches would be under {MIN_PATCH} pixels; use a photo "
                             f"of at least {need} pixels on its shorter side")
    out = tuple(int(round(s * side / REFERENCE_SIDE)) for s in sizes)
    return out


def cut_patches(u: np.ndarray, side: int, n: int, seed) -> np.ndarray:
    """``n`` square patches of ``side`` pixels at seeded uniform positions of the grey image
    ``u`` (H, W): ``(n, side, side)``. Positions come from ``numpy.random.default_rng(seed)``."""
    H, W = u.shape
    if not (1 <= side <= min(H, W)):
        raise ValueError(f"patch side {side} does not fit an image of {H}x{W}")
    rng = np.random.default_rng(seed)
    top = rng.integers(0, H - side + 1, size=n)
    left = rng.integers(0, W - side + 1, size=n)
    rows = top[:, None] + np.arange(side)[None, :]
    cols = left[:, None] + np.arange(side)[None, :]
    return u[rows[:, :, None], cols[:, None, :]]


def resize_unit(u: np.ndarray, size: int) -> np.ndarray:
    """``(n, h, w)`` in [0, 1] to ``(n, size, size)`` (bilinear, antialiased, clamped)."""
    x = torch.from_numpy(np.ascontiguousarray(u, dtype=np.float32)).unsqueeze(1)
    if tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False).clamp_(0.0, 1.0)
    return x[:, 0].numpy()


def multiscale_patches(source: str, size: int | None = None, *, sizes=PATCH_SIZES,
                       n_per_scale: int = PATCHES_PER_SCALE,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Patches of ``source`` (a bundled texture name or an image file) at each scale, resized
    to ``size`` (default :data:`NATIVE_SIZE`): ``(u (n, size, size) in [0, 1], scale label
    (n,) in 1..len(sizes))``. Scale k's positions are seeded by ``[seed, k]``."""
    u = photo(source)
    sides = patch_sides(u.shape, sizes)
    size = size or NATIVE_SIZE
    parts, labels = [], []
    for k, side in enumerate(sides, start=1):
        parts.append(resize_unit(cut_patches(u, side, n_per_scale, [seed, k]), size))
        labels.append(np.full(n_per_scale, k, dtype=np.int64))
    return np.concatenate(parts), np.concatenate(labels)


def image_files(folder: str | os.PathLike) -> tuple[list[Path], np.ndarray, list[str]]:
    """The image files of a folder, sorted, and their labels: the index of their sub-folder
    (one level down, sorted by name) if the folder holds sub-folders of images, else 0.
    Returns (files, labels, class names)."""
    root = Path(folder)
    if not root.exists():
        raise ImageFileError(f"image folder {str(root)!r} does not exist: check the path "
                             f"(relative paths are taken from {os.getcwd()!r})")
    if not root.is_dir():
        raise ImageFileError(f"{str(root)!r} is a file, not a folder: for one photo cut into "
                             "patches use the data set 'patches:<path>'")

    def imgs(d: Path) -> list[Path]:
        return sorted(p for p in d.iterdir()
                      if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                      and not p.name.startswith("."))

    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    groups = [(d.name, imgs(d)) for d in subdirs]
    groups = [(n, f) for n, f in groups if f]
    if not groups:
        groups = [(root.name, imgs(root))]
    files = [f for _, fs in groups for f in fs]
    if not files:
        raise ImageFileError(f"image folder {str(root)!r} holds no image files (looked for "
                             f"{', '.join(IMAGE_SUFFIXES)} in it and in its sub-folders): put "
                             "the images there or point at the folder that holds them")
    labels = np.concatenate([np.full(len(fs), i, np.int64) for i, (_, fs) in enumerate(groups)])
    return files, labels, [n for n, _ in groups]


def folder_images(folder: str | os.PathLike, size: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Every image of a folder (:func:`image_files`), grey, centre-cropped to a square and
    resized to ``size`` (default :data:`NATIVE_SIZE`): ``(u (n, size, size) in [0, 1],
    labels (n,))``. An unreadable file raises an :class:`ImageFileError` that names it."""
    files, labels, _ = image_files(folder)
    size = size or NATIVE_SIZE
    out = np.empty((len(files), size, size), np.float32)
    for i, f in enumerate(files):
        u = read_grey(f)
        s = min(u.shape)
        if s < 4:
            raise ImageFileError(f"{str(f)!r} is {u.shape[0]}x{u.shape[1]} pixels, too small "
                                 "to use: remove it")
        top, left = (u.shape[0] - s) // 2, (u.shape[1] - s) // 2
        out[i] = resize_unit(u[None, top:top + s, left:left + s], size)[0]
    return out, labels
