"""Where the embarrassingly parallel work of mapping runs: a user-chosen
:class:`concurrent.futures.Executor`.

Batches of AD trials in ADELM, the alpha/T tuning sweeps, the metastable-boundary search and
barrier matrices are cut into *tasks*: calls of a top-level (picklable) function on plain data --
numpy arrays or tensors, the model's coupling matrix, config scalars and a
:class:`numpy.random.SeedSequence`. The tasks are submitted to an executor chosen with
:func:`get_executor`:

==============================  ==========================================================
``None`` or ``"inline"``        in-process, each task runs when submitted (the default)
``"process"``, ``"process:N"``  a local :class:`~concurrent.futures.ProcessPoolExecutor`
                                with N single-threaded workers (default: the usable cores),
                                "spawn" context
``"dask"``, ``"dask:N"``        an embedded Dask ``distributed.LocalCluster`` of N
                                single-threaded worker processes (default: the usable cores)
``"dask:tcp://host:8786"``      a running Dask scheduler (any ``scheme://`` address): a real
                                cluster, with no code change
an ``Executor`` instance        used as is (and not shut down here)
a ``distributed.Client``        its ``concurrent.futures`` view (not closed here)
==============================  ==========================================================

Dask is an optional extra: ``pip install "ebmbook[dask]"``. The workers of a real cluster need
the same ebmbook installed (tasks are pickled by reference to its top-level functions).

**Seeds are split per task up front.** A caller's seed (an int, a SeedSequence, or a live numpy /
torch generator, from which one draw is taken) becomes a root :class:`~numpy.random.SeedSequence`;
task ``k`` gets the child ``child(root, k)`` -- the same child ``root.spawn`` would give, but
addressed by its key, so nothing depends on the order in which children are made. A task builds
its own numpy ``Generator`` (or ``torch.Generator``) from its seed. How the work is cut into tasks
is fixed by the caller's arguments (e.g. a backend's ``chunk_size``), never by the executor, so
the same seed gives the same result in-process, on a process pool or on a Dask cluster, whatever
the number of workers. Inside one task the work is batched (many chains in one numba call or one
tensor).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import sys
from typing import Any, Callable, Iterable, Iterator

import numpy as np

__all__ = ["InlineExecutor", "get_executor", "validate_executor_spec", "map_tasks", "is_inline",
           "seed_sequence", "child", "numpy_rng", "torch_generator"]

ACCEPTED_FORMS = ("None or 'inline' (in-process), 'process' or 'process:N' (local process pool "
                  "of N workers), 'dask' or 'dask:N' (embedded Dask LocalCluster of N worker "
                  "processes), 'dask:tcp://host:8786' (a running Dask scheduler), or a "
                  "concurrent.futures.Executor / distributed.Client instance")

DASK_HINT = 'pip install "ebmbook[dask]"'
#: how long to wait for a remote Dask scheduler before giving up with one clear error
CONNECT_TIMEOUT_S = 10.0


class SchedulerUnreachable(ValueError):
    """A Dask scheduler address that does not answer (refused, unreachable or timed out)."""


class InlineExecutor(cf.Executor):
    """A :class:`concurrent.futures.Executor` that runs each task synchronously inside
    :meth:`submit` and returns an already finished future (the task's exception, if any, is
    stored in the future, as in every executor). No threads, no pickling: the default."""

    def __init__(self):
        self._shutdown = False

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        fut: cf.Future = cf.Future()
        fut.set_running_or_notify_cancel()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # KeyboardInterrupt / SystemExit propagate at once
            fut.set_exception(exc)
        else:
            fut.set_result(result)
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "NUMBA_NUM_THREADS")


def _single_threaded_worker() -> None:
    """Initializer of a pool worker: one math thread, as Dask's nanny does for its workers, so
    N workers on N cores do not oversubscribe them (tasks batch on arrays, not threads)."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    torch = sys.modules.get("torch")  # already imported by the parent's main module
    if torch is not None:
        torch.set_num_threads(1)


def _bad(spec: Any, why: str = "") -> ValueError:
    return ValueError(f"executor {spec!r} is not understood{': ' + why if why else ''}; "
                      f"accepted forms: {ACCEPTED_FORMS}")


def _parse(spec: str) -> tuple[str, Any]:
    """('inline', None) | ('process', n_workers) | ('dask', n_workers) | ('dask', address)."""
    s = spec.strip()
    kind, sep, arg = s.partition(":")
    kind = kind.lower()
    if kind == "inline" and not sep:
        return "inline", None
    if kind in ("process", "dask"):
        if not sep:
            return kind, _usable_cores()
        if kind == "dask" and "://" in arg:
            return kind, arg
        try:
            n = int(arg)
        except ValueError:
            raise _bad(spec, f"{arg!r} is neither a number of workers"
                       + (" nor a scheduler address" if kind == "dask" else "")) from None
        if n < 1:
            raise _bad(spec, "the number of workers must be >= 1")
        return kind, n
    raise _bad(spec)


