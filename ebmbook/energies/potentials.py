"""Learnable potentials: the 2D MLP of the toy experiments and the DeepFRAME ConvNet (Sec 3.1.3),
plus the wrappers that turn a network F into the energy U that Langevin samples.

* :class:`MLPPotential` - the toy net (2 -> 32 -> 64 -> 64 -> 64 -> 1, LeakyReLU(0.05)).
* :class:`DeepFRAME` - a 3x3 conv, then ``n_down`` 4x4 stride-2 convs that double the width
  from ``width``, and a scalar fully connected head.
* :class:`RescaledPotential` - U = F / (eps^2 / 2) (eq. 3.2), optionally plus the Gaussian
  prior ||x||^2 / (2 sigma^2) of eq. (3.10).
"""

from __future__ import annotations

import torch
from torch import nn

_ACTIVATIONS = {
    "leaky_relu": lambda leak: nn.LeakyReLU(leak),
    "relu": lambda leak: nn.ReLU(),
    "elu": lambda leak: nn.ELU(),
    "swish": lambda leak: nn.SiLU(),
}


def _activation(name: str, leak: float) -> nn.Module:
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation = {name!r} is invalid: it must be one of "
                         + ", ".join(repr(k) for k in _ACTIVATIONS))
    return _ACTIVATIONS[name](leak)


class MLPPotential(nn.Module):
    """F(x) for 2D (or any flat) states: an MLP with a scalar output, shape ``(n, dim) -> (n,)``."""

    def __init__(self, dim: int = 2, widths: tuple[int, ...] = (32, 64, 64, 64),
                 activation: str = "leaky_relu", leak: float = 0.05):
        super().__init__()
        if dim < 1 or not widths or min(widths) < 1:
            raise ValueError(f"dim and widths must be positive, got dim={dim}, widths={widths}")
        layers: list[nn.Module] = []
        last = dim
        for w in widths:
            layers += [nn.Linear(last, w), _activation(activation, leak)]
            last = w
        layers.append(nn.Linear(last, 1))
        self.net = nn.Sequential(*layers)
        self.dim = dim

        self.activation, self.leak = activation, float(leak)
        self._linears = tuple(m for m in layers if isinstance(m, nn.Linear))  # no copies

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"MLPPotential expects states of shape (n, {self.dim}), "
                             f"got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.net(x).squeeze(1)

    @property
    def has_value_and_grad(self) -> bool:
        """Whether :meth:`value_and_grad` applies (piecewise-linear activations only)."""
        return self.activation in ("leaky_relu", "relu")

    def value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """F(x) ``(n,)`` and dF/dx ``(n, dim)`` by hand-written backpropagation, in the weights'
        current values, without building an autograd graph.

        The toy chapters run millions of Langevin steps of this small network at batch 100,
        where autograd's bookkeeping costs as much as the arithmetic: the two matrix products
        per layer and one fused (leaky) ReLU derivative are all that is left. Equal to autograd
        up to float rounding (``tests/test_precision.py``). For (leaky) ReLU networks only
        (:attr:`has_value_and_grad`)."""
        self._check(x)
        if not self.has_value_and_grad:
            raise ValueError(f"value_and_grad needs a (leaky) ReLU network, not {self.activation!r}")
        slope = self.leak if self.activation == "leaky_relu" else 0.0
        linears = self._linears
        pre = []
        a = x
        with torch.no_grad():
            for lin in linears[:-1]:
                h = torch.addmm(lin.bias, a, lin.weight.t())
                pre.append(h)
                a = torch.nn.functional.leaky_relu(h, slope)
            out = linears[-1]
            f = torch.addmm(out.bias, a, out.weight.t()).squeeze(1)
            g = out.weight.expand(x.shape[0], -1)
            for h, lin in zip(reversed(pre), reversed(linears[:-1])):
                g = torch.ops.aten.leaky_relu_backward(g, h, slope, False).mm(lin.weight)
        return f, g


