"""Time-series diagnostics of learning (Sec 2.3 and 3.2.2, Fig 2.4, 3.3, 3.4)."""

from __future__ import annotations

import numpy as np


def energy_difference(u_pos, u_neg) -> float:
    """d_st of eq. (2.9): mean energy of positive samples minus mean energy of negatives."""
    return float(np.mean(np.asarray(u_pos, dtype=float)) - np.mean(np.asarray(u_neg, dtype=float)))


def _prep(x, center: bool) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"need a 1D series of length >= 2, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("series contains NaN or inf")
    return x - x.mean() if center else x


def autocorrelation(x, max_lag: int = 15, center: bool = True) -> np.ndarray:
    """ACF at lags 0..max_lag: ``sum_t x_t x_{t+k} / sum_t x_t^2``.

    With ``center=False`` the series is not mean-centred, so the ACF measures swings around 0;
    the thesis plots d_st this way and r_st centred (Fig 3.3/3.4).
    """
    x = _prep(x, center)
    max_lag = min(max_lag, x.size - 1)
    denom = float(np.dot(x, x))
    if denom == 0:
        raise ValueError("series is constant (zero after centring): its ACF is undefined")
    return np.array([np.dot(x[: x.size - k], x[k:]) / denom for k in range(max_lag + 1)])


def cross_correlation(x, y, max_lag: int = 15, center_x: bool = False,
                      center_y: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Cross-correlation at lags -max_lag..max_lag: ``c(k) = sum_t x_t y_{t+k} / (|x| |y|)``.

    Positive k pairs x with later values of y. Returns ``(lags, c)``.
    """
    x, y = _prep(x, center_x), _prep(y, center_y)
    if x.size != y.size:
        raise ValueError(f"series lengths differ: {x.size} vs {y.size}")
    n = x.size
    max_lag = min(max_lag, n - 1)
    denom = float(np.sqrt(np.dot(x, x) * np.dot(y, y)))
    if denom == 0:
        raise ValueError("a series is constant: cross-correlation undefined")
    lags = np.arange(-max_lag, max_lag + 1)
    c = [np.dot(x[: n - k], y[k:]) if k >= 0 else np.dot(x[-k:], y[: n + k]) for k in lags]
    return lags, np.asarray(c) / denom


def pearson(x, y) -> float:
    """Pearson correlation of two series (e.g. d_st and r_st, Fig 2.4)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(np.corrcoef(x, y)[0, 1])


def acf_period(acf) -> dict:
    """Where a centred ACF (lags 0..K) first turns negative and where it is lowest (lags >= 1).

    For a quasi-periodic series of period P these are about P/4 and P/2; for an update-to-update
    alternation (Fig 3.3's strong oscillation) both are 1. Returns ``{"first_negative_lag"
    (None if the ACF stays >= 0), "min_lag", "min"}``."""
    a = np.asarray(acf, dtype=float)
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"need an ACF over lags 0..K with K >= 1, got shape {a.shape}")
    neg = np.flatnonzero(a[1:] < 0)
    k = int(np.argmin(a[1:])) + 1
    return {"first_negative_lag": int(neg[0]) + 1 if neg.size else None, "min_lag": k,
            "min": float(a[k])}


def oscillation_window(x, burn_in: int, max_lag: int = 5) -> dict:
    """Fig 3.3's summary of one training record after ``burn_in`` steps: the centred ACF at
    lags 0..``max_lag`` over the window ``x[burn_in:]`` (NaN entries, steps not yet run, are
    dropped from its end) and its stationarity as the mean and sd of each half of the window.
    Returns ``{"acf", "acf_uncentred", "n", "halves": [(mean, sd), (mean, sd)]}``."""
    x = np.asarray(x, dtype=float)
    if not (isinstance(burn_in, (int, np.integer)) and 0 <= burn_in < x.size):
        raise ValueError(f"burn_in must be an integer in [0, {x.size}), got {burn_in!r}")
    w = x[burn_in:]
    run = np.isfinite(w)
    n = int(np.argmin(run)) if not run.all() else w.size    # the finite prefix
    w = w[:n]
    if n < 4 * max(max_lag, 1):
        raise ValueError(f"only {n} finite steps after burn-in {burn_in}: too few for an ACF "
                         f"to lag {max_lag}; train longer or lower burn_in")
    h = n // 2
    return {"acf": autocorrelation(w, max_lag, center=True),
            "acf_uncentred": autocorrelation(w, max_lag, center=False), "n": n,
            "halves": [(float(w[:h].mean()), float(w[:h].std())),
                       (float(w[h:].mean()), float(w[h:].std()))]}
