"""Model specs: everything that determines a trained image potential (data, network F and
Algorithm 1's settings), and the network they build.

A spec says *what* to train. Which specs the book uses is :mod:`ebmbook.registry`; saving and
loading trained ones by spec hash is :mod:`ebmbook.store` / :mod:`ebmbook.artifacts`.

The class name and every field of :class:`ImageModelSpec` enter its hash
(:func:`ebmbook._config.config_hash`), under which the committed artifacts are stored: renaming
the class or a field, or adding one, orphans them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from ._config import config_hash, neutral_field, require_choice, require_int, require_positive
from .data.images import ImageOptions, check_dataset, load_images
from .energies.generator import ImageGenerator
from .energies.potentials import DeepFRAME
from .learning.coop import CoopConfig
from .learning.trainer import TrainConfig


@dataclass(frozen=True)
class ImageModelSpec:
    """Everything that determines a trained image potential: data, network and Algorithm 1.

    ``snapshot_every``: keep a copy of the weights every this many steps (0: none), e.g. for the
    hybrid-optimiser checkpoints of Fig 3.9. ``bank_keep``: how many persistent-bank states to
    store with the artifact (for long-run chains started from the steady state).
    ``metric_images``: the number of test images on which the quoted data energy is measured.
    """

    dataset: str = "fashion_mnist"
    image_size: int = 16
    classes: tuple[int, ...] | None = None
    n_per_class: int | None = None
    width: int = 16
    n_down: int = 2
    activation: str = "leaky_relu"
    leak: float = 0.05
    train: TrainConfig = field(default_factory=TrainConfig)
    snapshot_every: int = 0
    bank_keep: int = 256
    metric_images: int = 1000

    def __post_init__(self) -> None:
        check_dataset(self.dataset)
        require_int(self, "image_size", minimum=4)
        require_int(self, "width")
        require_int(self, "n_down", "snapshot_every", "bank_keep", minimum=0)
        require_int(self, "metric_images")
        require_positive(self, "leak", allow_zero=True)
        if not isinstance(self.train, TrainConfig):
            raise ValueError("config field 'train' must be a TrainConfig")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
        self.build_net()  # raises a ValueError naming the size if the net does not fit

    @property
    def shape(self) -> tuple[int, int, int]:
        return (1, self.image_size, self.image_size)

    def build_net(self) -> DeepFRAME:
        """A freshly initialised network F (weights seeded by ``train.seed``)."""
        return build_net(self)

    def options(self, split: str = "train") -> ImageOptions:
        return ImageOptions(classes=self.classes, size=self.image_size, scale="symmetric",
                            split=split, n_per_class=self.n_per_class if split == "train" else None)

    def load_data(self, split: str = "train") -> torch.Tensor:
        """The images ``(n, 1, s, s)`` in [-1, 1] of one split."""
        return load_images(self.dataset, self.options(split)).images

    def load_labelled(self, split: str = "train"):
        """The :class:`ImageSet` (images and labels) of one split."""
        return load_images(self.dataset, self.options(split))

    def with_steps(self, n_steps: int) -> "ImageModelSpec":
        """The same spec trained for ``n_steps``; every other field (the hybrid switch step,
        the snapshot and checkpoint periods) is kept, so the first ``n_steps`` of the longer
        run and the shorter run are the same computation."""
        return dataclasses.replace(self, train=dataclasses.replace(self.train, n_steps=n_steps))

    def describe(self) -> str:
        """A short human description, e.g. ``16x16, width 16, 6000 steps``."""
        s = self.image_size
        return f"{s}x{s}, width {self.width}, {self.train.n_steps} steps"


def build_net(spec: ImageModelSpec) -> DeepFRAME:
    """The DeepFRAME network F of ``spec`` (Sec 3.1.3), freshly initialised with the seed
    ``spec.train.seed`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.train.seed)
        return DeepFRAME(1, spec.image_size, width=spec.width, n_down=spec.n_down,
                         activation=spec.activation, leak=spec.leak)


def spec_hash(spec: "ImageModelSpec | CoopModelSpec") -> str:
    """The hash an artifact of ``spec`` is stored under (class name and every field)."""
    return config_hash(spec)


@dataclass(frozen=True)
class CoopModelSpec:
    """Everything that determines a trained Co-Op pair (Appendix A, Algorithm 4): the data, the
    descriptor F (a DeepFRAME net), the generator g (an :class:`ImageGenerator` with a
    ``latent_dim``-dimensional N(0, I) latent space) and the Co-Op settings.

    ``metric_images``: the number of held-out images on which the quoted data energy is measured.
    Every field and the class name enter the hash the artifact is stored under.
    """

    dataset: str = "mnist_5k"
    image_size: int = 16
    classes: tuple[int, ...] | None = None
    latent_dim: int = 8
    width: int = 16
    n_down: int = 2
    activation: str = "leaky_relu"
    leak: float = 0.05
    generator_width: int = 32
    train: CoopConfig = field(default_factory=CoopConfig)
    metric_images: int = 500
    #: how the generator doubles its side (:class:`ImageGenerator`): "transposed" convolutions
    #: or "resize" (nearest-neighbour, then a 3x3 convolution); hash-neutral at its default
    generator_upsample: str = neutral_field("transposed")

    def __post_init__(self) -> None:
        check_dataset(self.dataset)
        require_int(self, "image_size", minimum=4)
        require_int(self, "latent_dim", "width", "generator_width", "metric_images")
        require_int(self, "n_down", minimum=0)
        require_positive(self, "leak", allow_zero=True)
        require_choice(self, "generator_upsample", ImageGenerator.UPSAMPLE)
        if not isinstance(self.train, CoopConfig):
            raise ValueError("config field 'train' must be a CoopConfig")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
        self.build_nets()  # raises a ValueError naming the size if a net does not fit

    @property
    def shape(self) -> tuple[int, int, int]:
        return (1, self.image_size, self.image_size)

    def build_nets(self) -> tuple[DeepFRAME, ImageGenerator]:
        """Freshly initialised (descriptor F, generator g), seeded by ``train.seed``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.train.seed)
            d = DeepFRAME(1, self.image_size, width=self.width, n_down=self.n_down,
                          activation=self.activation, leak=self.leak)
            g = ImageGenerator(self.latent_dim, 1, self.image_size, width=self.generator_width,
                               upsample=self.generator_upsample)
        return d, g

    def options(self, split: str = "train") -> ImageOptions:
        return ImageOptions(classes=self.classes, size=self.image_size, scale="symmetric",
                            split=split)

    def load_data(self, split: str = "train") -> torch.Tensor:
        """The images ``(n, 1, s, s)`` in [-1, 1] of one split (MNIST-5k: the seeded 80/20
        split of each class; the ``test`` split is never seen in training)."""
        return load_images(self.dataset, self.options(split)).images

    def load_labelled(self, split: str = "train"):
        """The :class:`ImageSet` (images and labels) of one split."""
        return load_images(self.dataset, self.options(split))

    def with_steps(self, n_steps: int) -> "CoopModelSpec":
        return dataclasses.replace(self, train=dataclasses.replace(self.train, n_steps=n_steps))

    def describe(self) -> str:
        s = self.image_size
        return f"{s}x{s}, latent {self.latent_dim}, {self.train.n_steps} steps"
