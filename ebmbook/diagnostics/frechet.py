"""Sample quality as a Fréchet distance in the features of a trained classifier (Table 3.1).

The thesis compares short-run samples with a GAN's and a VAE's by eye and by a score. Here the
score is the Fréchet distance between two sets of images, read through a classifier (the
"judge") trained on labelled images that neither set contains: fit a Gaussian to each set's
judge features (the penultimate layer) and take::

    FD = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2}),

the 2-Wasserstein distance between the two Gaussians (as in the FID of Heusel et al., with a
judge trained on the book's own data instead of an Inception network). Lower is better; two
independent sets of real images give the floor, which is above 0 for finite sets.

* :func:`frechet_distance` - the distance between two feature sets (or two Gaussians);
* :class:`FeatureJudge` / :func:`fit_feature_judge` - a small ConvNet classifier whose
  penultimate layer gives the features, with its held-out accuracy;
* :func:`pca_gaussian_samples`, :func:`gmm_samples` - the simple generative baselines of the
  table: a Gaussian in the top principal components, and a Gaussian mixture in them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


def _gaussian(features) -> tuple[np.ndarray, np.ndarray]:
    f = features.detach().cpu().numpy() if hasattr(features, "detach") else np.asarray(features)
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must have shape (n, d) with n >= 2, got {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def frechet_from_moments(mu_a, cov_a, mu_b, cov_b) -> float:
    """The Fréchet (2-Wasserstein) distance between N(mu_a, cov_a) and N(mu_b, cov_b)."""
    mu_a, mu_b = np.asarray(mu_a, float), np.asarray(mu_b, float)
    cov_a, cov_b = np.atleast_2d(cov_a).astype(float), np.atleast_2d(cov_b).astype(float)
    # tr((S_a^1/2 S_b S_a^1/2)^1/2) from symmetric eigendecompositions: exact for singular
    # (e.g. dead-ReLU) covariances, where a general matrix square root is unstable
    w, v = np.linalg.eigh((cov_a + cov_a.T) / 2)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = root_a @ cov_b @ root_a
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    trace = np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross
    return float(np.sum((mu_a - mu_b) ** 2) + max(trace, 0.0))


def frechet_distance(features_a, features_b) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets ``(n, d)``."""
    mu_a, cov_a = _gaussian(features_a)
    mu_b, cov_b = _gaussian(features_b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"feature sets differ in dimension: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    return frechet_from_moments(mu_a, cov_a, mu_b, cov_b)


class _JudgeNet(nn.Module):
    def __init__(self, channels: int, side: int, n_classes: int, width: int, n_features: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * (side // 4) ** 2, n_features), nn.ReLU())
        self.head = nn.Linear(n_features, n_classes)

    def forward(self, x):
        return self.head(self.body(x))


@dataclass
class FeatureJudge:
    """A trained ConvNet classifier: ``features(x)`` (its penultimate layer, ``(n, d)``),
    ``predict(x)``, and ``accuracy`` on held-out images."""

    net: _JudgeNet
    classes: np.ndarray
    accuracy: float
    n_train: int
    n_test: int

    @torch.no_grad()
    def features(self, images: torch.Tensor, chunk: int = 1000) -> np.ndarray:
        self.net.eval()
        x = images.float().cpu()
        return torch.cat([self.net.body(x[i:i + chunk]) for i in range(0, len(x), chunk)]
                         ).double().numpy()

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> np.ndarray:
        self.net.eval()
        return self.classes[self.net(images.float().cpu()).argmax(1).numpy()]

    def frechet(self, images_a: torch.Tensor, images_b: torch.Tensor) -> float:
        """The Fréchet distance between two image sets in this judge's features."""
        return frechet_distance(self.features(images_a), self.features(images_b))


def fit_feature_judge(train_images: torch.Tensor, train_labels, test_images: torch.Tensor,
                      test_labels, *, epochs: int = 3, batch_size: int = 128, width: int = 16,
                      n_features: int = 64, lr: float = 2e-3, seed: int = 0,
                      progress: bool = False) -> FeatureJudge:
    """Train a :class:`FeatureJudge` on (``train_images``, ``train_labels``) with Adam and
    measure its accuracy on the test pair. Images: ``(n, C, s, s)`` with ``s`` divisible by 4."""
    x = torch.as_tensor(train_images).float().cpu()
    if x.dim() != 4 or x.shape[2] != x.shape[3] or x.shape[2] % 4:
        raise ValueError(f"the judge needs square images (n, C, s, s) with s divisible by 4, "
                         f"got {tuple(x.shape)}")
    y_raw = np.asarray(train_labels)
    classes = np.unique(y_raw)
    if len(classes) < 2 or len(y_raw) != len(x):
        raise ValueError(f"need one label per image and at least two classes; got {len(y_raw)} "
                         f"labels for {len(x)} images, classes {classes.tolist()}")
    y = torch.as_tensor(np.searchsorted(classes, y_raw))
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = _JudgeNet(x.shape[1], x.shape[2], len(classes), width, n_features)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = range(epochs)
    if progress:
        from .._progress import tqdm
        steps = tqdm(steps, desc="judge", leave=False)
    net.train()
    for _ in steps:
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    judge = FeatureJudge(net=net, classes=classes, accuracy=float("nan"), n_train=len(x),
                         n_test=len(test_images))
    judge.accuracy = float((judge.predict(torch.as_tensor(test_images)) ==
                            np.asarray(test_labels)).mean())
    return judge


def _pca(images: torch.Tensor, k: int):
    from sklearn.decomposition import PCA
    X = images.reshape(len(images), -1).double().cpu().numpy()
    if not 1 <= k <= min(X.shape):
        raise ValueError(f"n_components = {k} must be in [1, {min(X.shape)}]")
    pca = PCA(n_components=k, random_state=0).fit(X)
    return pca, pca.transform(X)


def _to_images(pca, coeffs: np.ndarray, like: torch.Tensor, clip: tuple[float, float]):
    x = pca.inverse_transform(coeffs).clip(*clip)
    return torch.as_tensor(x, dtype=like.dtype).reshape(len(x), *like.shape[1:])


def pca_gaussian_samples(images: torch.Tensor, n: int, *, n_components: int = 16,
                         seed: int = 0, clip: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """``n`` images drawn from a Gaussian fitted to the top ``n_components`` principal
    components of ``images`` (mapped back to pixels and clipped to ``clip``)."""
    pca, c = _pca(images, n_components)
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal(c.mean(0), np.cov(c, rowvar=False), size=n)
    return _to_images(pca, z, images, clip)


def gmm_samples(images: torch.Tensor, n: int, *, n_clusters: int = 10, n_components: int = 16,
                seed: int = 0, clip: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """``n`` images drawn from a ``n_clusters``-component Gaussian mixture (full covariances)
    fitted to the top ``n_components`` principal components of ``images``."""
    from sklearn.mixture import GaussianMixture
    pca, c = _pca(images, n_components)
    gmm = GaussianMixture(n_clusters, covariance_type="full", random_state=seed).fit(c)
    z, _ = gmm.sample(n)
    z = z[np.random.default_rng(seed).permutation(n)]   # sample() groups draws by component
    return _to_images(pca, z, images, clip)
