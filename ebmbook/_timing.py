"""The one wall-clock helper: how long a stage took, for a result, a manifest or a message.

::

    with timed(timings, "map"):     # stores timings["map"] (seconds) when the block finishes
        ...
    with timed() as clock:          # or read clock.seconds (frozen when the block finishes)
        ...
    clock = Stopwatch()             # or a watch that runs until stop(), for a stage that does
    ...                             # not fit one block (an early return, a loop body)
    clock.seconds

Timing that is part of an algorithm (the resumable wall clock of ``learning.fit``) keeps its own
``time.perf_counter`` arithmetic.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator


class Stopwatch:
    """Wall time (``time.perf_counter``) since construction, plus ``already`` seconds (the time
    an interrupted run spent before it resumed), in seconds: ``seconds`` keeps running until
    :meth:`stop`, and is frozen afterwards."""

    __slots__ = ("_start", "_stopped")

    def __init__(self, already: float = 0.0) -> None:
        self._start = time.perf_counter() - already
        self._stopped: float | None = None

    @property
    def seconds(self) -> float:
        end = self._stopped if self._stopped is not None else time.perf_counter()
        return end - self._start

    def stop(self) -> float:
        """Freeze the watch (once; later calls keep the first reading); returns its seconds."""
        if self._stopped is None:
            self._stopped = time.perf_counter()
        return self.seconds


@contextlib.contextmanager
def timed(timings: dict | None = None, name: str | None = None) -> Iterator[Stopwatch]:
    """Time the block: yields a :class:`Stopwatch` that stops when the block finishes, and then
    stores its seconds as ``timings[name]`` when ``timings`` is given (not when the block
    raises)."""
    if timings is not None and name is None:
        raise ValueError("timed(timings, name): a timings dict needs the name to store under")
    clock = Stopwatch()
    yield clock
    clock.stop()
    if timings is not None:
        timings[name] = clock.seconds
