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
"""

from __future__ import annotations

import numba
import numpy as np


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
def _kmeans_plusplus(X: np.ndarray, x_sq: np.ndarray, k: int, first: int, draws: np.ndarray) -> np.ndarray:
    n, d = X.shape
    n_trials = draws.shape[1]
    centers = np.empty((k, d))
    centers[0] = X[first]
    closest = np.empty(n)
    c0 = np.dot(X, np.ascontiguousarray(X[first]))
    for i in range(n):
        v = x_sq[i] - 2.0 * c0[i] + x_sq[first]
        closest[i] = v if v > 0.0 else 0.0
    cand = np.empty(n_trials, dtype=np.int64)
    for c in range(1, k):
        potential = closest.sum()
        for t in range(n_trials):
            target = draws[c - 1, t] * potential
            acc = 0.0
            idx = n - 1
            for i in range(n):
                acc += closest[i]
                if acc > target:
                    idx = i
                    break
            cand[t] = idx
        # Distances of all points to all candidates with one matrix product.
        cross = np.dot(X, np.ascontiguousarray(X[cand].T))
        best_pot = np.inf
        best_t = 0
        for t in range(n_trials):
            pot = 0.0
            for i in range(n):
                v = x_sq[i] - 2.0 * cross[i, t] + x_sq[cand[t]]
                if v < 0.0:
                    v = 0.0
                pot += v if v < closest[i] else closest[i]
            if pot < best_pot:
                best_pot = pot
                best_t = t
        for i in range(n):
            v = x_sq[i] - 2.0 * cross[i, best_t] + x_sq[cand[best_t]]
            if v < 0.0:
                v = 0.0
            if v < closest[i]:
                closest[i] = v
        centers[c] = X[cand[best_t]]
    return centers


@numba.njit(cache=True, nogil=True)
def _lloyd(X: np.ndarray, x_sq: np.ndarray, centers: np.ndarray, max_iter: int, tol_abs: float):
    n, d = X.shape
    k = centers.shape[0]
    labels = np.zeros(n, dtype=np.int64)
    own = np.zeros(n)
    sums = np.zeros((k, d))
    counts = np.zeros(k, dtype=np.int64)
    for _ in range(max_iter):
        _assign(X, x_sq, centers, labels, own)
        # Update step.
        sums[:] = 0.0
        counts[:] = 0
        for i in range(n):
            counts[labels[i]] += 1
            for j in range(d):
                sums[labels[i], j] += X[i, j]
        for c in range(k):
            if counts[c] == 0:  # relocate an empty cluster to the farthest point
                far = np.argmax(own)
                old = labels[far]
                if counts[old] > 1:
                    counts[old] -= 1
                    for j in range(d):
                        sums[old, j] -= X[far, j]
                labels[far] = c
                counts[c] = 1
                own[far] = 0.0
                for j in range(d):
                    sums[c, j] = X[far, j]
        shift = 0.0
        for c in range(k):
            for j in range(d):
                new = sums[c, j] / counts[c]
                shift += (new - centers[c, j]) ** 2
                centers[c, j] = new
        if shift <= tol_abs:
            break
    # Final assignment with the final centres.
    _assign(X, x_sq, centers, labels, own)
    return labels, own.sum()


@numba.njit(cache=True, nogil=True)
def _assign(X, x_sq, centers, labels, own):
    """Label each point with its nearest centre; ``own`` gets the squared distance.

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


@numba.njit(cache=True, nogil=True)
def _kmeans_restarts(X, k, first, draws, max_iter, tol_abs):
    n = X.shape[0]
    x_sq = np.empty(n)
    for i in range(n):
        x_sq[i] = np.dot(X[i], X[i])
    best_labels = np.zeros(n, dtype=np.int64)
    best_inertia = np.inf
    for r in range(first.shape[0]):
        centers = _kmeans_plusplus(X, x_sq, k, first[r], draws[r])
        labels, inertia = _lloyd(X, x_sq, centers, max_iter, tol_abs)
        if inertia < best_inertia:
            best_inertia = inertia
            best_labels = labels
    return best_labels, best_inertia
