"""Generator networks g(z) and the energies they define (Sec 5.2.2 and Appendix A).

* :class:`ImageGenerator` - a small ConvNet ``(n, d) -> (n, C, S, S)``: a linear layer to a
  ``2 * width`` x ``S/4`` x ``S/4`` map, two doublings up to ``S`` x ``S`` (4x4 stride-2
  transposed convolutions, or nearest-neighbour resizing each followed by a 3x3 convolution),
  and a tanh so the images lie in [-1, 1] like the training data.
* :class:`MLPGenerator` - an MLP ``(n, d) -> (n, out_dim)`` with a linear output, for flat or toy
  data.
* :class:`LatentEnergy` - the cooperative energy of eq. (5.2) over latent states,
  ``z -> U(g(z)) + ||z||^2 / 2`` (the N(0, I) prior term can be switched off).
* :class:`GeneratorPosterior` - the energy of Z | X under the generator's Gaussian observation
  model (A.1), ``z -> ||x - g(z)||^2 / (2 sigma^2) + ||z||^2 / 2``: the target of the latent
  inference (A.2) of Co-Op learning.

Every generator has a ``latent_dim`` attribute, so a learner knows which z to draw.
"""

from __future__ import annotations

import torch
from torch import nn

from .potentials import _activation


def latent_dim_of(generator: nn.Module) -> int:
    """The latent dimension d of a generator network: its ``latent_dim`` attribute (or the
    ``in_features`` of a bare ``nn.Linear``)."""
    d = getattr(generator, "latent_dim", None)
    if d is None:
        d = getattr(generator, "in_features", None)
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"the generator network {type(generator).__name__} must have an integer "
                         "attribute latent_dim >= 1 (the dimension of z)")
    return d


class ImageGenerator(nn.Module):
    """g(z) for images: ``(n, latent_dim) -> (n, channels, image_size, image_size)`` in [-1, 1].

    Layers: linear to ``2 * width`` channels on an ``image_size/4`` square map (4x4 for 16x16
    images, 7x7 for 28x28), then two doublings of the side, to ``width`` channels and to
    ``channels``, with activations between layers and tanh on the output. ``upsample`` chooses
    the doubling:

    * ``"transposed"`` (the default): a 4x4 stride-2 transposed convolution. Its kernel overlaps
      unevenly on the output grid, so an untrained or weakly trained generator paints a
      period-2 checkerboard.
    * ``"resize"``: nearest-neighbour upsampling by 2, then a 3x3 convolution (padding 1). Every
      output pixel sees the same number of inputs, so there is no checkerboard; at the start
      of training the images are smooth, blocky at the finest scale.
    """

    UPSAMPLE = ("transposed", "resize")

    def __init__(self, latent_dim: int = 8, channels: int = 1, image_size: int = 28,
                 width: int = 32, activation: str = "leaky_relu", leak: float = 0.2,
                 upsample: str = "transposed"):
        super().__init__()
        if latent_dim < 1 or channels < 1 or width < 1:
            raise ValueError(f"latent_dim, channels and width must be >= 1, got latent_dim="
                             f"{latent_dim}, channels={channels}, width={width}")
        if image_size < 4 or image_size % 4:
            raise ValueError(f"image_size = {image_size} is invalid: it must be a multiple of 4 "
                             "(two stride-2 upsamplings from an image_size/4 map)")
        if upsample not in self.UPSAMPLE:
            raise ValueError(f"upsample = {upsample!r} is not one of {self.UPSAMPLE}")
        self.latent_dim, self.side0 = latent_dim, image_size // 4
        self.shape = (channels, image_size, image_size)
        self.width, self.upsample = width, upsample
        self.fc = nn.Linear(latent_dim, 2 * width * self.side0 ** 2)
        self.act = _activation(activation, leak)

        def double(c_in: int, c_out: int) -> list[nn.Module]:
            if upsample == "transposed":
                return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)]
            return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1)]

        self.up = nn.Sequential(*double(2 * width, width), _activation(activation, leak),
                                *double(width, channels), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"ImageGenerator expects latents of shape (n, {self.latent_dim}), "
                             f"got {tuple(z.shape)}")
        h = self.act(self.fc(z)).view(z.shape[0], 2 * self.width, self.side0, self.side0)
        return self.up(h)


