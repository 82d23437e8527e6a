"""Reading a map against labels: cluster scores, matched baselines and a judge classifier.

* :func:`purity` - the share of items whose cluster's majority label is their own label;
  :func:`partition_scores` - purity, NMI and ARI of a partition (NMI and ARI are
  scikit-learn's ``normalized_mutual_info_score`` and ``adjusted_rand_score``).
* :func:`matched_baselines` - KMeans (``n_init=10``) and SpectralClustering (k-nearest-neighbour
  affinity) on the same features at the same number of clusters K as a map, so a map's
  partition is compared with clusterers that were given its K.
* :class:`Judge` - a digit (or class) reader used only to *read* maps, never to train or tune
  them: multinomial logistic regression on pixels, trained on images the mapped model never
  saw, with its held-out accuracy.
* :func:`basin_readings` - for each basin, the judge's majority label and its share.

scikit-learn is imported lazily (it is an optional dependency of the package).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _labels(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {a.shape}")
    return a


def _pair(true, pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(true, "labels_true"), _labels(pred, "labels_pred")
    if t.shape != p.shape:
        raise ValueError(f"labels_true and labels_pred differ in length: {t.shape[0]} vs "
                         f"{p.shape[0]}")
    if t.size == 0:
        raise ValueError("cannot score an empty partition")
    return t, p


def purity(labels_true, labels_pred) -> float:
    """Share of items whose cluster's most common true label is their own:
    ``sum_k max_c |cluster k and class c| / n``. 1 for a partition that never mixes classes."""
    t, p = _pair(labels_true, labels_pred)
    _, ti = np.unique(t, return_inverse=True)
    _, pi = np.unique(p, return_inverse=True)
    table = np.zeros((pi.max() + 1, ti.max() + 1), dtype=np.int64)
    np.add.at(table, (pi, ti), 1)
    return float(table.max(axis=1).sum() / t.size)


def partition_scores(labels_true, labels_pred) -> dict[str, float]:
    """``{"purity", "nmi", "ari", "k"}`` of a partition against true labels."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    t, p = _pair(labels_true, labels_pred)
    return {"purity": purity(t, p), "nmi": float(normalized_mutual_info_score(t, p)),
            "ari": float(adjusted_rand_score(t, p)), "k": int(np.unique(p).size)}


def matched_baselines(features, k: int, seed: int = 0,
                      n_neighbors: int = 10) -> dict[str, np.ndarray]:
    """Cluster ``features`` (n, ...) into ``k`` groups with KMeans (``n_init=10``) and with
    SpectralClustering on a symmetrised ``n_neighbors``-NN graph. Returns
    ``{"kmeans": labels, "spectral": labels}``."""
    from sklearn.cluster import KMeans, SpectralClustering
    X = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= len(X)):
        raise ValueError(f"k must be an integer in [1, {len(X)}] (the number of items), got {k!r}")
    km = KMeans(n_clusters=int(k), n_init=10, random_state=seed).fit_predict(X)
    if k == 1:
        return {"kmeans": km, "spectral": np.zeros(len(X), dtype=np.int64)}
    if k == len(X):      # one item per cluster: the only partition (a spectral embedding of
        return {"kmeans": km, "spectral": np.arange(len(X))}   # k >= n points fails)
    sc = SpectralClustering(n_clusters=int(k), affinity="nearest_neighbors",
                            n_neighbors=min(n_neighbors, len(X) - 1), random_state=seed,
                            assign_labels="cluster_qr").fit_predict(X)
    return {"kmeans": km, "spectral": sc}


@dataclass
class Judge:
    """A classifier that reads images: logistic regression on flattened pixels.

    ``accuracy`` is measured on images it was not fitted on (:func:`fit_judge`)."""

    model: object
    accuracy: float
    n_train: int
    n_test: int

    def predict(self, images) -> np.ndarray:
        X = _flat(images)
        return np.asarray(self.model.predict(X))

    def predict_proba(self, images) -> np.ndarray:
        return np.asarray(self.model.predict_proba(_flat(images)))

    @property
    def classes(self) -> np.ndarray:
        return np.asarray(self.model.classes_)

    @property
    def n_inputs(self) -> int:
        """The number of values (pixels) of the images it reads."""
        return int(self.model.n_features_in_)


def _flat(images) -> np.ndarray:
    a = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    return a.reshape(len(a), -1).astype(np.float64)


def spectrum_features(X: np.ndarray) -> np.ndarray:
    """``log(1 + |FFT|)`` of each square image (rows of ``X`` are flattened images), after
    removing its mean: a description of how much of each spatial frequency an image holds,
    blind to where things are (a shift changes only the FFT's phase)."""
    X = np.asarray(X, dtype=np.float64)
    s = int(round(np.sqrt(X.shape[1])))
    if s * s != X.shape[1]:
        raise ValueError(f"spectrum features need square images; got {X.shape[1]} pixels")
    im = X.reshape(len(X), s, s)
    F = np.abs(np.fft.rfft2(im - im.mean(axis=(1, 2), keepdims=True)))
    return np.log1p(F.reshape(len(X), -1))


