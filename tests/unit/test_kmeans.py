"""Tests of the compiled k-means (greedy k-means++ and Lloyd with Hamerly's bounds)."""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import pytest
from planted import PAPER_WIDTHS, build_glorot_mlp
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from clusterability.core.build import mlp_graph
from clusterability.core.kmeans import _centred, kmeans
from clusterability.core.spectral import spectral_embedding


def _blobs(rng, n, d, k, spread):
    centres = rng.normal(size=(k, d)) * 10.0
    truth = rng.permutation(np.arange(n) % k)
    return centres[truth] + rng.normal(size=(n, d)) * spread, truth


@functools.cache
def _embedding(k: int) -> np.ndarray:
    """The spectral embedding (1818 x k) that the pipeline clusters: a Glorot-initialized
    784-256-256-256-256-10 MLP, magnitude-pruned to 90 % zeros."""
    kernels = [np.where(np.abs(w) >= np.quantile(np.abs(w), 0.9), w, 0) for w in build_glorot_mlp(PAPER_WIDTHS, seed=k)]
    emb = spectral_embedding(mlp_graph(kernels), k, rng=np.random.default_rng(k))
    emb.setflags(write=False)
    return emb


# ---------------------------------------------------------------------------
# Plain numpy reference: the same algorithm and random draws, no acceleration.


def _sq_dists(X, C):
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)


def _reference_seeding(X, k, first, draws):
    n = X.shape[0]
    centres = [X[first]]
    closest = _sq_dists(X, X[first][None])[:, 0]
    for c in range(1, k):
        running = np.cumsum(closest)
        cand = np.minimum(np.searchsorted(running, draws[c - 1] * running[-1], side="right"), n - 1)
        dist = _sq_dists(X, X[cand])
        best = int(np.argmin(np.minimum(dist, closest[:, None]).sum(axis=0)))
        closest = np.minimum(closest, dist[:, best])
        centres.append(X[cand[best]])
    return np.array(centres)


def _reference_lloyd(X, centres, max_iter, tol_abs):
    k = centres.shape[0]
    for _ in range(max_iter):
        dist = _sq_dists(X, centres)
        labels = dist.argmin(axis=1)
        own = dist[np.arange(len(X)), labels]
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, X)
        for c in range(k):
            if counts[c] == 0:  # move an empty cluster to the farthest point
                far = int(np.argmax(own))
                if counts[labels[far]] > 1:
                    counts[labels[far]] -= 1
                    sums[labels[far]] -= X[far]
                labels[far] = c
                counts[c] = 1
                own[far] = 0.0
                sums[c] = X[far]
        new = sums / counts[:, None]
        shift = ((new - centres) ** 2).sum()
        centres = new
        if shift <= tol_abs:
            break
    dist = _sq_dists(X, centres)
    labels = dist.argmin(axis=1)
    return labels, dist[np.arange(len(X)), labels].sum()


def _reference_restarts(X, k, seed, n_init=10, max_iter=300, tol=1e-4):
    """(labels, inertia) of every restart."""
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    first = rng.integers(X.shape[0], size=n_init)
    draws = rng.random((n_init, max(k - 1, 0), 2 + int(np.log(k))))
    X = X - X.mean(axis=0)
    tol_abs = tol * np.mean(X.var(axis=0))
    return [_reference_lloyd(X, _reference_seeding(X, k, first[r], draws[r]), max_iter, tol_abs) for r in range(n_init)]


def _assert_matches_reference(X, k, seed, **kw):
    labels, inertia = kmeans(X, k, seed=seed, **kw)
    runs = _reference_restarts(X, k, seed, **kw)
    best = min(i for _, i in runs)
    assert inertia == pytest.approx(best, rel=1e-9, abs=1e-12)
    # Restarts that reach the same optimum may tie in inertia; any of them may win.
    assert any(np.array_equal(labels, lab) for lab, i in runs if i <= best + 1e-9 * abs(best) + 1e-12)


# The distance kernel is compiled per padded dimension (4, 8, 12, 16 here); odd k
# covers the unpaired last centre, 600 points a partial last block.
@pytest.mark.parametrize(("d", "k"), [(2, 3), (4, 4), (6, 5), (12, 12), (13, 7), (3, 13)])
def test_matches_plain_lloyd_on_overlapping_blobs(d, k):
    rng = np.random.default_rng(100 * d + k)
    X = _blobs(rng, 600, d, k, spread=8.0)[0]  # heavily overlapping: many iterations
    for seed in range(3):
        _assert_matches_reference(X, k, seed, n_init=1)
    _assert_matches_reference(X, k, 7)
    _assert_matches_reference(X, k, 8, max_iter=2)


@pytest.mark.parametrize("k", [4, 12])
def test_matches_plain_lloyd_on_example_embeddings(k):
    X = _embedding(k)
    assert X.shape == (1818, k)
    for seed in range(2):
        _assert_matches_reference(X, k, seed)


def _fixed_blobs(d: int, k: int, n: int = 1000) -> np.ndarray:
    """Overlapping blobs, fixed by (d, k): many Lloyd iterations, bounds that skip some points."""
    rng = np.random.default_rng(1000 * d + k)
    centres = rng.normal(size=(k, d)) * 10.0
    return centres[np.arange(n) % k] + rng.normal(size=(n, d)) * 6.0