class MLPGenerator(nn.Module):
    """g(z) for flat states: an MLP ``(n, latent_dim) -> (n, out_dim)`` with a linear output."""

    def __init__(self, latent_dim: int = 2, out_dim: int = 2, widths: tuple[int, ...] = (64, 64),
                 activation: str = "leaky_relu", leak: float = 0.2):
        super().__init__()
        if latent_dim < 1 or out_dim < 1 or (widths and min(widths) < 1):
            raise ValueError(f"latent_dim, out_dim and widths must be positive, got latent_dim="
                             f"{latent_dim}, out_dim={out_dim}, widths={widths}")
        layers: list[nn.Module] = []
        last = latent_dim
        for w in widths:
            layers += [nn.Linear(last, w), _activation(activation, leak)]
            last = w
        layers.append(nn.Linear(last, out_dim))
        self.net = nn.Sequential(*layers)
        self.latent_dim, self.out_dim = latent_dim, out_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"MLPGenerator expects latents of shape (n, {self.latent_dim}), "
                             f"got {tuple(z.shape)}")
        return self.net(z)


def _half_sq(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * z.reshape(z.shape[0], -1).pow(2).sum(1)


class LatentEnergy(nn.Module):
    """The cooperative energy of eq. (5.2) over latent states: ``(n, d) -> (n,)``,

        U_latent(z) = U(g(z)) + ||z||^2 / 2        (``prior=True``)

    where U is the descriptor energy (e.g. the :class:`RescaledPotential` a Co-Op descriptor is
    sampled with) and g the generator. ``||z||^2 / 2`` is the N(0, I) prior of the generator's
    latent factors: with it, exp(-U_latent) is the (unnormalised) joint density of z and its image
    and is proper; without it (``prior=False``, the authors' MATLAB maps) only U(g(z)) remains,
    which is flat far from the origin where a tanh generator saturates, so far-out z can pass for
    minima.

    ``unit`` divides the whole energy, a choice of units only (minima, barriers and basins do
    not change; temperatures and barriers then read in that unit), e.g. the sd of U over data
    for a descriptor whose energies span 1e5 (the rescaled U = F / (eps^2 / 2) with a small eps).
    """

    def __init__(self, energy: nn.Module, generator: nn.Module, prior: bool = True,
                 unit: float = 1.0):
        super().__init__()
        if not unit > 0:
            raise ValueError(f"unit must be > 0, got {unit!r}")
        self.energy, self.generator, self.prior = energy, generator, bool(prior)
        self.unit = float(unit)
        self.latent_dim = latent_dim_of(generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        u = self.energy(self.generator(z))
        u = u + _half_sq(z) if self.prior else u
        return u / self.unit if self.unit != 1.0 else u


class GeneratorPosterior(nn.Module):
    """The energy of Z given images ``x`` under the generator model (A.1), ``(n, d) -> (n,)``:

        U(z | x) = ||x - g(z)||^2 / (2 sigma^2) + ||z||^2 / 2,

    one z per image (row ``i`` of ``z`` goes with ``x[i]``). Langevin on it with step delta is
    the inference update (A.2). The images are held fixed (detached).
    """

    def __init__(self, generator: nn.Module, x: torch.Tensor, sigma: float):
        super().__init__()
        if not sigma > 0:
            raise ValueError(f"sigma (the generator's noise sd) must be > 0, got {sigma!r}")
        self.generator, self.sigma = generator, float(sigma)
        self.register_buffer("x", x.detach())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.shape[0] != self.x.shape[0]:
            raise ValueError(f"GeneratorPosterior holds {self.x.shape[0]} images but got "
                             f"{z.shape[0]} latents")
        r = (self.x - self.generator(z)).reshape(z.shape[0], -1)
        return r.pow(2).sum(1) / (2 * self.sigma ** 2) + _half_sq(z)
