"""Compiled inner loops for mapping +-1 spin landscapes with dense couplings (SK, eq. 5.1).

All kernels work on the extensive energy ``H(s) = -1/2 s^T J s`` and keep local fields
``h = J s`` up to date, so a flip costs O(N). Each kernel loops over a whole batch (of states,
trials or pairs) inside compiled code. Random draws come from the numpy Generator passed in.

The two long kernels take their inputs as small records (NamedTuples, which numba compiles to
plain structs): :func:`ad_trials` a batch of :class:`ADTrials`, its :class:`ADSettings` and the
:class:`ADOutcome` / :class:`ADTrace` arrays it fills; :func:`gwl_kernel` its
:class:`GWLSettings` and the :class:`GWLBasins` / :class:`GWLCrossings` tables it fills.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..sampling.spins import flip_accepted, flip_spin, local_fields, njit

try:
    from numba import types
    from numba.typed import Dict
    _KEY_T = types.UniTuple(types.uint64, 2)
    _INT_T = types.int64
    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _HAVE_NUMBA = False


@njit(cache=True)
def _energy(s, h):
    H = 0.0
    for i in range(s.shape[0]):
        H -= 0.5 * s[i] * h[i]
    return H


@njit(cache=True)
def _descend_inplace(J, s, h):
    """Steepest single-flip descent in place; returns the number of flips."""
    N = s.shape[0]
    n = 0
    while True:
        best = 0.0
        bi = -1
        for i in range(N):
            d = 2.0 * s[i] * h[i]
            if d < best:
                best = d
                bi = i
        if bi < 0:
            return n
        flip_spin(J, s, h, bi)
        n += 1


@njit(cache=True)
def descend_batch(J, S):
    """Steepest single-flip descent of each row of S (in place) to a single-flip-stable
    minimum; returns the minima energies H."""
    B = S.shape[0]
    out = np.empty(B)
    for b in range(B):
        s = S[b]
        h = local_fields(J, s)
        _descend_inplace(J, s, h)
        out[b] = _energy(s, h)
    return out


# ----------------------------------------------------------------------------- Attraction-Diffusion


class ADTrials(NamedTuple):
    """A batch of B Attraction-Diffusion trials on one glass: trial b runs on
    ``exp(-(H(s)/T_b + alpha_b d(s, target_b)))`` (eq. 4.6, Hamming distance d) from start b."""

    starts: np.ndarray         # (B, N) int8 +-1 (not modified)
    targets: np.ndarray        # (B, N) int8 +-1
    temperatures: np.ndarray   # (B,) float64
    alphas: np.ndarray         # (B,) float64


class ADSettings(NamedTuple):
    """When a trial stops (shared by the batch)."""

    delta: int                 # success once the Hamming distance is <= delta
    improvement_limit: int     # failure after this many sweeps without a new best distance
    max_sweeps: int            # ... or after this many sweeps in all
    metropolis: bool           # single-flip Metropolis (True) or heat-bath Gibbs (False)


class ADOutcome(NamedTuple):
    """What :func:`ad_trials` writes per trial (arrays of length B)."""

    success: np.ndarray        # bool
    barrier: np.ndarray        # highest extensive energy visited before success (float64)
    sweeps: np.ndarray         # sweeps taken (int64)
    final_distance: np.ndarray  # Hamming distance at the end (int64)


class ADTrace(NamedTuple):
    """Per-sweep traces of every trial, shape (B, max_sweeps + 1), written when ``enabled``
    (otherwise the arrays may be (1, 1) placeholders)."""

    enabled: bool
    max_energy: np.ndarray     # highest extensive energy within each sweep (float64)
    end_energy: np.ndarray     # extensive energy after each sweep (float64)
    distance: np.ndarray       # Hamming distance after each sweep (int64)


@njit(cache=True)
def ad_trials(J, trials, settings, rng, outcome, trace):
    """Attraction-Diffusion trials (eq. 4.6 with Hamming distance) for a batch of
    :class:`ADTrials`. A trial succeeds once the Hamming distance is <= ``settings.delta``, and
    fails after ``settings.improvement_limit`` sweeps without a new best distance (or after
    ``settings.max_sweeps``). Fills ``outcome`` (:class:`ADOutcome`) and, when enabled,
    ``trace`` (:class:`ADTrace`)."""
    B, N = trials.starts.shape
    delta, limit = settings.delta, settings.improvement_limit
    for b in range(B):
        s = trials.starts[b].copy()
        tg = trials.targets[b]
        h = local_fields(J, s)
        H = _energy(s, h)
        d = 0
        for i in range(N):
            if s[i] != tg[i]:
                d += 1
        best = d
        m = 0
        bar = H
        t = 0
        ok = d <= delta
        invT = 1.0 / trials.temperatures[b]
        a = trials.alphas[b]
        if trace.enabled:
            trace.max_energy[b, 0] = H
            trace.end_energy[b, 0] = H
            trace.distance[b, 0] = d
        while (not ok) and t < settings.max_sweeps:
            smax = H
            for i in range(N):
                dH = 2.0 * s[i] * h[i]
                dd = -1 if s[i] != tg[i] else 1
                if flip_accepted(dH * invT + a * dd, settings.metropolis, rng):
                    flip_spin(J, s, h, i)
                    H += dH
                    d += dd
                    if H > smax:
                        smax = H
                    if d <= delta:
                        ok = True
                        break
            t += 1
            if smax > bar:
                bar = smax
            if trace.enabled:
                trace.max_energy[b, t] = smax
                trace.end_energy[b, t] = H
                trace.distance[b, t] = d
            if ok:
                break
            if d < best:
                best = d
                m = 0
            else:
                m += 1
                if m >= limit:
                    break
        outcome.success[b] = ok
        outcome.barrier[b] = bar
        outcome.sweeps[b] = t
        outcome.final_distance[b] = d


def run_ad_trials(J: np.ndarray, trials: ADTrials, settings: ADSettings,
                  rng: np.random.Generator, record: bool = False) -> tuple[ADOutcome, ADTrace]:
    """:func:`ad_trials` with its output arrays allocated here: returns the filled
    :class:`ADOutcome` and :class:`ADTrace` (placeholders of shape (1, 1) unless ``record``).
    Energies are extensive."""
    B = trials.starts.shape[0]
    outcome = ADOutcome(success=np.zeros(B, dtype=np.bool_), barrier=np.empty(B),
                        sweeps=np.zeros(B, dtype=np.int64),
                        final_distance=np.zeros(B, dtype=np.int64))
    shape = (B, settings.max_sweeps + 1) if record else (1, 1)
    trace = ADTrace(enabled=bool(record), max_energy=np.zeros(shape), end_energy=np.zeros(shape),
                    distance=np.zeros(shape, dtype=np.int64))
    ad_trials(J, trials, settings, rng, outcome, trace)
    return outcome, trace


# ----------------------------------------------------------------------------- greedy paths


@njit(cache=True)
def greedy_path_batch(J, A, Bs, barrier, record_path, path_E):
    """Greedy discrete interpolation of Sec 5.2.1 from A[p] to Bs[p]: among the spins that still
    differ, flip the one that lowers H most (or raises it least). ``barrier[p]`` is the highest
    extensive energy on the path; with ``record_path`` the energies after each flip are written
    to ``path_E[p]`` (length N + 1, padded with the final energy)."""
    P, N = A.shape
    diff = np.empty(N, dtype=np.int64)
    for p in range(P):
        s = A[p].copy()
        tg = Bs[p]
        h = local_fields(J, s)
        H = _energy(s, h)
        bar = H
        nd = 0
        for i in range(N):
            if s[i] != tg[i]:
                diff[nd] = i
                nd += 1
        step = 0
        if record_path:
            path_E[p, 0] = H
        while nd > 0:
            bj = 0
            bd = 1e300
            for j in range(nd):
                i = diff[j]
                dH = 2.0 * s[i] * h[i]
                if dH < bd:
                    bd = dH
                    bj = j
            i = diff[bj]
            flip_spin(J, s, h, i)
            H += bd
            if H > bar:
                bar = H
            diff[bj] = diff[nd - 1]
            nd -= 1
            step += 1
            if record_path:
                path_E[p, step] = H
        if record_path:
            for k in range(step + 1, N + 1):
                path_E[p, k] = H
        barrier[p] = bar


# ----------------------------------------------------------------------------- exact flooding


@njit(cache=True)
def flood(order, E, nbr):
    """Union-find flooding of a graph in increasing energy (the exact minimax barrier oracle).

    ``order``: node indices sorted by energy; ``nbr``: (n, k) neighbour table, -1 for none.
    Returns ``(minima, ev_height, ev_a, ev_b)``: the nodes with no lower neighbour (local minima,
    in increasing energy) and the merge events, where the components whose lowest minima are
    ev_a and ev_b first connect at energy ev_height."""
    n = E.shape[0]
    parent = np.arange(n)
    low = np.arange(n)  # lowest node of each root's component
    added = np.zeros(n, dtype=np.bool_)
    minima = np.empty(n, dtype=np.int64)
    nm = 0
    ev_h = np.empty(n, dtype=np.float64)
    ev_a = np.empty(n, dtype=np.int64)
    ev_b = np.empty(n, dtype=np.int64)
    ne = 0
    k = nbr.shape[1]
    for x in order:
        added[x] = True
        root_x = -1
        for j in range(k):
            y = nbr[x, j]
            if y < 0 or not added[y]:
                continue
            r = y
            while parent[r] != r:
                parent[r] = parent[parent[r]]
                r = parent[r]
            if root_x < 0:
                root_x = r
                parent[x] = r
            elif r != root_x:
                a = low[root_x]
                bb = low[r]
                ev_h[ne] = E[x]
                ev_a[ne] = a
                ev_b[ne] = bb
                ne += 1
                if E[a] <= E[bb]:
                    parent[r] = root_x
                else:
                    parent[root_x] = r
                    root_x = r
        if root_x < 0:
            minima[nm] = x
            nm += 1
    return minima[:nm], ev_h[:ne], ev_a[:ne], ev_b[:ne]


# ----------------------------------------------------------------------------- GWL


class GWLSettings(NamedTuple):
    """One GWL run (eq. 4.4) with single-flip proposals; energies are extensive."""

    n_iter: int                # single-flip proposals
    temperature: float         # T of exp(-H/T)
    energy_low: float          # proposals outside [energy_low, energy_high) are rejected
    energy_high: float
    n_bins: int                # energy intervals of the window (eq. 4.3)
    penalty: float             # the visit penalty, the thesis's gamma in eq. 4.4
    ridge: bool                # refine each new best crossing of a pair by ridge descent
    ridge_tries: int           # candidate common flips tried per ridge-descent step
    trace_every: int           # record (H, basin) every this many proposals (0: never)


class GWLBasins(NamedTuple):
    """The basins GWL discovers, in discovery order; the capacity is ``len(energies)``."""

    visits: np.ndarray         # (capacity, n_bins) the penalty counts N_jk
    states: np.ndarray         # (capacity, N) int8 single-flip minima
    energies: np.ndarray       # (capacity,) their extensive energies
    first_seen: np.ndarray     # (capacity,) int64 iteration at which each was first proposed


class GWLCrossings(NamedTuple):
    """The lowest crossing found per pair of basins; the capacity is ``len(barriers)``."""

    pairs: np.ndarray          # (capacity, 2) int64 basin indices a < b
    barriers: np.ndarray       # (capacity,) extensive barrier estimates


class _Scratch(NamedTuple):
    """Work arrays of the basin look-up: a state, its fields and its packed key."""

    state: np.ndarray
    fields: np.ndarray
    key: np.ndarray


@njit(cache=True)
def _pack(s, key):
    """Pack up to 128 +-1 spins into two uint64 words."""
    key[0] = 0
    key[1] = 0
    for i in range(s.shape[0]):
        if s[i] > 0:
            key[i >> 6] |= np.uint64(1) << np.uint64(i & 63)
    return (key[0], key[1])


@njit(cache=True)
def _descended_key(J, s, h, scratch):
    """Key of the single-flip minimum reached by steepest descent from s; the descent runs on
    the scratch arrays, which hold that minimum afterwards."""
    for i in range(s.shape[0]):
        scratch.state[i] = s[i]
        scratch.fields[i] = h[i]
    _descend_inplace(J, scratch.state, scratch.fields)
    return _pack(scratch.state, scratch.key)


@njit(cache=True)
def _basin_of(J, s, h, scratch, table, basins, n_basins, it):
    """Basin index of state s (descent on the scratch copy); registers a new basin in
    ``basins`` if unseen. Returns ``(index, n_basins)``, index -1 when a new basin would exceed
    the capacity."""
    N = s.shape[0]
    kk = _descended_key(J, s, h, scratch)
    if kk in table:
        return table[kk], n_basins
    if n_basins >= basins.energies.shape[0]:
        return -1, n_basins
    table[kk] = n_basins
    for i in range(N):
        basins.states[n_basins, i] = scratch.state[i]
    basins.energies[n_basins] = _energy(scratch.state, scratch.fields)
    basins.first_seen[n_basins] = it
    return n_basins, n_basins + 1


@njit(cache=True)
def _ridge_descent(J, x, y, i_diff, a, b, bar, scratch, table, max_tries):
    """Zhou's ridge descent for an adjacent pair (x in basin a, y in basin b) differing at spin
    i_diff: flip a common spin j in both states while the pair stays in (a, b) and the higher of
    the two energies drops. Returns the refined barrier (extensive)."""
    N = x.shape[0]
    hx = local_fields(J, x)
    hy = local_fields(J, y)
    Hx = _energy(x, hx)
    Hy = _energy(y, hy)
    cand = np.empty(N)
    while True:
        cur = max(Hx, Hy)
        for j in range(N):
            if j == i_diff:
                cand[j] = 1e300
            else:
                cand[j] = max(Hx + 2.0 * x[j] * hx[j], Hy + 2.0 * y[j] * hy[j])
        idx = np.argsort(cand)
        moved = False
        for t in range(min(max_tries, N)):
            j = idx[t]
            if cand[j] >= cur:
                break
            xs = x.copy()
            xh = hx.copy()
            flip_spin(J, xs, xh, j)
            kx = _descended_key(J, xs, xh, scratch)
            if kx not in table or table[kx] != a:
                continue
            ys = y.copy()
            yh = hy.copy()
            flip_spin(J, ys, yh, j)
            ky = _descended_key(J, ys, yh, scratch)
            if ky not in table or table[ky] != b:
                continue
            Hx += 2.0 * x[j] * hx[j]
            Hy += 2.0 * y[j] * hy[j]
            x[:] = xs
            hx[:] = xh
            y[:] = ys
            hy[:] = yh
            moved = True
            break
        if not moved:
            return min(bar, max(Hx, Hy))


@njit(cache=True)
def gwl_kernel(J, s0, settings, rng, basins, crossings, trace):
    """Generalized Wang-Landau (Sec 4.2.1.3, eq. 4.4) for an SK glass with single-flip proposals.

    Bins are (basin, energy interval) with basins the steepest-descent basins of single-flip
    minima; the acceptance is ``min(1, exp(-dH/T + penalty (N_cur - N_prop)))`` (the thesis's
    gamma is ``settings.penalty``); proposals outside ``[energy_low, energy_high)`` are
    rejected. Each accepted move between basins a != b gives a barrier estimate ``max(H, H')``
    (refined by ridge descent when it is a new best for the pair). Fills ``basins``
    (:class:`GWLBasins`), ``crossings`` (:class:`GWLCrossings`) and ``trace`` ((n, 2): H and
    basin every ``settings.trace_every`` proposals). Returns ``(n_basins, n_pairs, n_accepted,
    n_trace)``."""
    N = s0.shape[0]
    lo, hi, n_bins = settings.energy_low, settings.energy_high, settings.n_bins
    penalty, visits = settings.penalty, basins.visits
    max_basins = basins.energies.shape[0]
    max_pairs = crossings.barriers.shape[0]
    s = s0.copy()
    h = local_fields(J, s)
    H = _energy(s, h)
    width = (hi - lo) / n_bins
    scratch = _Scratch(np.empty(N, dtype=s.dtype), np.empty(N), np.zeros(2, dtype=np.uint64))
    table = Dict.empty(key_type=_KEY_T, value_type=_INT_T)
    pairs = Dict.empty(key_type=_INT_T, value_type=_INT_T)
    n_basins = 0
    n_pairs = 0
    cur, n_basins = _basin_of(J, s, h, scratch, table, basins, n_basins, 0)
    kc = int((H - lo) / width)
    kc = min(max(kc, 0), n_bins - 1)
    invT = 1.0 / settings.temperature
    n_acc = 0
    nt = 0
    for it in range(settings.n_iter):
        i = rng.integers(0, N)
        dH = 2.0 * s[i] * h[i]
        Hn = H + dH
        if Hn >= lo and Hn < hi:
            kp = int((Hn - lo) / width)
            kp = min(max(kp, 0), n_bins - 1)
            # basin of the proposal
            flip_spin(J, s, h, i)
            bp, n_basins = _basin_of(J, s, h, scratch, table, basins, n_basins, it)
            accept = False
            if bp >= 0:
                x = dH * invT - penalty * (visits[cur, kc] - visits[bp, kp])
                accept = x <= 0.0 or rng.random() < math.exp(-x)
            if accept:
                if bp != cur:
                    a = min(cur, bp)
                    b = max(cur, bp)
                    pk = a * max_basins + b
                    est = max(H, Hn)
                    if pk in pairs:
                        slot = pairs[pk]
                    elif n_pairs < max_pairs:
                        slot = n_pairs
                        pairs[pk] = slot
                        crossings.pairs[slot, 0] = a
                        crossings.pairs[slot, 1] = b
                        crossings.barriers[slot] = 1e300
                        n_pairs += 1
                    else:
                        slot = -1
                    if slot >= 0 and est < crossings.barriers[slot]:
                        if settings.ridge:
                            # the pair (previous state, current state) straddles the ridge
                            y = s.copy()
                            xprev = s.copy()
                            xprev[i] = -xprev[i]
                            est = _ridge_descent(J, xprev, y, i, cur, bp, est, scratch, table,
                                                 settings.ridge_tries)
                        crossings.barriers[slot] = min(crossings.barriers[slot], est)
                H = Hn
                cur = bp
                kc = kp
                n_acc += 1
            else:
                flip_spin(J, s, h, i)  # undo
        visits[cur, kc] += 1.0
        if settings.trace_every > 0 and it % settings.trace_every == 0 and nt < trace.shape[0]:
            trace[nt, 0] = H
            trace[nt, 1] = cur
            nt += 1
    return n_basins, n_pairs, n_acc, nt
