"""The bounded eigen-solver: ARPACK within a budget of products, then a dense fallback or one line."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import build_glorot_mlp
from scipy.sparse.linalg import LinearOperator, eigsh

from clusterability import eigensolver
from clusterability.cli import main
from clusterability.errors import InputError
from clusterability.graph import mlp_graph
from clusterability.measure import cluster_network
from clusterability.weights import NetworkWeights, save_weights


def _chain(n_layers: int, width: int = 4, seed: int = 0) -> list[np.ndarray]:
    """A long chain of small dense layers: its top eigenvalues crowd against 1, which starves ARPACK."""
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(width, width)).astype(np.float32) for _ in range(n_layers)]


class _Counting(LinearOperator):
    """A symmetric matrix as an operator that counts its products."""

    def __init__(self, matrix: np.ndarray) -> None:
        super().__init__(matrix.dtype, matrix.shape)
        self.matrix, self.products = matrix, 0

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        self.products += 1
        return self.matrix @ x

    def _matmat(self, x: np.ndarray) -> np.ndarray:
        self.products += x.shape[1]
        return self.matrix @ x


def _path_laplacian_like(n: int) -> np.ndarray:
    """The normalized adjacency of a path: eigenvalues cos(pi j / (n - 1)), crowded near 1 for large n."""
    m = np.zeros((n, n))
    i = np.arange(n - 1)
    m[i, i + 1] = m[i + 1, i] = 1.0
    d = m.sum(axis=1)
    return m / np.sqrt(np.outer(d, d))


def test_a_converged_result_is_what_unbounded_arpack_returns() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 400))
    matrix = a @ a.T
    v0 = rng.uniform(0.5, 1.5, size=400)
    vals, vecs = eigensolver.top_eigenpairs(matrix, 5, v0=v0, tol=1e-10)
    ref_vals, ref_vecs = eigsh(matrix, k=5, which="LA", v0=v0, tol=1e-10)
    np.testing.assert_array_equal(vals, ref_vals)
    np.testing.assert_array_equal(vecs, ref_vecs)


def test_crowded_eigenvalues_fall_back_to_the_exact_dense_decomposition() -> None:
    n = 1000
    matrix = _path_laplacian_like(n)
    op = _Counting(matrix)
    v0 = np.random.default_rng(0).uniform(0.5, 1.5, size=n)
    vals, vecs = eigensolver.top_eigenpairs(op, 4, v0=v0, tol=1e-6, dense=lambda: matrix)
    # ARPACK stopped within its budget (plus one basis of slack) rather than running on ...
    assert op.products <= eigensolver.product_budget(n) + 20
    # ... and the answer is the exact top of the spectrum, cos(pi j / (n - 1)), with its eigenvectors.
    np.testing.assert_allclose(vals, np.cos(np.pi * np.arange(3, -1, -1) / (n - 1)), atol=1e-12)
    np.testing.assert_allclose(matrix @ vecs, vecs * vals, atol=1e-10)


def test_no_fallback_beyond_the_dense_limit_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eigensolver, "DENSE_FALLBACK_LIMIT", 1000)
    matrix = _path_laplacian_like(1500)
    v0 = np.random.default_rng(0).uniform(0.5, 1.5, size=1500)
    with pytest.raises(InputError, match="did not converge within 300 products") as exc:
        eigensolver.top_eigenpairs(matrix, 4, v0=v0, tol=1e-6, dense=lambda: matrix, what="net.npz")
    assert "\n" not in str(exc.value) and str(exc.value).startswith("net.npz: ")


def test_the_papers_mlp_never_reaches_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget leaves ARPACK several times the products the 784-256x4-10 MLP needs at k = 4 and 12."""
    used: list[int] = []
    original = eigensolver.eigsh

    def counting(operator, **kwargs):
        op = _Counting(np.asarray(operator))
        out = original(op, **kwargs)
        used.append(op.products)
        return out

    monkeypatch.setattr(eigensolver, "eigsh", counting)
    graph = mlp_graph(build_glorot_mlp(seed=3))
    for k in (4, 12):
        cluster_network(graph, k, seed=0)
    assert len(used) == 2 and max(used) * 2 < eigensolver.MIN_PRODUCTS


def test_a_long_chain_of_small_layers_ends_with_a_result(tmp_path, capsys) -> None:
    """The command line on a 1,000-layer chain (4,004 nodes): ARPACK alone needs about 1,600 products."""
    path = tmp_path / "chain.npz"
    save_weights(path, NetworkWeights(tuple(_chain(1000))))
    assert main(["ncut", str(path), "--k", "4", "--shuffles", "0"]) == 0
    out = capsys.readouterr().out
    assert "n-cut (k=4" in out
