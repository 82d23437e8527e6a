"""Small helpers shared by experiment modules."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def seeded(seed: int):
    """Seed torch's global RNG inside the block only (for nn.Module weight initialisation)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def progress_bar(enabled: bool, iterable=None, **kw):
    """A tqdm bar, or a silent one when ``enabled`` is False or the ``TQDM_DISABLE`` environment
    variable (set by the book build) is set (:func:`ebmbook._progress.tqdm`)."""
    from .._progress import tqdm
    if not enabled:
        kw["disable"] = True
    return tqdm(iterable, **kw)
