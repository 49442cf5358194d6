"""k-means: greedy k-means++ seeding and Lloyd's algorithm, compiled with numba.

Spectral clustering ends with k-means on the rows of the spectral embedding
(P1 algorithm 1). These problems are small (about 2,000 points in k
dimensions) but solved once per shuffle, hundreds of times per network, and
scikit-learn's ``KMeans`` spends most of its time in per-call overhead there.
This module follows scikit-learn's algorithm: greedy k-means++ with
``2 + log(k)`` local trials per centre, Lloyd iterations until the squared
centre shift falls below ``tol * mean feature variance``, empty clusters moved
to the points farthest from their centres, best of ``n_init`` restarts by
inertia. Every random number is drawn up front from one numpy ``Generator``,
so the result is fixed by the seed.

Lloyd's iterations are accelerated exactly, after Hamerly (2010, "Making
k-means even faster"): each point keeps an upper bound on the distance to its
own centre and a lower bound on the distance to every other centre, moved by
the centre shifts after each update; a point whose bounds show that its label
cannot change is skipped. The remaining points get exact distances to all
centres. Labels, iteration counts, final centres and inertia are those of
plain Lloyd, up to rounding (ties between equidistant centres, or restarts
that reach the same partition with equal inertia). Distances are computed as
``|x|^2 + |c|^2 - 2 x.c`` in loops that run over points (coordinates stored
transposed), which the compiler vectorises; no BLAS calls on the hot paths.
"""

from __future__ import annotations

import numba
import numpy as np

_BLOCK = 128  # points per block in the distance kernels (working set stays in L1)
_DENSE = 0.5  # above this fraction of points to recompute, recompute all (no gather)


