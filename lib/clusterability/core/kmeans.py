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
``|x|^2 + |c|^2 - 2 x.c`` by one generic kernel (:func:`_dot_pair`), in
loops that run over points, which the compiler vectorises: the points are
stored in blocks, transposed within each block, and numba compiles a version
per (padded) dimension, with the loop over coordinates unrolled. No BLAS calls
on the hot paths.
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
    if 2 <= X.shape[1] <= 128:
        X, mean_variance = _centred(X)
    else:  # one column: NumPy sums it pairwise (see _centred); over 128: a longer pairwise sum
        X = X - X.mean(axis=0)
        mean_variance = float(np.mean(X.var(axis=0)))
    tol_abs = tol * mean_variance
    dims = (0.0,) * ((X.shape[1] + 3) // 4 * 4)  # the padded dimension, as a type (see _dot_pair)
    labels, inertia = _kmeans_restarts(X, k, first, draws, max_iter, tol_abs, dims)
    return labels, float(inertia)


@numba.njit(cache=True, nogil=True)
def _centred(X):
    """``X - X.mean(axis=0)`` and ``np.mean(that.var(axis=0))``, bit for bit as NumPy computes them for 2 to 128
    columns: each column summed row after row, the variances' mean summed pairwise (NumPy's order for a
    short vector: up to 7 in order, else 8 interleaved partial sums and the rest)."""
    n, d = X.shape
    mean = np.zeros(d)
    for i in range(n):
        for j in range(d):
            mean[j] += X[i, j]
    for j in range(d):
        mean[j] /= n
    Y = np.empty((n, d))
    again = np.zeros(d)  # the centred columns' means, as var() subtracts them
    for i in range(n):
        for j in range(d):
            Y[i, j] = X[i, j] - mean[j]
            again[j] += Y[i, j]
    for j in range(d):
        again[j] /= n
    var = np.zeros(d)
    for i in range(n):
        for j in range(d):
            x = Y[i, j] - again[j]
            var[j] += x * x
    for j in range(d):
        var[j] /= n
    return Y, _pairwise_sum(var) / d


@numba.njit(cache=True, nogil=True)
def _pairwise_sum(a):
    """NumPy's pairwise sum of a contiguous vector of at most 128 entries (longer ones it splits in halves)."""
    n = a.shape[0]
    if n < 8:
        total = 0.0
        for i in range(n):
            total += a[i]
        return total
    r = a[:8].copy()
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += a[i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        total += a[i]
        i += 1
    return total


@numba.njit(cache=True, nogil=True)
def _kmeans_restarts(X, k, first, draws, max_iter, tol_abs, dims):
    n, d = X.shape
    x_sq = np.empty(n)
    for i in range(n):
        s = 0.0
        for j in range(d):
            s += X[i, j] * X[i, j]
        x_sq[i] = s
    dp = len(dims)
    size = (n + _BLOCK - 1) // _BLOCK * _BLOCK * dp
    XB = np.zeros(size)  # the points in the blocked layout of _dot_pair
    _to_blocks(X, np.arange(n), n, XB, dp)
    n_trials = draws.shape[2]
    seed_work = (
        np.zeros((n_trials, dp)),
        np.empty(n_trials),
        np.empty(size // dp * (n_trials + 1)),
        np.empty(n),
        np.empty(n),
    )
    lloyd_work = (np.empty(n, dtype=np.int64), np.zeros(size), np.empty(n), np.empty(n), np.empty(n))
    best_labels = np.zeros(n, dtype=np.int64)
    best_inertia = np.inf
    for r in range(first.shape[0]):
        centers = _kmeans_plusplus(X, XB, x_sq, k, first[r], draws[r], seed_work, dims)
        labels, inertia = _lloyd(X, XB, x_sq, centers, max_iter, tol_abs, lloyd_work, dims)
        if inertia < best_inertia:
            best_inertia = inertia
            best_labels = labels
    return best_labels, best_inertia


@numba.njit(cache=True, nogil=True)
def _to_blocks(X, idx, m, out, dp):
    """Rows ``idx[:m]`` of ``X`` into ``out`` in the blocked layout of :func:`_dot_pair`
    (``out`` zero-filled beforehand: padding is never written)."""
    d = X.shape[1]
    for p in range(m):
        i = idx[p]
        o = (p - p % _BLOCK) * dp + p % _BLOCK
        for j in range(d):
            out[o + j * _BLOCK] = X[i, j]


@numba.njit(cache=True, nogil=True)
def _kmeans_plusplus(X, XB, x_sq, k, first, draws, work, dims):
    """Greedy k-means++: each new centre is the best (lowest potential) of
    ``n_trials`` candidates, sampled with probability proportional to the
    squared distance to the nearest centre chosen so far."""
    n, d = X.shape
    n_trials = draws.shape[1]
    W, cs, D, closest, prefix = work
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
        _candidate_dists(XB, n, W[:nt], cs[:nt], x_sq, closest, D, pots, dims)
        best = 0
        for t in range(1, nt):
            if pots[t] < pots[best]:
                best = t
        acc = 0.0
        for i in range(n):
            closest[i] = min(closest[i], D[(i - i % _BLOCK) * (nt + 1) + best * _BLOCK + i % _BLOCK])
            acc += closest[i]
            prefix[i] = acc
        for j in range(d):
            centers[c, j] = X[cand[best], j]
    return centers


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def _candidate_dists(Y, n, W, cs, xs, closest, D, pots, dims):
    """Squared distances ``D`` of all points to each candidate, and the
    potentials ``pots[t] = sum_i min(D[t, i], closest[i])``.

    Points ``Y`` and candidates ``W``, ``cs`` as for :func:`_dot_pair`. ``D``
    is blocked like ``Y``: ``D[t, p]`` is at ``p0 * (nt + 1) + t * _BLOCK + p -
    p0`` for the ``nt`` candidates and one more row (scratch for an odd number
    of candidates). ``reassoc`` lets the potential sums vectorise (they change
    only in the last bits).
    """
    nt = W.shape[0]
    dp = len(dims)
    for t in range(nt):
        pots[t] = 0.0
    for p0 in range(0, n, _BLOCK):
        nb = min(_BLOCK, n - p0)
        Yb = Y[p0 * dp : (p0 + _BLOCK) * dp]
        xx = xs[p0 : p0 + nb]
        cl = closest[p0 : p0 + nb]
        Db = D[p0 * (nt + 1) : (p0 + _BLOCK) * (nt + 1)]
        for ta in range(0, nt, 2):
            tb = ta + 1 if ta + 1 < nt else ta  # an odd last candidate is paired with itself
            out = Db[ta * _BLOCK : (ta + 2) * _BLOCK]  # rows ta and ta + 1 (candidate tb, or scratch)
            wa = W[ta]
            wb = W[tb]
            csa = cs[ta]
            csb = cs[tb]
            pa = 0.0
            pb = 0.0
            for q in range(nb):
                va, vb = _dot_pair(Yb, q, wa, wb, xx[q] + csa, xx[q] + csb, dims)
                va = max(0.0, va)  # numba: va if va > 0.0 else 0.0
                vb = max(0.0, vb)
                out[q] = va
                out[_BLOCK + q] = vb
                pa += min(cl[q], va)  # numba: va if va < cl[q] else cl[q]
                pb += min(cl[q], vb)
            pots[ta] += pa
            if tb != ta:
                pots[tb] += pb


@numba.njit(inline="always")
def _dot_pair(Yb, q, wa, wb, va, vb, dims):
    """``va + x.wa`` and ``vb + x.wb`` for the point ``x`` number ``q`` of block ``Yb``.

    The distance kernel of this module. Points are stored in blocks of
    ``_BLOCK``, zero-padded to ``dp = len(dims)`` coordinates and transposed
    within each block: coordinate ``j`` of point ``p`` is at ``Y[p0 * dp + j *
    _BLOCK + p - p0]``, ``p0 = p - p % _BLOCK``, and ``Yb = Y[p0 * dp :]``.
    ``wa``, ``wb`` are ``-2 *`` two centres (zero-padded). ``dims`` is a tuple
    of ``dp`` zeros: its length is a compile-time constant, so numba compiles
    the callers once per ``dp``, with this loop unrolled and their loops over
    the points of a block vectorised. The products are added one coordinate
    at a time, in order, as fused multiply-adds.
    """
    for j in range(len(dims)):
        x = Yb[j * _BLOCK + q]
        va += wa[j] * x
        vb += wb[j] * x
    return va, vb


@numba.njit(inline="always")
def _push(v, b1, b2, lab, c):
    """Insert squared distance ``v`` to centre ``c`` into (nearest, second, label)."""
    lt = v < b1
    return (v if lt else b1), (b1 if lt else min(b2, v)), (c if lt else lab)


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _nearest_two(Y, m, W, cs, xs, b1, b2, lab, dims):
    """Squared distances to the nearest (``b1``, label ``lab``) and second-nearest
    (``b2``) centre of ``m`` points.

    Points ``Y`` and centres ``W`` as for :func:`_dot_pair`, ``cs[c] = |centre
    c|^2``, ``xs[p] = |point p|^2``. Centres are taken two at a time, in order.
    """
    k = W.shape[0]
    dp = len(dims)
    for p0 in range(0, m, _BLOCK):
        nb = min(_BLOCK, m - p0)
        Yb = Y[p0 * dp : (p0 + _BLOCK) * dp]
        bb1 = b1[p0 : p0 + nb]
        bb2 = b2[p0 : p0 + nb]
        ll = lab[p0 : p0 + nb]
        xx = xs[p0 : p0 + nb]
        for q in range(nb):
            bb1[q] = np.inf
            bb2[q] = np.inf
            ll[q] = 0
        for c in range(0, k, 2):
            c2 = c + 1 if c + 1 < k else c  # an odd last centre is paired with itself,
            wa = W[c]
            wb = W[c2]
            csa = cs[c]
            csb = cs[c2] if c2 != c else np.inf  # and its twin is infinitely far: no change
            for q in range(nb):
                va, vb = _dot_pair(Yb, q, wa, wb, xx[q] + csa, xx[q] + csb, dims)
                B1, B2, L = _push(va, bb1[q], bb2[q], ll[q], c)
                bb1[q], bb2[q], ll[q] = _push(vb, B1, B2, L, c2)


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
def _lloyd(X, XB, x_sq, centers, max_iter, tol_abs, work, dims):
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
    dp = len(dims)
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
                    half[c] = min(half[c], s)
                    half[c2] = min(half[c2], s)
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
                m += u > max(lo, h)
        # Recompute all points when the bounds are void or most points need it
        # (cheaper than gathering them), else gather the points that need it.
        every = full or m > _DENSE * n
        if every:
            Y = XB
            m = n
            xsm = x_sq
        else:
            _to_blocks(X, idx, m, gath, dp)
            for p in range(m):
                xs[p] = x_sq[idx[p]]
            Y = gath
            xsm = xs
        _nearest_two(Y, m, W, cs, xsm, b1, b2, lab, dims)
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
        own[i] = max(0.0, best)
