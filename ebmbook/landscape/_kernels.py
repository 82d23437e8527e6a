"""Compiled inner loops for mapping +-1 spin landscapes with dense couplings (SK, eq. 5.1).

All kernels work on the extensive energy ``H(s) = -1/2 s^T J s`` and keep local fields
``h = J s`` up to date, so a flip costs O(N). Each kernel loops over a whole batch (of states,
trials or pairs) inside compiled code. Random draws come from the numpy Generator passed in.
"""

from __future__ import annotations

import math

import numpy as np

from ..sampling.spins import _flip_accept, _flip_update, local_fields, njit

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
        _flip_update(J, s, h, bi)
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


@njit(cache=True)
def ad_batch(J, starts, targets, temps, alphas, delta, limit, max_sweeps, metropolis, rng,
             success, barrier, sweeps, final_dist, rec_max, rec_end, rec_dist, record):
    """Attraction-Diffusion trials (eq. 4.6 with Hamming distance) for a batch of (start, target)
    pairs. A trial succeeds once the Hamming distance is <= delta, and fails after ``limit``
    sweeps without a new best distance (or after ``max_sweeps``). ``barrier`` is the highest
    extensive energy visited before success. With ``record`` the per-sweep maximum energy, end
    energy and distance are written to rec_* of shape (B, max_sweeps + 1)."""
    B, N = starts.shape
    for b in range(B):
        s = starts[b].copy()
        tg = targets[b]
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
        invT = 1.0 / temps[b]
        a = alphas[b]
        if record:
            rec_max[b, 0] = H
            rec_end[b, 0] = H
            rec_dist[b, 0] = d
        while (not ok) and t < max_sweeps:
            smax = H
            for i in range(N):
                dH = 2.0 * s[i] * h[i]
                dd = -1 if s[i] != tg[i] else 1
                if _flip_accept(dH * invT + a * dd, metropolis, rng):
                    _flip_update(J, s, h, i)
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
            if record:
                rec_max[b, t] = smax
                rec_end[b, t] = H
                rec_dist[b, t] = d
            if ok:
                break
            if d < best:
                best = d
                m = 0
            else:
                m += 1
                if m >= limit:
                    break
        success[b] = ok
        barrier[b] = bar
        sweeps[b] = t
        final_dist[b] = d


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
            _flip_update(J, s, h, i)
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
def _descended_key(J, s, h, work_s, work_h, key):
    """Key of the single-flip minimum reached by steepest descent from s; the descent runs on
    the work arrays, which hold that minimum afterwards."""
    for i in range(s.shape[0]):
        work_s[i] = s[i]
        work_h[i] = h[i]
    _descend_inplace(J, work_s, work_h)
    return _pack(work_s, key)


@njit(cache=True)
def _basin_of(J, s, h, work_s, work_h, key, table, min_states, min_E, first_seen, n_basins,
              it, max_basins):
    """Basin index of state s (descent on a copy); registers a new basin if unseen.
    Returns -1 when a new basin would exceed max_basins."""
    N = s.shape[0]
    kk = _descended_key(J, s, h, work_s, work_h, key)
    if kk in table:
        return table[kk], n_basins
    if n_basins >= max_basins:
        return -1, n_basins
    table[kk] = n_basins
    for i in range(N):
        min_states[n_basins, i] = work_s[i]
    min_E[n_basins] = _energy(work_s, work_h)
    first_seen[n_basins] = it
    return n_basins, n_basins + 1


@njit(cache=True)
def _ridge_descent(J, x, y, i_diff, a, b, bar, work_s, work_h, key, table, max_tries):
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
            _flip_update(J, xs, xh, j)
            kx = _descended_key(J, xs, xh, work_s, work_h, key)
            if kx not in table or table[kx] != a:
                continue
            ys = y.copy()
            yh = hy.copy()
            _flip_update(J, ys, yh, j)
            ky = _descended_key(J, ys, yh, work_s, work_h, key)
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
def gwl_kernel(J, s0, n_iter, T, H_lo, H_hi, n_bins, gamma, rng, max_basins, ridge, ridge_tries,
               visits, min_states, min_E, first_seen, pair_keys, pair_bar, max_pairs, trace,
               trace_every):
    """Generalized Wang-Landau (Sec 4.2.1.3, eq. 4.4) for an SK glass with single-flip proposals.

    Bins are (basin, energy interval) with basins the steepest-descent basins of single-flip
    minima; the acceptance is ``min(1, exp(-dH/T + gamma (N_cur - N_prop)))``; proposals outside
    [H_lo, H_hi) are rejected. Each accepted move between basins a != b gives a barrier estimate
    ``max(H, H')`` (refined by ridge descent when it is a new best for the pair)."""
    N = s0.shape[0]
    s = s0.copy()
    h = local_fields(J, s)
    H = _energy(s, h)
    width = (H_hi - H_lo) / n_bins
    key = np.zeros(2, dtype=np.uint64)
    work_s = np.empty(N, dtype=s.dtype)
    work_h = np.empty(N)
    table = Dict.empty(key_type=_KEY_T, value_type=_INT_T)
    pairs = Dict.empty(key_type=_INT_T, value_type=_INT_T)
    n_basins = 0
    n_pairs = 0
    cur, n_basins = _basin_of(J, s, h, work_s, work_h, key, table, min_states, min_E,
                              first_seen, n_basins, 0, max_basins)
    kc = int((H - H_lo) / width)
    kc = min(max(kc, 0), n_bins - 1)
    invT = 1.0 / T
    n_acc = 0
    nt = 0
    for it in range(n_iter):
        i = rng.integers(0, N)
        dH = 2.0 * s[i] * h[i]
        Hn = H + dH
        if Hn >= H_lo and Hn < H_hi:
            kp = int((Hn - H_lo) / width)
            kp = min(max(kp, 0), n_bins - 1)
            # basin of the proposal
            _flip_update(J, s, h, i)
            bp, n_basins = _basin_of(J, s, h, work_s, work_h, key, table, min_states, min_E,
                                     first_seen, n_basins, it, max_basins)
            accept = False
            if bp >= 0:
                x = dH * invT - gamma * (visits[cur, kc] - visits[bp, kp])
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
                        pair_keys[slot, 0] = a
                        pair_keys[slot, 1] = b
                        pair_bar[slot] = 1e300
                        n_pairs += 1
                    else:
                        slot = -1
                    if slot >= 0 and est < pair_bar[slot]:
                        if ridge:
                            # the pair (previous state, current state) straddles the ridge
                            y = s.copy()
                            xprev = s.copy()
                            xprev[i] = -xprev[i]
                            est = _ridge_descent(J, xprev, y, i, cur, bp, est, work_s,
                                                 work_h, key, table, ridge_tries)
                        pair_bar[slot] = min(pair_bar[slot], est)
                H = Hn
                cur = bp
                kc = kp
                n_acc += 1
            else:
                _flip_update(J, s, h, i)  # undo
        visits[cur, kc] += 1.0
        if trace_every > 0 and it % trace_every == 0 and nt < trace.shape[0]:
            trace[nt, 0] = H
            trace[nt, 1] = cur
            nt += 1
    return n_basins, n_pairs, n_acc, nt
