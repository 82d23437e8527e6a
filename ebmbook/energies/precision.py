"""The arithmetic an energy is evaluated in: a property of the evaluation, not of the states.

Chain states, Langevin noise, Metropolis-Hastings ratios and optimiser states always stay in
float32 (float64 in the oracle tests). Only the network that computes U(x) and its gradient may
run in reduced precision:

* ``"fp32"``  full single precision (the default everywhere);
* ``"bf16"``  bfloat16 autocast, on the CPU (oneDNN uses AMX-BF16 / AVX-512-BF16 where the
  processor has them) or on a GPU (tensor cores). Convolutions and matrix products take bf16
  inputs and accumulate in fp32; their outputs are bf16, so U and grad U carry a relative error
  of a few 1e-3 per layer (about 5-9 % on the input gradient of the book's networks, measured in
  ``benchmarks/langevin.py``). Whether that changes a verdict is measured per experiment
  (``benchmarks/precision.py``), never assumed;
* ``"tf32"``  float32 storage with TensorFloat-32 matrix products: CUDA only.

:func:`evaluation` is the one context manager that every energy evaluation of the package enters.

**bf16 where the hardware has it.** A CPU without native bfloat16 arithmetic (no AMX-BF16 or
AVX-512-BF16, e.g. an AVX2-only AMD EPYC) emulates it: there a bf16 Langevin step of the book's
networks cost 18 to 35 times an fp32 one (``benchmarks/langevin.py``), against 2 to 3 times
*less* on a CPU with AMX. So ``"bf16"`` means "bf16 where it is native, fp32 elsewhere"
(:func:`effective_precision`); ``EBMBOOK_BF16=always`` in the environment emulates it anyway
(what the tests of the bf16 arithmetic do). The fallback is silent inside the package (a page's
output stays clean); whether bf16 was native is recorded in every manifest
(:func:`ebmbook.store.machine`), and ``ebmbook train`` / ``ebmbook run`` say so on stderr when a
setting asks for bf16 (:func:`fallback_note`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from typing import Any, Iterator

import torch

PRECISIONS = ("fp32", "bf16", "tf32")
#: environment variable: ``auto`` (default: bf16 only where native) or ``always`` (emulate it)
BF16_ENV = "EBMBOOK_BF16"
BF16_MODES = ("auto", "always")


@functools.lru_cache(maxsize=None)
def _cpuinfo() -> dict:
    """The first processor's fields of Linux's ``/proc/cpuinfo``, keys lower-cased ({} where
    it cannot be read)."""
    fields: dict = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    if fields:
                        break           # the end of the first processor's block
                    continue
                key, _, value = line.partition(":")
                fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    return fields


def _cpu_flags() -> frozenset:
    """The CPU's feature flags as Linux reports them (x86 ``flags``, Arm ``features``; empty
    elsewhere)."""
    info = _cpuinfo()
    return frozenset((info.get("flags") or info.get("features") or "").split())


def cpu_model() -> str:
    """The CPU's model name as Linux reports it, else what ``platform`` knows."""
    import platform
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def native_bf16(device: str | torch.device = "cpu") -> bool:
    """Whether ``device`` computes bfloat16 convolutions and matrix products natively: a CUDA
    GPU that supports it; a CPU with AMX-BF16 or AVX-512-BF16 (x86) or the BF16 extension (Arm),
    as Linux reports its flags (False where they cannot be read)."""
    kind = torch.device(device).type
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if kind == "cpu":
        return bool({"amx_bf16", "avx512_bf16", "bf16"} & _cpu_flags())
    return True          # other backends: as torch does it


def bf16_mode() -> str:
    """The ``EBMBOOK_BF16`` setting (``auto`` unless set), or a ValueError naming the choices."""
    mode = os.environ.get(BF16_ENV, "auto").strip().lower() or "auto"
    if mode not in BF16_MODES:
        raise ValueError(f"{BF16_ENV}={os.environ.get(BF16_ENV)!r} is invalid: set it to "
                         + " or ".join(repr(m) for m in BF16_MODES) + " (or unset it)")
    return mode


def effective_precision(precision: str, device: str | torch.device = "cpu") -> str:
    """The arithmetic ``precision`` runs in on ``device``: ``"fp32"`` in place of ``"bf16"``
    where bf16 is not native (:func:`native_bf16`) unless ``EBMBOOK_BF16=always``; else
    ``precision`` itself."""
    if precision != "bf16" or native_bf16(device) or bf16_mode() == "always":
        return precision
    return "fp32"


def asks_for_bf16(config: Any) -> bool:
    """Whether a (nested) dataclass config has a field ``precision`` or ``*_precision`` set to
    ``"bf16"``."""
    if not dataclasses.is_dataclass(config):
        return False
    for f in dataclasses.fields(config):
        v = getattr(config, f.name, None)
        if (f.name == "precision" or f.name.endswith("_precision")) and v == "bf16":
            return True
        if dataclasses.is_dataclass(v) and asks_for_bf16(v):
            return True
    return False


def fallback_note(config: Any, device: str | torch.device = "cpu") -> str | None:
    """One line for a command's stderr when ``config`` asks for bf16 that runs as fp32 on
    ``device`` (else None)."""
    if not asks_for_bf16(config) or effective_precision("bf16", device) == "bf16":
        return None
    return (f"note: this {torch.device(device).type} has no native bfloat16 arithmetic (no "
            "AMX-BF16 or AVX-512-BF16), so the settings that ask for bf16 compute in fp32, "
            f"many times faster here; {BF16_ENV}=always emulates bf16 instead")


def check_precision(precision: str, device: str | torch.device | None = None) -> str:
    """``precision`` if it is valid on ``device``, else a ValueError naming the choices."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision = {precision!r} is invalid: it must be one of "
                         + ", ".join(repr(p) for p in PRECISIONS))
    if precision == "tf32" and device is not None and torch.device(device).type != "cuda":
        raise ValueError("precision 'tf32' exists on CUDA GPUs only; use 'fp32' or 'bf16' on "
                         f"device {str(device)!r}")
    return precision


@contextlib.contextmanager
def evaluation(precision: str, device: str | torch.device) -> Iterator[None]:
    """Within the block, energies are evaluated in ``precision`` on ``device``'s type.

    ``fp32`` changes nothing. ``bf16`` enters ``torch.autocast(device_type, torch.bfloat16)``
    where bf16 is native (else fp32: :func:`effective_precision`). ``tf32`` allows
    TensorFloat-32 in CUDA matrix products and convolutions for the block and restores the
    previous flags on exit, whatever happens inside.
    """
    kind = torch.device(device).type
    precision = effective_precision(precision, device)
    if precision == "fp32":
        yield
    elif precision == "bf16":
        with torch.autocast(device_type=kind, dtype=torch.bfloat16):
            yield
    elif precision == "tf32":
        check_precision(precision, device)
        old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
    else:
        check_precision(precision)
