"""Autocorrelation and cross-correlation against plain numpy computations."""

import numpy as np
import pytest

from ebmbook.diagnostics.stats import (autocorrelation, cross_correlation, energy_difference,
                                       pearson)


def numpy_acf(x, max_lag, center):
    x = np.asarray(x, float)
    if center:
        x = x - x.mean()
    full = np.correlate(x, x, mode="full") / np.dot(x, x)
    mid = len(x) - 1
    return full[mid:mid + max_lag + 1]


@pytest.mark.parametrize("center", [True, False])
def test_acf_matches_numpy(center):
    x = np.random.default_rng(0).normal(0.3, 1.0, 500)
    assert np.allclose(autocorrelation(x, 15, center), numpy_acf(x, 15, center), atol=1e-12)


def test_ar1_lag_one_recovers_phi():
    rng = np.random.default_rng(1)
    for phi in (-0.6, 0.0, 0.7):
        x = np.zeros(20000)
        for t in range(1, len(x)):
            x[t] = phi * x[t - 1] + rng.normal()
        assert autocorrelation(x, 3)[1] == pytest.approx(phi, abs=0.03)


def test_cross_correlation_matches_numpy_and_detects_a_lag():
    rng = np.random.default_rng(2)
    y = rng.normal(size=3000)
    x = np.roll(y, -3) + 0.1 * rng.normal(size=3000)  # x_t ~ y_{t+3}
    lags, c = cross_correlation(x, y, 10, center_x=True, center_y=True)
    xc, yc = x - x.mean(), y - y.mean()
    # np.correlate(y, x, 'full')[k + n - 1] = sum_t x_t y_{t+k}
    ref = np.correlate(yc, xc, mode="full") / np.sqrt(np.dot(xc, xc) * np.dot(yc, yc))
    n = len(x)
    assert np.allclose(c, ref[n - 1 - 10:n + 10], atol=1e-12)
    assert lags[np.argmax(c)] == 3


def test_scalar_summaries_and_errors():
    assert energy_difference([1.0, 3.0], [0.5, 0.5]) == pytest.approx(1.5)
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8.5]) > 0.99
    with pytest.raises(ValueError, match="constant"):
        autocorrelation(np.ones(10), 3)
    with pytest.raises(ValueError, match="NaN"):
        autocorrelation([1.0, np.nan, 2.0], 1)


def test_oscillation_window_recovers_an_ar1_after_burn_in_and_ignores_unrun_steps():
    # an AR(1) with phi = -0.6 around a mean of 50 after a transient of 200 steps far away, and
    # 300 steps not run yet (NaN): the centred ACF is phi^k and the halves agree
    from ebmbook.diagnostics.stats import oscillation_window
    rng = np.random.default_rng(0)
    phi, n = -0.6, 20_000
    x = np.empty(n)
    x[0] = 0.0
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.normal()
    series = np.concatenate([np.full(200, 1e4), 50 + x, np.full(300, np.nan)])
    w = oscillation_window(series, burn_in=200, max_lag=5)
    assert w["n"] == n
    np.testing.assert_allclose(w["acf"][1:], phi ** np.arange(1, 6), atol=0.03)
    (m1, s1), (m2, s2) = w["halves"]
    sd = 1 / np.sqrt(1 - phi ** 2)
    assert abs(m1 - 50) < 0.1 and abs(m2 - 50) < 0.1
    assert abs(s1 - sd) < 0.05 * sd and abs(s2 - sd) < 0.05 * sd
    # without the burn-in the transient dominates: lag-1 ACF near +1
    assert oscillation_window(series, burn_in=0)["acf"][1] > 0.9
    with pytest.raises(ValueError, match="too few"):
        oscillation_window(series, burn_in=n + 190)


def test_acf_period_finds_the_quarter_and_half_period_of_an_oscillation():
    # a noisy sinusoid of period 34: the ACF is cos(2 pi k / 34) damped by the noise, so it first
    # turns negative at lag 9 (34 / 4 = 8.5) and is lowest at lag 17; white noise's ACF turns
    # negative at once; an AR(1) with phi = -0.6 alternates (both lags 1)
    from ebmbook.diagnostics.stats import acf_period, autocorrelation
    rng = np.random.default_rng(0)
    t = np.arange(20_000)
    x = np.sin(2 * np.pi * t / 34) + 0.5 * rng.normal(size=t.size)
    p = acf_period(autocorrelation(x, 60, center=True))
    assert p["first_negative_lag"] == 9 and p["min_lag"] == 17 and p["min"] < -0.6
    y = np.empty(20_000)
    y[0] = 0.0
    for k in range(1, y.size):
        y[k] = -0.6 * y[k - 1] + rng.normal()
    q = acf_period(autocorrelation(y, 60, center=True))
    assert q["first_negative_lag"] == 1 and q["min_lag"] == 1
    assert acf_period([1.0, 0.9, 0.5])["first_negative_lag"] is None
    with pytest.raises(ValueError, match="lags 0..K"):
        acf_period([1.0])
