"""The package's progress bars: ``tqdm.auto``'s, silenced by ``TQDM_DISABLE``.

Plain tqdm reads ``TQDM_DISABLE`` from the environment, but tqdm's notebook bar (the one
``tqdm.auto`` picks inside a Jupyter kernel) overrides it, so without this wrapper every executed
notebook of the book stored its progress bars as widgets.
"""

from __future__ import annotations

import os

_FALSE = ("", "0", "false", "no", "off")


def disabled_by_env() -> bool:
    """Whether ``TQDM_DISABLE`` asks for no progress bars."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in _FALSE


def tqdm(*args, **kwargs):
    """``tqdm.auto.tqdm(*args, **kwargs)``, with ``disable=True`` when ``TQDM_DISABLE`` is set."""
    from tqdm.auto import tqdm as _tqdm
    if disabled_by_env():
        kwargs["disable"] = True
    return _tqdm(*args, **kwargs)
