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
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

PRECISIONS = ("fp32", "bf16", "tf32")


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

    ``fp32`` changes nothing. ``bf16`` enters ``torch.autocast(device_type, torch.bfloat16)``.
    ``tf32`` allows TensorFloat-32 in CUDA matrix products and convolutions for the block and
    restores the previous flags on exit, whatever happens inside.
    """
    kind = torch.device(device).type
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
