"""Learnable potentials: the 2D MLP of the toy experiments and the DeepFRAME ConvNet (Sec 3.1.3),
plus the wrappers that turn a network F into the energy U that Langevin samples.

* :class:`MLPPotential` - the toy net (2 -> 32 -> 64 -> 64 -> 64 -> 1, LeakyReLU(0.05)).
* :class:`StackedMLP` - K independent MLPs of one shape run as one batched program, and
  :class:`StackedGradient` - the input gradient of one or more stacks at fixed weights, which
  :meth:`RescaledPotential.prepared_gradient` offers the sampler's gradient-only chains.
* :class:`FrameGradient` - the same for a (leaky) ReLU DeepFRAME, in fp32 or bf16: autograd's
  backward ops without autograd, used by every plain Langevin chain of such a network.
* :class:`DeepFRAME` - a 3x3 conv, then ``n_down`` 4x4 stride-2 convs that double the width
  from ``width``, and a scalar fully connected head.
* :class:`RescaledPotential` - U = F / (eps^2 / 2) (eq. 3.2), optionally plus the Gaussian
  prior ||x||^2 / (2 sigma^2) of eq. (3.10).
"""

from __future__ import annotations

import torch
from torch import nn

from .precision import effective_precision

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
        # (weight, bias) of each layer, fetched once per call: nn.Module attribute lookups and
        # the Python wrappers of F.linear / F.leaky_relu cost as much as a small matmul here
        params = [(lin.weight, lin.bias) for lin in self._linears]
        linear, leaky, leaky_back = (torch._C._nn.linear, torch._C._nn.leaky_relu,
                                     torch.ops.aten.leaky_relu_backward)
        pre = []
        a = x
        with torch.no_grad():
            for w, b in params[:-1]:
                h = linear(a, w, b)
                pre.append(h)
                a = leaky(h, slope)
            w_out, b_out = params[-1]
            f = linear(a, w_out, b_out).squeeze(1)
            g = w_out.expand(x.shape[0], -1)
            for h, (w, _) in zip(reversed(pre), reversed(params[:-1])):
                g = leaky_back(g, h, slope, False).mm(w)
        return f, g