def fit_judge(train_images, train_labels, test_images, test_labels, *, C: float = 0.1,
              max_iter: int = 2000, features: str = "pixels") -> Judge:
    """Fit a :class:`Judge` on (``train_images``, ``train_labels``) and measure its accuracy on
    the test pair (images of shape (n, ...), labels (n,)). ``features``: ``"pixels"`` (logistic
    regression on the pixels) or ``"spectrum"`` (on standardised :func:`spectrum_features`,
    for labels that are about scale rather than shape, such as a patch's scale)."""
    from sklearn.linear_model import LogisticRegression
    if features not in ("pixels", "spectrum"):
        raise ValueError(f"features = {features!r} is invalid: it must be 'pixels' or "
                         "'spectrum'")
    Xtr, Xte = _flat(train_images), _flat(test_images)
    ytr, yte = _labels(train_labels, "train_labels"), _labels(test_labels, "test_labels")
    if len(Xtr) != len(ytr) or len(Xte) != len(yte):
        raise ValueError(f"images and labels differ in length: train {len(Xtr)} vs {len(ytr)}, "
                         f"test {len(Xte)} vs {len(yte)}")
    clf = LogisticRegression(C=C, max_iter=max_iter)
    if features == "spectrum":
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, StandardScaler
        clf = make_pipeline(FunctionTransformer(spectrum_features), StandardScaler(), clf)
    clf = clf.fit(Xtr, ytr)
    acc = float((clf.predict(Xte) == yte).mean())
    return Judge(model=clf, accuracy=acc, n_train=len(Xtr), n_test=len(Xte))


def read_shares(predicted, classes) -> np.ndarray:
    """The share of ``predicted`` (n,) equal to each label of ``classes``, in that order."""
    y = np.asarray(predicted)
    return np.array([float(np.mean(y == c)) for c in classes])


def basin_readings(basin_of, predicted) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each basin ``b`` (0..B-1) of ``basin_of`` (n,): the majority label among
    ``predicted`` (n,), the share of members with it, and the number of members.
    Basins with no members get label -1 and share nan."""
    b, y = _pair(predicted, basin_of)[1], _labels(predicted, "predicted")
    B = int(b.max()) + 1
    label = np.full(B, -1, dtype=np.int64)
    share = np.full(B, np.nan)
    size = np.bincount(b, minlength=B)
    for k in range(B):
        ys = y[b == k]
        if ys.size:
            vals, counts = np.unique(ys, return_counts=True)
            label[k] = int(vals[np.argmax(counts)])
            share[k] = counts.max() / ys.size
    return label, share, size


@dataclass(frozen=True)
class Coherence:
    """How alike the members of the same group are, against random groups of the same sizes."""

    within: float        # mean distance between two members of the same group
    random: float        # the same statistic with the group labels shuffled (mean over shuffles)
    random_sd: float     # its sd over the shuffles
    ratio: float         # within / random: 1 for groups no better than chance, < 1 coherent
    n_pairs: int         # same-group pairs the statistic averages over


def group_coherence(features, groups, *, n_shuffles: int = 200, seed: int = 0) -> Coherence:
    """Mean Euclidean distance between members of the same group (over all same-group pairs;
    singleton groups have none) against its value for random groups of the same sizes (the
    labels shuffled ``n_shuffles`` times, seeded). ``features``: (n, ...) array or tensor."""
    X = _flat(features)
    g = _labels(groups, "groups")
    if len(X) != len(g):
        raise ValueError(f"features and groups differ in length: {len(X)} vs {len(g)}")
    if n_shuffles < 1:
        raise ValueError(f"n_shuffles = {n_shuffles} is invalid: it must be at least 1")
    sq = (X * X).sum(1)
    D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * X @ X.T, 0.0))
    iu = np.triu_indices(len(X), 1)
    d = D[iu]

    def stat(lab: np.ndarray) -> tuple[float, int]:
        same = lab[iu[0]] == lab[iu[1]]
        n = int(same.sum())
        return (float(d[same].mean()) if n else float("nan")), n

    within, n_pairs = stat(g)
    if n_pairs == 0:
        raise ValueError("no group has two members: group coherence is undefined")
    rng = np.random.default_rng(seed)
    rand = np.array([stat(rng.permutation(g))[0] for _ in range(n_shuffles)])
    r = float(np.mean(rand))
    return Coherence(within=within, random=r, random_sd=float(np.std(rand)),
                     ratio=within / r if r > 0 else float("nan"), n_pairs=n_pairs)