def _is_client(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "Client" and cls.__module__.startswith("distributed")


def validate_executor_spec(spec: Any) -> None:
    """Raise ``ValueError`` (naming the accepted forms) unless ``spec`` is one; imports nothing.
    """
    if spec is None or isinstance(spec, cf.Executor) or _is_client(spec):
        return
    if not isinstance(spec, str):
        raise _bad(spec)
    _parse(spec)


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("the 'dask' executor needs Dask's distributed scheduler, which is not "
                          f"installed: {DASK_HINT}") from exc
    return distributed


@contextlib.contextmanager
def get_executor(spec: Any = None) -> Iterator[cf.Executor]:
    """Context manager giving a :class:`concurrent.futures.Executor` for ``spec`` (see the module
    docstring for the forms). What it creates (a process pool, a Dask cluster and client) it
    shuts down on exit; an executor or client passed in is left running.

        with get_executor("dask:2") as ex:
            res = adelm(backend, 100, executor=ex)
    """
    if isinstance(spec, cf.Executor):
        yield spec
        return
    if _is_client(spec):
        yield spec.get_executor(pure=False)
        return
    validate_executor_spec(spec)
    kind, arg = ("inline", None) if spec is None else _parse(spec)
    if kind == "inline":
        yield InlineExecutor()
        return
    if kind == "process":
        # "spawn": a fresh interpreter per worker, safe with torch's and numba's threads
        ex = cf.ProcessPoolExecutor(max_workers=arg,
                                    mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_single_threaded_worker)
        try:
            yield ex
        finally:
            ex.shutdown(wait=True, cancel_futures=True)
        return
    distributed = _import_distributed()
    cluster = None
    if isinstance(arg, str):
        try:
            client = distributed.Client(arg, timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:      # refused, unreachable or timed out
            raise SchedulerUnreachable(
                f"cannot reach the Dask scheduler at {arg} within {CONNECT_TIMEOUT_S:g} s "
                f"({' '.join(str(exc).split())}): start one there (`dask scheduler`), or use "
                "'dask:N' for a local cluster of N workers") from None
    else:
        cluster = distributed.LocalCluster(n_workers=arg, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        try:
            client = distributed.Client(cluster)
        except BaseException:
            cluster.close()
            raise
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def is_inline(executor: Any) -> bool:
    """True for the in-process executor (``None``, ``"inline"`` or an :class:`InlineExecutor`)."""
    return (executor is None or isinstance(executor, InlineExecutor)
            or (isinstance(executor, str) and executor.strip().lower() == "inline"))


def map_tasks(executor: Any, fn: Callable, tasks: Iterable[tuple], *, desc: str | None = None,
              on_result: Callable[[int, Any], None] | None = None) -> list:
    """Run ``fn(*task)`` for every task (a tuple of positional arguments) on ``executor`` (an
    Executor, or any spec :func:`get_executor` accepts) and return the results in task order.
    Everything is submitted first, so the workers share the tasks; the first exception (in task
    order) is raised after the remaining tasks are cancelled. ``desc`` shows a progress bar.
    ``on_result(i, result)`` is called for each task that succeeds, in task order, as soon as
    it and those before it are done (e.g. to save partial work)."""
    tasks = [tuple(t) for t in tasks]
    with get_executor(executor) as ex:
        bar = None
        if desc is not None:
            from ._progress import tqdm
            bar = tqdm(total=len(tasks), desc=desc)
        try:
            if isinstance(ex, InlineExecutor):  # one at a time, so a progress bar moves
                futures = []
                for i, t in enumerate(tasks):
                    futures.append(ex.submit(fn, *t))
                    if on_result is not None and futures[-1].exception() is None:
                        on_result(i, futures[-1].result())
                    if bar is not None:
                        bar.update()
            else:
                futures = [ex.submit(fn, *t) for t in tasks]
            out = []
            try:
                for i, f in enumerate(futures):
                    out.append(f.result())
                    if not isinstance(ex, InlineExecutor):
                        if on_result is not None:
                            on_result(i, out[-1])
                        if bar is not None:
                            bar.update()
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        finally:
            if bar is not None:
                bar.close()
    return out


# --------------------------------------------------------------------------- seeds

def seed_sequence(seed: Any) -> np.random.SeedSequence:
    """A root :class:`~numpy.random.SeedSequence` from a caller's seed.

    ``int`` or sequence of ints: ``SeedSequence(seed)``; a ``SeedSequence``: itself; a numpy
    ``Generator``: 128 bits drawn from it (the generator advances, so successive calls on one
    generator give different roots, reproducibly); a ``torch.Generator``: likewise; ``None``:
    fresh OS entropy (not reproducible).
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(seed.integers(0, 2**32, size=4, dtype=np.uint64).tolist())
    if seed is None:
        return np.random.SeedSequence()
    if type(seed).__name__ == "Generator" and type(seed).__module__.startswith("torch"):
        import torch
        draw = torch.randint(0, 2**32, (4,), generator=seed, dtype=torch.int64)
        return np.random.SeedSequence([int(v) for v in draw])
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        return np.random.SeedSequence(int(seed))
    if isinstance(seed, (list, tuple, np.ndarray)):
        return np.random.SeedSequence([int(v) for v in np.asarray(seed).ravel()])
    raise TypeError("seed must be an int, a numpy SeedSequence or Generator, a torch.Generator "
                    f"or None, got {type(seed).__name__}")


def child(ss: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    """The descendant of ``ss`` at ``key`` (``child(ss, k)`` equals the k-th ``ss.spawn`` child;
    ``child(ss, i, j)`` is child j of child i), built from its key alone."""
    spawn_key = tuple(ss.spawn_key) + tuple(int(k) for k in key)
    return np.random.SeedSequence(ss.entropy, spawn_key=spawn_key, pool_size=ss.pool_size)


def numpy_rng(ss: np.random.SeedSequence) -> np.random.Generator:
    """A numpy Generator (PCG64) seeded from ``ss``."""
    return np.random.Generator(np.random.PCG64(ss))


def torch_generator(ss: np.random.SeedSequence, device: Any = "cpu"):
    """A ``torch.Generator`` seeded with 63 bits of ``ss``."""
    import torch
    seed = int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))
    return torch.Generator(device=device).manual_seed(seed)
