"""ebmbook: learning and mapping energy-based models, the package behind the book.

The package is layered in one direction (see ARCHITECTURE.md):
data -> energies -> sampling -> learning -> diagnostics / landscape -> experiments -> plotting.
"""

__version__ = "0.1.0"
