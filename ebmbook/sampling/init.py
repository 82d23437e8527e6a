"""Initial states for the negative samples of Algorithm 1 (Sec 2.1.2).

Every initialiser has the same two methods, so the trainer and a trained model draw their
starting states the same way whatever the kind:

* ``draw(n, generator) -> (states, handle)``: ``n`` starting states on the initialiser's device;
* ``update(handle, states)``: what to do with the states after sampling (a persistent bank
  writes them back; the others ignore them).

Kinds:

* :class:`NoiseInit` - uniform on [-scale, scale] or Gaussian N(0, scale^2) (``noise_init``);
* :class:`DataInit` - a batch of training states;
* :class:`PersistentBank` - one state per training example, initialised from noise; each step a
  random batch is drawn, updated by Langevin and written back;
* :class:`StoredStates` - a fixed sample of states (e.g. a trained model's saved bank), drawn
  with replacement and never written.

Random draws use the explicit generator, on the generator's own device.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

NOISE_KINDS = ("uniform", "gaussian")


def _device_of(generator: torch.Generator | None, fallback) -> torch.device:
    return generator.device if generator is not None else torch.device(fallback)


def noise_init(kind: str, shape: tuple[int, ...], generator: torch.Generator | None = None,
               scale: float = 1.0, device: str | torch.device | None = None,
               dtype: torch.dtype | None = None) -> torch.Tensor:
    """Noise states: ``uniform`` on [-scale, scale] or ``gaussian`` with sd ``scale``.

    The draw happens on the generator's device (``device``, default the generator's, when no
    generator is given) and the result is moved to ``device``.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise kind {kind!r} is invalid: it must be one of {NOISE_KINDS}")
    dtype = dtype or torch.get_default_dtype()
    where = _device_of(generator, device or "cpu")
    if kind == "uniform":
        x = scale * (2 * torch.rand(shape, generator=generator, device=where, dtype=dtype) - 1)
    else:
        x = scale * torch.randn(shape, generator=generator, device=where, dtype=dtype)
    return x if device is None else x.to(device)


def random_index(size: int, n: int, generator: torch.Generator | None, device,
                 replacement: bool) -> torch.Tensor:
    """``n`` indices into ``range(size)`` drawn on the generator's device, moved to ``device``."""
    where = _device_of(generator, device)
    if replacement:
        idx = torch.randint(size, (n,), generator=generator, device=where)
    else:
        if n > size:
            raise ValueError(f"cannot draw {n} distinct states from {size}")
        idx = torch.randperm(size, generator=generator, device=where)[:n]
    return idx.to(device)


class Initializer(Protocol):
    """What every initialiser provides (see the module docstring): ``draw(n, generator)`` gives
    ``n`` starting states and a handle, ``update(handle, states)`` takes the finished states
    back (a persistent bank writes them back; noise and data initialisers ignore them)."""

    def draw(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, Any]: ...

    def update(self, handle: Any, states: torch.Tensor) -> None: ...


class NoiseInit:
    """Fresh noise states of shape ``state_shape``: ``uniform`` or ``gaussian`` with ``scale``."""

    def __init__(self, kind: str, state_shape: tuple[int, ...], scale: float = 1.0,
                 device: str | torch.device = "cpu", dtype: torch.dtype | None = None):
        if kind not in NOISE_KINDS:
            raise ValueError(f"noise kind {kind!r} is invalid: it must be one of {NOISE_KINDS}")
        self.kind, self.state_shape, self.scale = kind, tuple(state_shape), float(scale)
        self.device, self.dtype = torch.device(device), dtype or torch.get_default_dtype()

    def draw(self, n: int, generator: torch.Generator | None = None):
        return noise_init(self.kind, (n, *self.state_shape), generator, self.scale,
                          self.device, self.dtype), None

    def update(self, handle, states) -> None:
        pass

    def __repr__(self) -> str:
        return f"NoiseInit({self.kind!r}, scale={self.scale:g})"


class DataInit:
    """Training states drawn from a data source (an object with ``sample(n, generator)``)."""

    def __init__(self, source):
        self.source = source

    def draw(self, n: int, generator: torch.Generator | None = None):
        return self.source.sample(n, generator=generator), None

    def update(self, handle, states) -> None:
        pass

    def __repr__(self) -> str:
        return "DataInit()"


class StoredStates:
    """A fixed sample of states, drawn with replacement (e.g. the persistent bank saved with a
    trained model: starting there restarts chains from the model's steady state)."""

    def __init__(self, states: torch.Tensor):
        if states.dim() < 2 or states.shape[0] < 1:
            raise ValueError(f"stored states must have shape (size, ...), got {tuple(states.shape)}")
        self.states = states.detach()

    def draw(self, n: int, generator: torch.Generator | None = None):
        idx = random_index(len(self.states), n, generator, self.states.device, replacement=True)
        return self.states[idx].clone(), None

    def update(self, handle, states) -> None:
        pass

    def __len__(self) -> int:
        return self.states.shape[0]

    def __repr__(self) -> str:
        return f"StoredStates({len(self)})"



class StackedInit:
    """One initialiser per network of a stack (:class:`~ebmbook.energies.potentials.StackedMLP`):
    ``draw(n)`` draws ``n`` states from each, in order, as one ``(K * n, ...)`` batch, and
    ``update`` hands each initialiser back its own block."""

    def __init__(self, initializers):
        self.initializers = list(initializers)
        if not self.initializers:
            raise ValueError("StackedInit needs at least one initialiser")

    def draw(self, n: int, generator: torch.Generator | None = None):
        drawn = [init.draw(n, generator) for init in self.initializers]
        return torch.cat([x for x, _ in drawn]), [h for _, h in drawn]

    def update(self, handle, states) -> None:
        for init, h, block in zip(self.initializers, handle,
                                  states.chunk(len(self.initializers))):
            init.update(h, block)

    def __repr__(self) -> str:
        return f"StackedInit({', '.join(map(repr, self.initializers))})"

class PersistentBank:
    """A bank of persistent chains (Sec 2.1.2): draw a random batch, write the updated batch back."""

    def __init__(self, states: torch.Tensor):
        if states.dim() < 2 or states.shape[0] < 1:
            raise ValueError(f"a persistent bank needs states of shape (size, ...), got {tuple(states.shape)}")
        self.states = states.detach().clone()

    @classmethod
    def from_noise(cls, size: int, state_shape: tuple[int, ...], kind: str = "uniform",
                   generator: torch.Generator | None = None, scale: float = 1.0,
                   device: str | torch.device = "cpu", dtype: torch.dtype | None = None
                   ) -> "PersistentBank":
        return cls(noise_init(kind, (size, *state_shape), generator, scale, device, dtype))

    def __len__(self) -> int:
        return self.states.shape[0]

    def draw(self, batch: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch of distinct bank states and their indices (to write back)."""
        if batch > len(self):
            raise ValueError(f"batch {batch} is larger than the persistent bank ({len(self)})")
        idx = random_index(len(self), batch, generator, self.states.device, replacement=False)
        return self.states[idx].clone(), idx

    def write(self, idx: torch.Tensor, states: torch.Tensor) -> None:
        self.states[idx] = states.detach().to(self.states.dtype)

    update = write

    def state_dict(self) -> dict:
        return {"states": self.states.clone()}

    def load_state_dict(self, d: dict) -> None:
        self.states = d["states"].clone().to(self.states.device)

    def __repr__(self) -> str:
        return f"PersistentBank({len(self)})"
