"""Initial states for the negative samples of Algorithm 1 (Sec 2.1.2).

* noise: uniform on [-scale, scale] or Gaussian N(0, scale^2) (``noise_init``);
* data: a batch of (perturbed) training states, drawn by the trainer;
* persistent: :class:`PersistentBank`, one state per training example, initialised from noise;
  each step a random batch is drawn, updated by Langevin and written back.
"""

from __future__ import annotations

import torch

NOISE_KINDS = ("uniform", "gaussian")


def noise_init(kind: str, shape: tuple[int, ...], generator: torch.Generator | None = None,
               scale: float = 1.0, device: str | torch.device = "cpu") -> torch.Tensor:
    """Noise states: ``uniform`` on [-scale, scale] or ``gaussian`` with sd ``scale``."""
    if kind == "uniform":
        return scale * (2 * torch.rand(shape, generator=generator, device=device) - 1)
    if kind == "gaussian":
        return scale * torch.randn(shape, generator=generator, device=device)
    raise ValueError(f"noise kind {kind!r} is invalid: it must be one of {NOISE_KINDS}")


class PersistentBank:
    """A bank of persistent chains (Sec 2.1.2): draw a random batch, write the updated batch back."""

    def __init__(self, states: torch.Tensor):
        if states.dim() < 2 or states.shape[0] < 1:
            raise ValueError(f"a persistent bank needs states of shape (size, ...), got {tuple(states.shape)}")
        self.states = states.detach().clone()

    @classmethod
    def from_noise(cls, size: int, state_shape: tuple[int, ...], kind: str = "uniform",
                   generator: torch.Generator | None = None, scale: float = 1.0,
                   device: str | torch.device = "cpu") -> "PersistentBank":
        return cls(noise_init(kind, (size, *state_shape), generator, scale, device))

    def __len__(self) -> int:
        return self.states.shape[0]

    def draw(self, batch: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch of distinct bank states and their indices (to write back)."""
        if batch > len(self):
            raise ValueError(f"batch {batch} is larger than the persistent bank ({len(self)})")
        idx = torch.randperm(len(self), generator=generator, device=self.states.device)[:batch]
        return self.states[idx].clone(), idx

    def write(self, idx: torch.Tensor, states: torch.Tensor) -> None:
        self.states[idx] = states.detach().to(self.states.dtype)

    def state_dict(self) -> dict:
        return {"states": self.states.clone()}

    def load_state_dict(self, d: dict) -> None:
        self.states = d["states"].clone().to(self.states.device)
