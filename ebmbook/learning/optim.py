"""Optimiser schedules of Sec 3.1.1, 3.1.2 and 3.4.2.

* ``adam``: Adam at a constant rate (not rescaled: Adam is invariant to the loss scale).
* ``sgd``: plain SGD (no momentum) whose rate starts at ``sgd_lr`` and decays by ``sgd_decay``
  per step down to ``sgd_lr_min``. With the rescaled energy these are the gamma_0 of eq. (3.4):
  the rate applied to the U-loss is ``eps^2 / 2 * gamma_0``.
* ``hybrid``: Adam for steps ``< switch_step``, then the SGD schedule (its decay starts at the
  switch).
"""

from __future__ import annotations

import torch


class OptimizerSchedule:
    """Holds the active optimiser(s) and the learning-rate schedule; checkpointable."""

    def __init__(self, params, kind: str, *, adam_lr: float, sgd_lr: float, sgd_lr_min: float,
                 sgd_decay: float, switch_step: int = 0, sgd_scale: float = 1.0):
        params = list(params)
        self.kind = kind
        self.switch_step = switch_step if kind == "hybrid" else (0 if kind == "sgd" else None)
        self.sgd_scale = sgd_scale
        self.sgd_lr, self.sgd_lr_min, self.sgd_decay = sgd_lr, sgd_lr_min, sgd_decay
        self.adam = torch.optim.Adam(params, lr=adam_lr) if kind in ("adam", "hybrid") else None
        self.sgd = (torch.optim.SGD(params, lr=sgd_lr * sgd_scale)
                    if kind in ("sgd", "hybrid") else None)

    def uses_sgd(self, step: int) -> bool:
        return self.switch_step is not None and step >= self.switch_step

    def gamma0(self, step: int) -> float:
        """The (unscaled) SGD rate at ``step``: decayed from the switch, floored at the minimum."""
        k = step - self.switch_step
        return max(self.sgd_lr_min, self.sgd_lr * self.sgd_decay ** k)

    def lr(self, step: int) -> float:
        """The rate applied at ``step`` (for SGD: the rescaled rate eps^2/2 * gamma_0)."""
        if self.uses_sgd(step):
            return self.gamma0(step) * self.sgd_scale
        return self.adam.param_groups[0]["lr"]

    def step(self, step: int) -> None:
        """Apply the gradients currently in ``.grad`` with the optimiser active at ``step``."""
        if self.uses_sgd(step):
            for group in self.sgd.param_groups:
                group["lr"] = self.lr(step)
            self.sgd.step()
        else:
            self.adam.step()

    def zero_grad(self) -> None:
        for opt in (self.adam, self.sgd):
            if opt is not None:
                opt.zero_grad(set_to_none=True)

    def state_dict(self) -> dict:
        return {"adam": self.adam.state_dict() if self.adam else None,
                "sgd": self.sgd.state_dict() if self.sgd else None}

    def load_state_dict(self, d: dict) -> None:
        if self.adam is not None:
            self.adam.load_state_dict(d["adam"])
        if self.sgd is not None:
            self.sgd.load_state_dict(d["sgd"])