def kmeans(
    X: np.ndarray,
    k: int,
    *,
    seed: int | np.random.Generator,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> tuple[np.ndarray, float]:
    """Cluster the rows of ``X`` into ``k`` clusters; returns ``(labels, inertia)``.

    ``seed`` (an int or a numpy ``Generator``) fixes every random choice.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n = X.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k-means needs 1 <= k <= n_points, got k={k}, n={n}")
    if n_init < 1 or max_iter < 1:
        raise ValueError("n_init and max_iter must be positive")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n_trials = 2 + int(np.log(k))
    first = rng.integers(n, size=n_init)
    draws = rng.random((n_init, max(k - 1, 0), n_trials))
    # Centre the data for accuracy of the distance expansion, as scikit-learn does.
    X = X - X.mean(axis=0)
    tol_abs = tol * float(np.mean(X.var(axis=0)))
    labels, inertia = _kmeans_restarts(X, k, first, draws, max_iter, tol_abs)
    return labels, float(inertia)


@numba.njit(cache=True, nogil=True)
def _kmeans_restarts(X, k, first, draws, max_iter, tol_abs):
    n, d = X.shape
    x_sq = np.empty(n)
    for i in range(n):
        s = 0.0
        for j in range(d):
            s += X[i, j] * X[i, j]
        x_sq[i] = s
    # Transposed copy, coordinates zero-padded to a multiple of 4 (see _dist_pair).
    dp = (d + 3) // 4 * 4
    XT = np.zeros((dp, n))
    for i in range(n):
        for j in range(d):
            XT[j, i] = X[i, j]
    n_trials = draws.shape[2]
    seed_work = (
        np.zeros((n_trials, dp)),
        np.empty(n_trials),
        np.empty((n_trials + 1) * n),
        np.empty(n),
        np.empty(n),
    )
    lloyd_work = (np.empty(n, dtype=np.int64), np.empty(dp * n), np.empty(n), np.empty(n), np.empty(n))
    best_labels = np.zeros(n, dtype=np.int64)
    best_inertia = np.inf
    for r in range(first.shape[0]):
        centers = _kmeans_plusplus(X, XT, x_sq, k, first[r], draws[r], seed_work)
        labels, inertia = _lloyd(X, XT, x_sq, centers, max_iter, tol_abs, lloyd_work)
        if inertia < best_inertia:
            best_inertia = inertia
            best_labels = labels
    return best_labels, best_inertia


@numba.njit(cache=True, nogil=True)
def _kmeans_plusplus(X, XT, x_sq, k, first, draws, work):
    """Greedy k-means++: each new centre is the best (lowest potential) of
    ``n_trials`` candidates, sampled with probability proportional to the
    squared distance to the nearest centre chosen so far."""
    n, d = X.shape
    n_trials = draws.shape[1]
    W, cs, D, closest, prefix = work
    Y = XT.ravel()
    centers = np.empty((k, d))
    cand = np.empty(n_trials, dtype=np.int64)
    pots = np.empty(n_trials)
    W[:] = 0.0
    closest[:] = np.inf
    for c in range(k):
        if c == 0:
            nt = 1
            cand[0] = first
        else:
            nt = n_trials
            potential = prefix[n - 1]
            for t in range(nt):
                # the first point whose running sum of ``closest`` exceeds the
                # target (binary search: the running sums do not decrease)
                target = draws[c - 1, t] * potential
                lo = 0
                hi = n - 1
                while lo < hi:
                    mid = (lo + hi) // 2
                    if prefix[mid] > target:
                        hi = mid
                    else:
                        lo = mid + 1
                cand[t] = lo
        for t in range(nt):
            for j in range(d):
                W[t, j] = -2.0 * X[cand[t], j]
            cs[t] = x_sq[cand[t]]
        _candidate_dists(Y, n, W[:nt], cs[:nt], x_sq, closest, D, pots)
        best = 0
        for t in range(1, nt):
            if pots[t] < pots[best]:
                best = t
        acc = 0.0
        for i in range(n):
            v = D[best * n + i]
            if v < closest[i]:
                closest[i] = v
            acc += closest[i]
            prefix[i] = acc
        for j in range(d):
            centers[c, j] = X[cand[best], j]
    return centers


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def _candidate_dists(Y, n, W, cs, xs, closest, D, pots):
    """Squared distances ``D[t * n + i]`` of all points to candidate ``t``, and
    the potentials ``pots[t] = sum_i min(D[t * n + i], closest[i])``.

    Points stored as for :func:`_dist_pair`; ``D`` has room for one more row
    (scratch for an odd number of candidates). ``reassoc`` lets the potential
    sums vectorise (they change only in the last bits).
    """
    nt, dp = W.shape
    for t in range(nt):
        pots[t] = 0.0
    for p0 in range(0, n, _BLOCK):
        nb = min(_BLOCK, n - p0)
        xx = xs[p0 : p0 + nb]
        cl = closest[p0 : p0 + nb]
        for ta in range(0, nt, 2):
            tb = ta + 1 if ta + 1 < nt else ta  # an odd last candidate is paired with itself
            outa = D[ta * n + p0 : ta * n + p0 + nb]
            ob = (ta + 1) * n + p0  # row ta + 1: candidate tb, or scratch
            outb = D[ob : ob + nb]
            csa = cs[ta]
            csb = cs[tb]
            pa = 0.0
            pb = 0.0
            if dp == 4:
                r0 = Y[p0 : p0 + nb]
                r1 = Y[n + p0 : n + p0 + nb]
                r2 = Y[2 * n + p0 : 2 * n + p0 + nb]
                r3 = Y[3 * n + p0 : 3 * n + p0 + nb]
                a0, a1, a2, a3 = W[ta, 0], W[ta, 1], W[ta, 2], W[ta, 3]
                e0, e1, e2, e3 = W[tb, 0], W[tb, 1], W[tb, 2], W[tb, 3]
                for q in range(nb):
                    x0, x1, x2, x3 = r0[q], r1[q], r2[q], r3[q]
                    va = xx[q] + csa + a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3
                    vb = xx[q] + csb + e0 * x0 + e1 * x1 + e2 * x2 + e3 * x3
                    va = va if va > 0.0 else 0.0
                    vb = vb if vb > 0.0 else 0.0
                    outa[q] = va
                    outb[q] = vb
                    pa += va if va < cl[q] else cl[q]
                    pb += vb if vb < cl[q] else cl[q]
            elif dp == 12:
                r0 = Y[p0 : p0 + nb]
                r1 = Y[n + p0 : n + p0 + nb]
                r2 = Y[2 * n + p0 : 2 * n + p0 + nb]
                r3 = Y[3 * n + p0 : 3 * n + p0 + nb]
                r4 = Y[4 * n + p0 : 4 * n + p0 + nb]
                r5 = Y[5 * n + p0 : 5 * n + p0 + nb]
                r6 = Y[6 * n + p0 : 6 * n + p0 + nb]
                r7 = Y[7 * n + p0 : 7 * n + p0 + nb]
                r8 = Y[8 * n + p0 : 8 * n + p0 + nb]
                r9 = Y[9 * n + p0 : 9 * n + p0 + nb]
                r10 = Y[10 * n + p0 : 10 * n + p0 + nb]
                r11 = Y[11 * n + p0 : 11 * n + p0 + nb]
                a0, a1, a2, a3, a4, a5 = W[ta, 0], W[ta, 1], W[ta, 2], W[ta, 3], W[ta, 4], W[ta, 5]
                a6, a7, a8, a9, a10, a11 = W[ta, 6], W[ta, 7], W[ta, 8], W[ta, 9], W[ta, 10], W[ta, 11]
                e0, e1, e2, e3, e4, e5 = W[tb, 0], W[tb, 1], W[tb, 2], W[tb, 3], W[tb, 4], W[tb, 5]
                e6, e7, e8, e9, e10, e11 = W[tb, 6], W[tb, 7], W[tb, 8], W[tb, 9], W[tb, 10], W[tb, 11]
                for q in range(nb):
                    x0, x1, x2, x3, x4, x5 = r0[q], r1[q], r2[q], r3[q], r4[q], r5[q]
                    x6, x7, x8, x9, x10, x11 = r6[q], r7[q], r8[q], r9[q], r10[q], r11[q]
                    va = xx[q] + csa + a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3 + a4 * x4 + a5 * x5
                    va = va + a6 * x6 + a7 * x7 + a8 * x8 + a9 * x9 + a10 * x10 + a11 * x11
                    vb = xx[q] + csb + e0 * x0 + e1 * x1 + e2 * x2 + e3 * x3 + e4 * x4 + e5 * x5
                    vb = vb + e6 * x6 + e7 * x7 + e8 * x8 + e9 * x9 + e10 * x10 + e11 * x11
                    va = va if va > 0.0 else 0.0
                    vb = vb if vb > 0.0 else 0.0
                    outa[q] = va
                    outb[q] = vb
                    pa += va if va < cl[q] else cl[q]
                    pb += vb if vb < cl[q] else cl[q]
            else:
                _dist_pair(Y, n, p0, nb, W, cs, xx, ta, tb, outa, outb)
                for q in range(nb):
                    va = outa[q] if outa[q] > 0.0 else 0.0
                    vb = outb[q] if outb[q] > 0.0 else 0.0
                    outa[q] = va
                    outb[q] = vb
                    pa += va if va < cl[q] else cl[q]
                    pb += vb if vb < cl[q] else cl[q]
            pots[ta] += pa
            if tb != ta:
                pots[tb] += pb


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _dist_pair(Y, m, p0, nb, W, cs, xx, ca, cb, outa, outb):
    """Squared distances of points ``p0 .. p0 + nb`` to centres ``ca`` and ``cb``.

    The ``m`` points are stored transposed in ``Y`` (coordinate ``j`` of point
    ``p`` at ``Y[j * m + p]``), zero-padded to ``dp`` coordinates, ``dp`` a
    multiple of 4. ``W[c] = -2 * centre c`` (zero-padded), ``cs[c] = |centre
    c|^2``, ``xx[q] = |point p0 + q|^2``. The loops run over points, so they
    vectorise; two centres per pass halve the loads.
    """
    dp = W.shape[1]
    csa = cs[ca]
    csb = cs[cb]
    for q in range(nb):
        outa[q] = xx[q] + csa
        outb[q] = xx[q] + csb
    for j in range(0, dp, 4):
        o = j * m + p0
        r0 = Y[o : o + nb]
        r1 = Y[o + m : o + m + nb]
        r2 = Y[o + 2 * m : o + 2 * m + nb]
        r3 = Y[o + 3 * m : o + 3 * m + nb]
        a0, a1, a2, a3 = W[ca, j], W[ca, j + 1], W[ca, j + 2], W[ca, j + 3]
        b0, b1, b2, b3 = W[cb, j], W[cb, j + 1], W[cb, j + 2], W[cb, j + 3]
        for q in range(nb):
            x0, x1, x2, x3 = r0[q], r1[q], r2[q], r3[q]
            outa[q] = outa[q] + a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3
            outb[q] = outb[q] + b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3


@numba.njit(inline="always")
def _push(v, b1, b2, lab, c):
    """Insert squared distance ``v`` to centre ``c`` into (nearest, second, label)."""
    lt = v < b1
    return (v if lt else b1), (b1 if lt else (v if v < b2 else b2)), (c if lt else lab)


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _nearest_two(Y, m, W, cs, xs, b1, b2, lab):
    """Squared distances to the nearest (``b1``, label ``lab``) and second-nearest
    (``b2``) centre of ``m`` points, stored as for :func:`_dist_pair`.

    For 4 or 12 padded coordinates the distances are computed and reduced in
    one pass (two centres at a time); otherwise through :func:`_dist_pair`.
    """
    k, dp = W.shape
    outa = np.empty(_BLOCK)
    outb = np.empty(_BLOCK)
    for p0 in range(0, m, _BLOCK):
        nb = min(_BLOCK, m - p0)
        bb1 = b1[p0 : p0 + nb]
        bb2 = b2[p0 : p0 + nb]
        ll = lab[p0 : p0 + nb]
        xx = xs[p0 : p0 + nb]
        for q in range(nb):
            bb1[q] = np.inf
            bb2[q] = np.inf
            ll[q] = 0
        c = 0
        if dp == 4:
            r0 = Y[p0 : p0 + nb]
            r1 = Y[m + p0 : m + p0 + nb]
            r2 = Y[2 * m + p0 : 2 * m + p0 + nb]
            r3 = Y[3 * m + p0 : 3 * m + p0 + nb]
            while c + 2 <= k:
                a0, a1, a2, a3 = W[c, 0], W[c, 1], W[c, 2], W[c, 3]
                e0, e1, e2, e3 = W[c + 1, 0], W[c + 1, 1], W[c + 1, 2], W[c + 1, 3]
                csa = cs[c]
                csb = cs[c + 1]
                for q in range(nb):
                    x0, x1, x2, x3 = r0[q], r1[q], r2[q], r3[q]
                    va = xx[q] + csa + a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3
                    vb = xx[q] + csb + e0 * x0 + e1 * x1 + e2 * x2 + e3 * x3
                    B1, B2, L = _push(va, bb1[q], bb2[q], ll[q], c)
                    bb1[q], bb2[q], ll[q] = _push(vb, B1, B2, L, c + 1)
                c += 2
        elif dp == 12:
            r0 = Y[p0 : p0 + nb]
            r1 = Y[m + p0 : m + p0 + nb]
            r2 = Y[2 * m + p0 : 2 * m + p0 + nb]
            r3 = Y[3 * m + p0 : 3 * m + p0 + nb]
            r4 = Y[4 * m + p0 : 4 * m + p0 + nb]
            r5 = Y[5 * m + p0 : 5 * m + p0 + nb]
            r6 = Y[6 * m + p0 : 6 * m + p0 + nb]
            r7 = Y[7 * m + p0 : 7 * m + p0 + nb]
            r8 = Y[8 * m + p0 : 8 * m + p0 + nb]
            r9 = Y[9 * m + p0 : 9 * m + p0 + nb]
            r10 = Y[10 * m + p0 : 10 * m + p0 + nb]
            r11 = Y[11 * m + p0 : 11 * m + p0 + nb]
            while c + 2 <= k:
                a0, a1, a2, a3, a4, a5 = W[c, 0], W[c, 1], W[c, 2], W[c, 3], W[c, 4], W[c, 5]
                a6, a7, a8, a9, a10, a11 = W[c, 6], W[c, 7], W[c, 8], W[c, 9], W[c, 10], W[c, 11]
                e0, e1, e2, e3 = W[c + 1, 0], W[c + 1, 1], W[c + 1, 2], W[c + 1, 3]
                e4, e5, e6, e7 = W[c + 1, 4], W[c + 1, 5], W[c + 1, 6], W[c + 1, 7]
                e8, e9, e10, e11 = W[c + 1, 8], W[c + 1, 9], W[c + 1, 10], W[c + 1, 11]
                csa = cs[c]
                csb = cs[c + 1]
                for q in range(nb):
                    x0, x1, x2, x3, x4, x5 = r0[q], r1[q], r2[q], r3[q], r4[q], r5[q]
                    x6, x7, x8, x9, x10, x11 = r6[q], r7[q], r8[q], r9[q], r10[q], r11[q]
                    va = xx[q] + csa + a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3 + a4 * x4 + a5 * x5
                    va = va + a6 * x6 + a7 * x7 + a8 * x8 + a9 * x9 + a10 * x10 + a11 * x11
                    vb = xx[q] + csb + e0 * x0 + e1 * x1 + e2 * x2 + e3 * x3 + e4 * x4 + e5 * x5
                    vb = vb + e6 * x6 + e7 * x7 + e8 * x8 + e9 * x9 + e10 * x10 + e11 * x11
                    B1, B2, L = _push(va, bb1[q], bb2[q], ll[q], c)
                    bb1[q], bb2[q], ll[q] = _push(vb, B1, B2, L, c + 1)
                c += 2
        while c < k:  # any other padding, or the last of an odd number of centres
            c2 = c + 1 if c + 1 < k else c
            _dist_pair(Y, m, p0, nb, W, cs, xx, c, c2, outa, outb)
            for q in range(nb):
                bb1[q], bb2[q], ll[q] = _push(outa[q], bb1[q], bb2[q], ll[q], c)
            if c2 != c:
                for q in range(nb):
                    bb1[q], bb2[q], ll[q] = _push(outb[q], bb1[q], bb2[q], ll[q], c2)
            c = c2 + 1


@numba.njit(cache=True, nogil=True)
def _sums_from_scratch(X, labels, sums, counts):
    """Cluster sums and sizes, each sum accumulated in point order (as plain Lloyd)."""
    n, d = X.shape
    sums[:] = 0.0
    counts[:] = 0
    for i in range(n):
        counts[labels[i]] += 1
        for j in range(d):
            sums[labels[i], j] += X[i, j]


@numba.njit(cache=True, nogil=True)
def _lloyd(X, XT, x_sq, centers, max_iter, tol_abs, work):
    """Lloyd's algorithm from ``centers`` (updated in place), with Hamerly's bounds.

    Point ``i`` with label ``a`` has an upper bound ``u`` on its distance to
    centre ``a`` and a lower bound ``l`` on its distance to every other centre.
    When the centres move, ``u`` grows by the move of centre ``a`` and ``l``
    shrinks by the largest move of the other centres. If ``u <= max(l, half
    the distance from centre a to its nearest other centre)`` the label cannot
    change; otherwise the point gets exact distances to all centres (and fresh
    bounds). Cluster sums are updated by the points that change label and
    recomputed from scratch (in point order, as plain Lloyd) for the final
    centres. Returns ``(labels, inertia)``.
    """
    n, d = X.shape
    k = centers.shape[0]
    dp = XT.shape[0]
    Yall = XT.ravel()
    idx, gath, xs, b1, b2 = work
    lab = np.empty(n, dtype=np.int64)
    labels = np.zeros(n, dtype=np.int64)
    # Bounds in offset form: the upper bound of point i is ub[i] + drift_up[a]
    # and its lower bound lb[i] - drift_low[a], a = labels[i]; the drifts sum
    # the moves since, so moving all bounds costs O(k) per iteration.
    ub = np.empty(n)
    lb = np.empty(n)
    drift_up = np.zeros(k)
    drift_low = np.zeros(k)
    sums = np.zeros((k, d))
    counts = np.zeros(k, dtype=np.int64)
    W = np.zeros((k, dp))
    cs = np.empty(k)
    half = np.empty(k)
    move = np.zeros(k)
    old = np.empty((k, d))
    own = np.empty(n)
    full = True  # bounds invalid: recompute every point
    exact = False  # sums are the from-scratch sums of the labels (or a relocation's)
    last = False  # this assignment, to the final centres, is the last
    it = 0
    while True:
        # ---- assignment step
        for c in range(k):
            s = 0.0
            for j in range(d):
                W[c, j] = -2.0 * centers[c, j]
                s += centers[c, j] * centers[c, j]
            cs[c] = s
        m = n
        if not full:
            # Half the distance from each centre to its nearest other centre.
            half[:] = np.inf
            for c in range(k):
                for c2 in range(c + 1, k):
                    s = 0.0
                    for j in range(d):
                        diff = centers[c, j] - centers[c2, j]
                        s += diff * diff
                    if s < half[c]:
                        half[c] = s
                    if s < half[c2]:
                        half[c2] = s
            for c in range(k):
                half[c] = 0.5 * np.sqrt(half[c])
            # The points whose bounds leave a label change possible.
            m = 0
            for i in range(n):
                a = labels[i]
                u = ub[i] + drift_up[a]
                lo = lb[i] - drift_low[a]
                h = half[a]
                idx[m] = i
                m += u > (h if h > lo else lo)
        # Recompute all points when the bounds are void or most points need it
        # (cheaper than gathering them), else gather the points that need it.
        every = full or m > _DENSE * n
        if every:
            Y = Yall
            m = n
            xsm = x_sq
        else:
            for j in range(dp):
                row = XT[j]
                g = gath[j * m : j * m + m]
                for p in range(m):
                    g[p] = row[idx[p]]
            for p in range(m):
                xs[p] = x_sq[idx[p]]
            Y = gath
            xsm = xs
        _nearest_two(Y, m, W, cs, xsm, b1, b2, lab)
        for p in range(m):
            v = b1[p]
            b1[p] = np.sqrt(v) if v > 0.0 else 0.0
            v = b2[p]
            b2[p] = np.sqrt(v) if v > 0.0 else 0.0
        if every:
            for i in range(n):
                ub[i] = b1[i]
                lb[i] = b2[i]
            drift_up[:] = 0.0
            drift_low[:] = 0.0
        if full:
            for i in range(n):
                labels[i] = lab[i]
            _sums_from_scratch(X, labels, sums, counts)
            exact = True
            full = False
        else:
            # New labels, sums updated by the points that change label.
            for p in range(m):
                i = p if every else idx[p]
                new = lab[p]
                prev = labels[i]
                if new != prev:
                    labels[i] = new
                    counts[prev] -= 1
                    counts[new] += 1
                    for j in range(d):
                        sums[prev, j] -= X[i, j]
                        sums[new, j] += X[i, j]
                    exact = False
                if not every:
                    ub[i] = b1[p] - drift_up[new]
                    lb[i] = b2[p] + drift_low[new]
        if last:
            break
        # ---- update step
        empty = False
        for c in range(k):
            if counts[c] == 0:
                empty = True
        if empty:
            # Move each empty cluster to the point farthest from its centre,
            # exactly as plain Lloyd does.
            _assign(X, x_sq, centers, labels, own)
            _sums_from_scratch(X, labels, sums, counts)
            for c in range(k):
                if counts[c] == 0:
                    far = np.argmax(own)
                    prev = labels[far]
                    if counts[prev] > 1:
                        counts[prev] -= 1
                        for j in range(d):
                            sums[prev, j] -= X[far, j]
                    labels[far] = c
                    counts[c] = 1
                    own[far] = 0.0
                    for j in range(d):
                        sums[c, j] = X[far, j]
            full = True
            exact = True
        shift = 0.0
        for c in range(k):
            for j in range(d):
                new_cj = sums[c, j] / counts[c]
                shift += (new_cj - centers[c, j]) ** 2
                old[c, j] = centers[c, j]
                centers[c, j] = new_cj
        it += 1
        if shift <= tol_abs or it >= max_iter:
            # Converged: final centres from exact sums, then a last assignment.
            last = True
            if not exact:
                _sums_from_scratch(X, labels, sums, counts)
                for c in range(k):
                    for j in range(d):
                        centers[c, j] = sums[c, j] / counts[c]
        if not full:
            # Move the bounds: own centre by its move, the others by at most
            # the largest move among them.
            m1 = 0.0
            m2 = 0.0
            c1 = 0
            for c in range(k):
                s = 0.0
                for j in range(d):
                    diff = centers[c, j] - old[c, j]
                    s += diff * diff
                move[c] = np.sqrt(s)
                if move[c] > m1:
                    m2 = m1
                    m1 = move[c]
                    c1 = c
                elif move[c] > m2:
                    m2 = move[c]
            for c in range(k):
                drift_up[c] += move[c]
                drift_low[c] += m2 if c == c1 else m1
    inertia = 0.0
    for i in range(n):
        a = labels[i]
        s = 0.0
        for j in range(d):
            diff = X[i, j] - centers[a, j]
            s += diff * diff
        inertia += s
    return labels, inertia


@numba.njit(cache=True, nogil=True)
def _assign(X, x_sq, centers, labels, own):
    """Plain assignment: label each point with its nearest centre; ``own`` gets
    the squared distance. Used to relocate empty clusters, as plain Lloyd does.

    Distances are expanded as ``|x|^2 - 2 x.c + |c|^2`` with the cross term
    from one matrix product (BLAS), as scikit-learn's Lloyd does.
    """
    n = X.shape[0]
    k = centers.shape[0]
    cross = np.dot(X, np.ascontiguousarray(centers.T))
    c_sq = np.empty(k)
    for c in range(k):
        c_sq[c] = np.dot(centers[c], centers[c])
    for i in range(n):
        best = np.inf
        lab = 0
        for c in range(k):
            dist = x_sq[i] - 2.0 * cross[i, c] + c_sq[c]
            if dist < best:
                best = dist
                lab = c
        labels[i] = lab
        own[i] = best if best > 0.0 else 0.0