class DeepFRAME(nn.Module):
    """The minimal DeepFRAME ConvNet potential of Sec 3.1.3: ``(n, C, H, W) -> (n,)``.

    Layers: 3x3 conv (stride 1, pad 1) to ``width`` channels, then ``n_down`` 4x4 convs with
    stride 2 and pad 1, doubling the channels each time, then a fully connected scalar head.
    Activations between layers, none on the output.
    """

    def __init__(self, channels: int = 1, image_size: int = 28, width: int = 32,
                 n_down: int = 3, activation: str = "leaky_relu", leak: float = 0.05):
        super().__init__()
        if channels < 1 or width < 1 or n_down < 0:
            raise ValueError(f"channels, width must be >= 1 and n_down >= 0, got "
                             f"channels={channels}, width={width}, n_down={n_down}")
        side = image_size
        for _ in range(n_down):
            side = (side + 2 - 4) // 2 + 1
        if side < 1:
            raise ValueError(f"image_size = {image_size} is too small for n_down = {n_down} "
                             "stride-2 layers: use a larger image or fewer layers")
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), _activation(activation, leak)]
        c = width
        for _ in range(n_down):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1), _activation(activation, leak)]
            c *= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c * side * side, 1)
        self.shape = (channels, image_size, image_size)
        # channels-last weights: the CPU (oneDNN) and GPU convolution kernels are fastest in this
        # layout, for sampling and learning alike (benchmarks/langevin.py); values are unchanged
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"DeepFRAME expects images of shape (n, {self.shape[0]}, "
                             f"{self.shape[1]}, {self.shape[2]}), got {tuple(x.shape)}")
        h = self.features(x.contiguous(memory_format=torch.channels_last))
        # flatten in (C, H, W) order whatever the memory layout, as the head was trained
        return self.head(h.contiguous().flatten(1)).squeeze(1)


class RescaledPotential(nn.Module):
    """U(x) = F(x) / (eps^2 / 2) [+ ||x||^2 / (2 sigma^2)]: eqs. (3.2) and (3.10).

    With this U, a Langevin step of size eps is X - grad F(X) + eps Z (eq. 3.3). Set
    ``rescale=False`` to use U = F directly.
    """

    def __init__(self, net: nn.Module, eps: float, rescale: bool = True,
                 prior_sigma: float | None = None):
        super().__init__()
        self.net = net
        self.scale = 2.0 / (eps * eps) if rescale else 1.0
        self.prior_sigma = prior_sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.net(x) * self.scale
        if self.prior_sigma is not None:
            u = u + x.reshape(x.shape[0], -1).pow(2).sum(1) / (2 * self.prior_sigma ** 2)
        return u

    @property
    def has_value_and_grad(self) -> bool:
        """Whether the network F computes its own input gradient (see :meth:`value_and_grad`)."""
        return bool(getattr(self.net, "has_value_and_grad", False))

    def value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """U(x) and dU/dx from the network's own :meth:`MLPPotential.value_and_grad`."""
        f, g = self.net.value_and_grad(x)
        u, g = f * self.scale, g * self.scale
        if self.prior_sigma is not None:
            var = self.prior_sigma ** 2
            u = u + x.reshape(x.shape[0], -1).pow(2).sum(1) / (2 * var)
            g = g + x / var
        return u, g


class BoxedEnergy(nn.Module):
    """An image energy confined to the pixel range: ``(n, ...) -> (n,)``,

        U_box(x) = U(x) / unit + (stiffness / 2) * sum_i relu(|x_i| - bound)^2.

    The thesis maps digits in a bounded image space (8 grey levels in [0, 255], Sec 4.3.3). A
    ConvNet potential with (leaky) ReLUs is piecewise linear in x and keeps falling along some
    rays, so in the open space R^n a descent or a cold chain never settles; the quadratic wall
    (zero inside [-bound, bound]) gives it the same bounded domain while keeping the energy
    smooth enough for Langevin. ``unit`` divides U (e.g. the sd of U over data, so that
    temperatures and barriers read in data-energy sds). A Langevin step ``eps`` on ``U_box / T``
    is stable on the wall while ``eps^2 * stiffness / (2 T) < 2``.
    """

    def __init__(self, energy: nn.Module, unit: float = 1.0, bound: float = 1.0,
                 stiffness: float = 10.0):
        super().__init__()
        if not (unit > 0 and bound > 0 and stiffness > 0):
            raise ValueError(f"unit, bound and stiffness must be > 0, got {unit!r}, {bound!r}, "
                             f"{stiffness!r}")
        self.energy, self.unit = energy, float(unit)
        self.bound, self.stiffness = float(bound), float(stiffness)

    def wall(self, x: torch.Tensor) -> torch.Tensor:
        """The wall term alone, ``(n,)``."""
        over = (x.abs() - self.bound).clamp_min(0)
        return 0.5 * self.stiffness * over.pow(2).reshape(x.shape[0], -1).sum(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.energy(x) / self.unit + self.wall(x)


@torch.no_grad()
def batched_energy(energy, x: torch.Tensor, chunk: int = 500) -> torch.Tensor:
    """U over a large batch of states, ``chunk`` at a time, as float64 on the CPU ``(n,)``."""
    return torch.cat([energy(b) for b in x.split(chunk)]).double().cpu()