class StackedMLP(nn.Module):
    """K independent :class:`MLPPotential` networks of one shape, evaluated as one program.

    States of the K networks travel as one flat batch ``(K * n, dim)``: rows ``k*n .. (k+1)*n - 1``
    belong to network k, and the energies come back as ``(K * n,)`` in the same order. Each
    layer is one batched matrix product over the K networks (``baddbmm``), so a step of K small
    networks costs a fraction of K separate steps: at batch 100 the toy MLP is bound by per-op
    overhead and small matrix products (``benchmarks/langevin.py`` prints the ratio). The
    networks share nothing: the gradient of a loss that sums their terms reaches each network's
    slice of the stacked weights only from its own term, and elementwise optimisers (SGD, Adam)
    update the slices independently, exactly as K separate runs would (up to float rounding).

    Build it from K networks with :meth:`from_nets` (their weights are copied in) and copy the
    weights back with :meth:`copy_into` or :meth:`unstack`.
    """

    def __init__(self, k: int, dim: int = 2, widths: tuple[int, ...] = (32, 64, 64, 64),
                 activation: str = "leaky_relu", leak: float = 0.05):
        super().__init__()
        if k < 1 or dim < 1 or not widths or min(widths) < 1:
            raise ValueError(f"k, dim and widths must be positive, got k={k}, dim={dim}, "
                             f"widths={widths}")
        self.act = _activation(activation, leak)    # raises on an unknown name
        self.k, self.dim, self.widths = int(k), int(dim), tuple(widths)
        self.activation, self.leak = activation, float(leak)
        sizes = (dim, *widths, 1)
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(k, o, i))
                                        for i, o in zip(sizes[:-1], sizes[1:]))
        self.biases = nn.ParameterList(nn.Parameter(torch.empty(k, o)) for o in sizes[1:])
        # plain (weight, bias) pairs: ParameterList indexing costs microseconds per access, and
        # the parameters stay the same objects through optimiser steps, load_state_dict and .to
        self._layers = tuple(zip(self.weights, self.biases))

    @classmethod
    def from_nets(cls, nets) -> "StackedMLP":
        """A stack holding copies of the weights of ``nets`` (MLPPotentials of one shape)."""
        nets = list(nets)
        if not nets or not all(isinstance(n, MLPPotential) for n in nets):
            raise TypeError("StackedMLP.from_nets needs a non-empty list of MLPPotential")
        first = nets[0]
        shape = _mlp_shape(first)
        for i, n in enumerate(nets[1:], 1):
            if _mlp_shape(n) != shape:
                raise ValueError(f"network {i} has shape {_mlp_shape(n)}, network 0 has {shape}: "
                                 "only networks of one shape can be stacked")
        dim, widths, activation, leak = shape
        stack = cls(len(nets), dim, widths, activation, leak).to(first._linears[0].weight)
        with torch.no_grad():
            for j in range(len(first._linears)):
                stack.weights[j].copy_(torch.stack([n._linears[j].weight for n in nets]))
                stack.biases[j].copy_(torch.stack([n._linears[j].bias for n in nets]))
        return stack

    def copy_into(self, nets) -> None:
        """Write network k's weights into ``nets[k]`` (MLPPotentials of this shape)."""
        nets = list(nets)
        if len(nets) != self.k:
            raise ValueError(f"this stack holds {self.k} networks, got {len(nets)} to copy into")
        with torch.no_grad():
            for k, n in enumerate(nets):
                if _mlp_shape(n) != (self.dim, self.widths, self.activation, self.leak):
                    raise ValueError(f"network {k} does not have this stack's shape")
                for j, lin in enumerate(n._linears):
                    lin.weight.copy_(self.weights[j][k])
                    lin.bias.copy_(self.biases[j][k])

    def unstack(self) -> list[MLPPotential]:
        """The K networks as separate :class:`MLPPotential` modules (copies)."""
        nets = [MLPPotential(self.dim, self.widths, self.activation, self.leak)
                .to(self.weights[0]) for _ in range(self.k)]
        self.copy_into(nets)
        return nets

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim or x.shape[0] % self.k:
            raise ValueError(f"StackedMLP of {self.k} networks expects states of shape "
                             f"(k * n, {self.dim}) with k = {self.k}, got {tuple(x.shape)}")
        return x.reshape(self.k, x.shape[0] // self.k, self.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self._split(x)
        last = len(self._layers) - 1
        for j, (w, b) in enumerate(self._layers):
            a = torch.baddbmm(b.unsqueeze(1), a, w.transpose(1, 2))
            if j < last:
                a = self.act(a)
        return a.reshape(-1)

    @property
    def has_value_and_grad(self) -> bool:
        """Whether :meth:`value_and_grad` applies (piecewise-linear activations only)."""
        return self.activation in ("leaky_relu", "relu")

    def value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Energies ``(K * n,)`` and input gradients ``(K * n, dim)`` by hand-written
        backpropagation, as :meth:`MLPPotential.value_and_grad` does for one network."""
        if not self.has_value_and_grad:
            raise ValueError(f"value_and_grad needs a (leaky) ReLU network, not {self.activation!r}")
        a = self._split(x)
        slope = self.leak if self.activation == "leaky_relu" else 0.0
        params = self._layers
        leaky, leaky_back = torch._C._nn.leaky_relu, torch.ops.aten.leaky_relu_backward
        pre = []
        with torch.no_grad():
            for w, b in params[:-1]:
                h = torch.baddbmm(b.unsqueeze(1), a, w.transpose(1, 2))
                pre.append(h)
                a = leaky(h, slope)
            w_out, b_out = params[-1]
            f = torch.baddbmm(b_out.unsqueeze(1), a, w_out.transpose(1, 2))
            g = w_out.expand(-1, a.shape[1], -1)
            for h, (w, _) in zip(reversed(pre), reversed(params[:-1])):
                g = torch.bmm(leaky_back(g, h, slope, False), w)
        return f.reshape(-1), g.reshape(-1, self.dim)


class StackedGradient:
    """The input gradients ``dF_k/dx`` of the networks of one or more :class:`StackedMLP` of one
    shape, at their current weights, for many evaluations at one batch size (optionally times a
    factor per stack: the gradient of U = scale * F).

    A Langevin chain between two optimiser steps evaluates the gradient of fixed networks L
    times. At the toy size each evaluation is a few dozen small ops, so everything that does not
    depend on the states is done once here: the weights of the stacks are concatenated (K = the
    sum of their sizes), their transposes and the biases' broadcast views are made, and the
    output layer's row is expanded to the batch. The network's value F is not computed (a
    chain needs only its gradient). The arithmetic is that of :meth:`StackedMLP.value_and_grad`
    (and of :meth:`RescaledPotential.value_and_grad` with ``scales``), op for op, so the
    gradients are the same bit for bit (``tests/test_stacked.py``). It is what
    :meth:`RescaledPotential.prepared_gradient` returns for the sampler's gradient-only chains.

    Call it with states ``(K, n, dim)`` (block k for network k; :attr:`shape`, the layout a
    chain keeps its states in), or with the same states as the flat batch ``(K * n, dim)`` of
    :class:`StackedMLP`; it returns a new tensor of gradients in the same shape. The weights are
    read when it is built: build a new one after the weights change.
    """

    def __init__(self, stacks, n: int, scales=None):
        stacks = list(stacks)
        if not stacks or not all(isinstance(s, StackedMLP) for s in stacks):
            raise TypeError("StackedGradient needs a non-empty list of StackedMLP")
        first = stacks[0]
        shape = (first.dim, first.widths, first.activation, first.leak)
        for s in stacks[1:]:
            if (s.dim, s.widths, s.activation, s.leak) != shape:
                raise ValueError("only stacks of one network shape can share a gradient program")
        if not first.has_value_and_grad:
            raise ValueError(f"StackedGradient needs (leaky) ReLU networks, not "
                             f"{first.activation!r}")
        if scales is not None and len(scales) != len(stacks):
            raise ValueError(f"give one scale per stack: {len(stacks)} stacks, "
                             f"{len(scales)} scales")
        self.slope = first.leak if first.activation == "leaky_relu" else 0.0
        with torch.no_grad():
            def cat(tensors):
                return tensors[0].detach() if len(tensors) == 1 else torch.cat(tensors)
            weights = [cat([s.weights[j] for s in stacks]) for j in range(len(first.weights))]
            biases = [cat([s.biases[j] for s in stacks]) for j in range(len(first.biases))]
        self.k, self.n, self.dim = int(weights[0].shape[0]), int(n), first.dim
        self.shape, self._flat = (self.k, self.n, self.dim), (self.k * self.n, self.dim)
        # the hidden layers as (transposed weight, bias view) for baddbmm, and their weights
        # for the backward products, exactly as StackedMLP.value_and_grad forms them
        self._forward = [(w.transpose(1, 2), b.unsqueeze(1))
                         for w, b in zip(weights[:-1], biases[:-1])]
        self._backward = weights[-2::-1]
        self._g_out = weights[-1].expand(-1, self.n, -1)
        # the factor of each stack: the float itself for one stack, else a (K, 1, 1) tensor
        # holding each stack's factor once per network (a float32 multiply by either gives the
        # same numbers, so a stack's gradients do not depend on the stacks beside it)
        if scales is None or len(scales) == 1:
            self._scale = None if scales is None else float(scales[0])
        else:
            w0 = weights[0]
            self._scale = torch.tensor([float(c) for c, s in zip(scales, stacks)
                                        for _ in range(s.k)], dtype=w0.dtype,
                                       device=w0.device).view(-1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.dim() == 2
        if x.shape != (self._flat if flat else self.shape):
            raise ValueError(f"this gradient program takes states of shape ({self.k}, {self.n}, "
                             f"{self.dim}) or ({self.k * self.n}, {self.dim}), got "
                             f"{tuple(x.shape)}")
        leaky, leaky_back = torch._C._nn.leaky_relu, torch.ops.aten.leaky_relu_backward
        slope = self.slope
        # the weights are detached copies or views: autograd records nothing here unless x
        # itself requires grad, so no no_grad block is needed (it costs microseconds a call)
        pre = []
        a = x.view(self.shape) if flat else x
        for wt, b in self._forward:
            h = torch.baddbmm(b, a, wt)
            pre.append(h)
            a = leaky(h, slope)
        g = self._g_out
        for h, w in zip(reversed(pre), self._backward):
            g = torch.bmm(leaky_back(g, h, slope, False), w)
        if self._scale is not None:
            g = g.mul_(self._scale)
        return g.view(self._flat) if flat else g


def _mlp_shape(net: MLPPotential) -> tuple:
    widths = tuple(lin.out_features for lin in net._linears[:-1])
    return (net.dim, widths, net.activation, net.leak)


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
        return self.head(_flatten_chw(h)).squeeze(1)


class _FlattenCHW(torch.autograd.Function):
    """``h.contiguous().flatten(1)`` whose gradient comes back in ``h``'s own memory layout.

    Autograd's flatten hands the last activation a (C, H, W)-ordered gradient while the
    activation itself is channels-last, and (leaky) ReLU's backward on two layouts takes a slow
    strided path: 20 times its usual cost, a quarter of a bf16 Langevin step of the 16x16
    model (measured with the torch profiler). Returning the gradient in the activation's layout
    costs one small copy."""

    @staticmethod
    def forward(ctx, h):
        ctx.channels_last = h.is_contiguous(memory_format=torch.channels_last)
        ctx.shape = h.shape
        return h.contiguous().flatten(1)

    @staticmethod
    def backward(ctx, g):
        g = g.reshape(ctx.shape)
        if ctx.channels_last:
            g = g.contiguous(memory_format=torch.channels_last)
        return g


def _flatten_chw(h: torch.Tensor) -> torch.Tensor:
    if h.dim() == 4 and h.shape[1] > 1 and torch.is_grad_enabled() and h.requires_grad:
        return _FlattenCHW.apply(h)
    return h.contiguous().flatten(1)


class FrameGradient:
    """The input gradient dU/dx of a (leaky) ReLU :class:`DeepFRAME` inside a
    :class:`RescaledPotential` (U = scale * F, no prior), at fixed weights, in ``precision``
    ("fp32" or "bf16"): what :meth:`RescaledPotential.prepared_gradient` returns for it.

    The chain needs only grad U, so the network's value is not computed. The program runs the
    forward convolutions, keeps the pre-activations, and then the backward ops that autograd
    would run, with the same arguments (``leaky_relu_backward``, ``convolution_backward`` of the
    input only, and ``threshold_backward`` for ReLU), in the same memory layout; the weights are
    cast once (bf16: what autocast casts them to on every evaluation) and the head's gradient,
    the same for every state, is formed once. So its gradients equal those of
    ``energy_and_grad(energy, x, precision=precision)`` bit for bit
    (``tests/test_langevin_gradient.py``) without autograd's graph or autocast's per-call casts,
    which at the book's 16x16 size cost a sixth of a bf16 step. The weights are read when it is
    built: build a new one after they change.
    """

    def __init__(self, energy: "RescaledPotential", n: int, precision: str = "fp32"):
        net = energy.net
        if not FrameGradient.applies(energy):
            raise ValueError("FrameGradient needs a RescaledPotential without a prior around a "
                             "(leaky) ReLU DeepFRAME")
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}.get(precision)
        if dtype is None:
            raise ValueError(f"precision = {precision!r}: FrameGradient runs in 'fp32' or 'bf16'")
        convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
        # bf16 only where native, as every evaluation (ebmbook.energies.precision)
        if effective_precision(precision, convs[0].weight.device) == "fp32":
            dtype = torch.float32
        act = net.features[1]
        self.relu = isinstance(act, nn.ReLU)
        self.slope = 0.0 if self.relu else float(act.negative_slope)
        self.dtype, self.n, self.state_shape = dtype, int(n), net.shape
        with torch.no_grad():
            # what autocast (bf16) or the network itself (fp32) convolves with
            self._convs = [(c.weight.detach().to(dtype), c.bias.detach().to(dtype),
                            [c.weight.shape[0]], c.stride, c.padding, c.dilation, c.groups)
                           for c in convs]
            # the head's gradient: autograd multiplies the (precision) scale into the head's
            # weight row, the same for every state; _FlattenCHW hands it back in (C, H, W)
            c = convs[-1].out_channels
            side = int(round((net.head.in_features // c) ** 0.5))
            scale = float(torch.tensor(energy.scale, dtype=dtype))
            top = (net.head.weight.detach().to(dtype) * scale).view(1, c, side, side)
            self._top = top.expand(self.n, c, side, side).contiguous(
                memory_format=torch.channels_last)

    @staticmethod
    def applies(energy) -> bool:
        """Whether ``energy`` is one this program computes exactly."""
        net = getattr(energy, "net", None)
        return (isinstance(energy, RescaledPotential) and energy.prior_sigma is None
                and type(net) is DeepFRAME
                and type(net.features[1]) in (nn.LeakyReLU, nn.ReLU))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape != (self.n, *self.state_shape):
            raise ValueError(f"this gradient program takes states of shape ({self.n}, "
                             + ", ".join(map(str, self.state_shape)) + f"), got {tuple(x.shape)}")
        aten = torch.ops.aten
        a = x.detach().contiguous(memory_format=torch.channels_last).to(self.dtype)
        last = len(self._convs) - 1
        inputs, saved = [], []
        with torch.no_grad():
            for i, (w, b, _, stride, pad, dil, groups) in enumerate(self._convs):
                inputs.append(a)
                z = torch.nn.functional.conv2d(a, w, b, stride, pad, dil, groups)
                if self.relu:
                    a = torch.relu(z)
                    saved.append(a)             # ReLU's backward reads its output
                else:
                    saved.append(z)             # LeakyReLU's backward reads its input
                    if i < last:
                        a = torch.nn.functional.leaky_relu(z, self.slope)
            g = self._top
            for i in range(last, -1, -1):
                if self.relu:
                    g = aten.threshold_backward(g, saved[i], 0)
                else:
                    g = aten.leaky_relu_backward(g, saved[i], self.slope, False)
                w, _, bias_sizes, stride, pad, dil, groups = self._convs[i]
                g = aten.convolution_backward(g, inputs[i], w, bias_sizes, stride, pad, dil,
                                              False, [0, 0], groups, [True, False, False])[0]
        return g.to(x.dtype)


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

    @property
    def prepared_precisions(self) -> tuple[str, ...]:
        """The precisions :meth:`prepared_gradient` can run in: fp32 and bf16 for a (leaky)
        ReLU DeepFRAME without a prior (:class:`FrameGradient`), else fp32 only."""
        return ("fp32", "bf16") if FrameGradient.applies(self) else ("fp32",)

    @property
    def prepared_by_default(self) -> bool:
        """Whether Langevin chains use :meth:`prepared_gradient` without being asked
        (``gradient_only``): true where the program is :class:`FrameGradient`, whose gradients
        are autograd's bit for bit, so no chain's numbers change."""
        return FrameGradient.applies(self)

    def prepared_gradient(self, n: int, others=(), precision: str = "fp32"
                          ) -> StackedGradient | FrameGradient | None:
        """dU/dx at the current weights, prepared once for the many evaluations of a Langevin
        chain: the gradient-only protocol of :mod:`ebmbook.sampling.langevin`.

        Returns a callable mapping ``n`` states ``(n, dim)`` of this energy, followed by the
        ``n_i`` states of each ``(energy, n_i)`` of ``others``, to their gradients in one
        program (a :class:`StackedGradient` with each energy's scale): the arithmetic of
        :meth:`value_and_grad`, without the value. For a (leaky) ReLU :class:`DeepFRAME`
        without a prior and no ``others``: a :class:`FrameGradient` in ``precision`` (one of
        :attr:`prepared_precisions`). Otherwise None unless every energy is a RescaledPotential
        without a prior around a (leaky) ReLU :class:`StackedMLP` of one shape and every
        energy's states split into equal blocks, one per network, of one size.
        """
        if precision not in self.prepared_precisions:
            return None
        if FrameGradient.applies(self):
            return None if others else FrameGradient(self, n, precision)
        energies = [(self, n), *others]
        nets = [e.net for e, _ in energies if isinstance(e, RescaledPotential)
                and e.prior_sigma is None and isinstance(e.net, StackedMLP)]
        if len(nets) != len(energies) or not nets[0].has_value_and_grad:
            return None
        shapes = {(net.dim, net.widths, net.activation, net.leak) for net in nets}
        sizes = {int(m) // net.k if int(m) % net.k == 0 else 0
                 for net, (_, m) in zip(nets, energies)}
        if len(shapes) > 1 or len(sizes) > 1 or min(sizes) < 1:
            return None
        return StackedGradient(nets, sizes.pop(), [e.scale for e, _ in energies])


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
