"""ebmbook: learning and mapping energy-based models, the package behind the book.

The package is layered in one direction (see ARCHITECTURE.md):
data -> energies -> sampling -> learning -> diagnostics / landscape -> experiments -> plotting.

The top level gives the map of any energy, :func:`map_energy` and the :class:`EnergyMap` it
returns (both from :mod:`ebmbook.landscape.mapping`). They are imported on first use (PEP 562),
so ``import ebmbook`` stays cheap and imports nothing from the layers below.
"""

__version__ = "0.1.0"

__all__ = ["map_energy", "EnergyMap"]

# name -> the module that defines it, imported when the name is first asked for
_LAZY = {"map_energy": "ebmbook.landscape.mapping", "EnergyMap": "ebmbook.landscape.mapping"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ebmbook' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