# Labels (first 16 hex digits of the SHA-256 of the int64 labels) and inertia of
# kmeans(_fixed_blobs(d, k), k, seed=seed), computed by the implementation with
# hand-unrolled kernels for 4 and 12 coordinates (commit 7b7c787).
UNROLLED_RESULTS = {
    (4, 4, 0): ("beeebeb26b7aa892", 127170.69804974085),
    (4, 4, 1): ("b011cc16a38efaf2", 127170.34356409585),
    (12, 12, 0): ("aa4ef703a49ee937", 427070.5756479634),
    (12, 12, 1): ("71f9503c513953e3", 427070.5756479634),
    (7, 7, 0): ("907bb8be63e3b78d", 250957.22202670525),
    (7, 7, 1): ("d15302b840369946", 250957.22202670525),
    (7, 4, 0): ("1d25ec37b59feeaf", 247534.97803794898),
    (7, 4, 1): ("7cdfc3b7ba855bd7", 247534.97803794898),
    (4, 12, 0): ("0b83f77f635b2a23", 121273.61284475296),
    (4, 12, 1): ("daedf5ef7cf6cb24", 120565.64483412492),
}


@pytest.mark.parametrize(("d", "k", "seed"), list(UNROLLED_RESULTS))
def test_same_labels_as_unrolled_kernels(d, k, seed):
    labels, inertia = kmeans(_fixed_blobs(d, k), k, seed=seed)
    digest, expected = UNROLLED_RESULTS[d, k, seed]
    assert hashlib.sha256(labels.astype("<i8").tobytes()).hexdigest()[:16] == digest
    assert inertia == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("d", "k"), [(3, 4), (12, 12)])
def test_recovers_well_separated_blobs(d, k):
    X, truth = _blobs(np.random.default_rng(d), 500, d, k, spread=0.3)
    labels, inertia = kmeans(X, k, seed=0)
    assert labels.shape == (500,)
    assert adjusted_rand_score(truth, labels) == 1.0
    centred = X - X.mean(axis=0)
    assert 0.0 < inertia < 0.01 * (centred**2).sum()


def test_same_seed_same_result_and_generator_seed():
    X = _blobs(np.random.default_rng(1), 400, 5, 6, spread=4.0)[0]
    a = kmeans(X, 6, seed=3)
    b = kmeans(X, 6, seed=3)
    c = kmeans(X, 6, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[0], c[0])
    assert a[1] == b[1] == c[1]


def test_different_seeds_can_differ():
    X = np.random.default_rng(2).uniform(size=(300, 2))
    partitions = {tuple(kmeans(X, 6, seed=s, n_init=1)[0]) for s in range(8)}
    assert len(partitions) > 1


def test_one_cluster_and_one_point_per_cluster():
    X = np.random.default_rng(3).normal(size=(40, 3))
    labels, inertia = kmeans(X, 1, seed=0)
    assert (labels == 0).all()
    assert inertia == pytest.approx(((X - X.mean(axis=0)) ** 2).sum(), rel=1e-12)
    labels, inertia = kmeans(X, 40, seed=0)
    assert sorted(labels) == list(range(40))
    assert inertia == pytest.approx(0.0, abs=1e-20)


@pytest.mark.parametrize("k", [0, -1, 41])
def test_invalid_k_raises(k):
    with pytest.raises(ValueError):
        kmeans(np.zeros((40, 2)), k, seed=0)


def test_invalid_n_init_or_max_iter_raises():
    X = np.random.default_rng(4).normal(size=(10, 2))
    with pytest.raises(ValueError):
        kmeans(X, 2, seed=0, n_init=0)
    with pytest.raises(ValueError):
        kmeans(X, 2, seed=0, max_iter=0)


@pytest.mark.parametrize(
    ("X", "k"),
    [
        (np.repeat(np.random.default_rng(5).normal(size=(5, 3)), 20, axis=0), 8),  # duplicates
        (np.repeat(np.eye(3), [1, 2, 30], axis=0), 6),  # fewer distinct points than k
        (np.ones((25, 4)), 3),  # a single distinct point
    ],
)
def test_duplicate_points_and_empty_clusters(X, k):
    labels, inertia = kmeans(X, k, seed=0)
    assert labels.shape == (X.shape[0],)
    assert labels.min() >= 0 and labels.max() < k
    assert np.isfinite(inertia) and 0.0 <= inertia < 1e-20
    # every point lies on its cluster's centre
    for c in np.unique(labels):
        assert np.ptp(X[labels == c], axis=0).max() == 0.0


@pytest.mark.parametrize("k", [4, 12])
def test_inertia_close_to_sklearn(k):
    X = _embedding(k)
    seeds = range(4)
    ours = np.mean([kmeans(X, k, seed=s)[1] for s in seeds])
    with threadpool_limits(1):  # small problem: threads only add contention
        theirs = np.mean([KMeans(k, n_init=10, random_state=s).fit(X).inertia_ for s in seeds])
    assert abs(ours - theirs) <= 0.005 * theirs


@pytest.mark.parametrize("d", [2, 3, 4, 7, 8, 12, 13, 33, 128])
def test_centring_is_numpys_bit_for_bit(d):
    """The compiled centring gives the data and the tolerance's mean variance exactly as NumPy's mean and var
    do (column sums row after row; the variances' mean pairwise), so k-means sees the same numbers."""
    rng = np.random.default_rng(d)
    X = rng.normal(size=(1000 + d, d)) * rng.uniform(0.01, 100.0, size=d) + rng.normal(size=d) * 10
    centred, mean_variance = _centred(X)
    expected = X - X.mean(axis=0)
    assert centred.tobytes() == expected.tobytes()
    assert mean_variance == float(np.mean(expected.var(axis=0)))
