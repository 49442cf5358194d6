"""The bounded eigen-solvers: ARPACK within a budget of products, then a dense fallback or one line;
Lanczos on a small explicit matrix within the same budget, else None (the caller goes to ARPACK)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from planted import build_glorot_mlp
from scipy.sparse.linalg import LinearOperator, eigsh

from clusterability.cli import main
from clusterability.core import eigensolver
from clusterability.core.build import mlp_graph
from clusterability.core.measure import cluster_network
from clusterability.core.network import NetworkWeights
from clusterability.errors import InputError
from clusterability.io.npz import save_weights


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
    vals, vecs = eigensolver.top_eigenpairs(matrix, 5, v0=v0, tol=1e-10, rng=rng)
    ref_vals, ref_vecs = eigsh(matrix, k=5, which="LA", v0=v0, tol=1e-10)
    np.testing.assert_array_equal(vals, ref_vals)
    np.testing.assert_array_equal(vecs, ref_vecs)


def test_arpack_restarts_draw_from_the_callers_generator() -> None:
    """ARPACK asks for a new random start vector when its Krylov space turns invariant before it holds the k
    eigenvectors (an L1-regularized network's pruned graph in pieces did, with the pipeline's own start). SciPy
    draws that vector from the operating system's entropy unless given a generator, so two calls differed;
    top_eigenpairs hands ARPACK the caller's: the same seed gives the same eigenvectors, bit for bit."""
    a = np.random.default_rng(0).normal(size=(60, 60))
    matrix = a @ a.T / 60
    matrix[0, :] = matrix[:, 0] = 0.0
    matrix[0, 0] = 1.0  # e_0 is an eigenvector: the Krylov space of a start there is invariant at once
    v0 = np.eye(60)[0]
    assert not np.array_equal(*(eigsh(matrix, k=4, which="LA", v0=v0, tol=1e-10)[1] for _ in range(2)))

    def solve(seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
        rng = np.random.default_rng(seed)
        before = rng.bit_generator.state
        vals, vecs = eigensolver.top_eigenpairs(matrix, 4, v0=v0, tol=1e-10, rng=rng, dense=lambda: matrix)
        return vals, vecs, rng.bit_generator.state != before

    (vals, vecs, drawn), (_, again, _), (_, other, _) = solve(5), solve(5), solve(6)
    assert drawn  # the restart's vector came from the caller's generator
    np.testing.assert_array_equal(vecs, again)
    assert not np.array_equal(vecs, other)
    np.testing.assert_allclose(vals, np.linalg.eigvalsh(matrix)[-4:], rtol=1e-10)


def test_crowded_eigenvalues_fall_back_to_the_exact_dense_decomposition() -> None:
    n = 1000
    matrix = _path_laplacian_like(n)
    op = _Counting(matrix)
    v0 = np.random.default_rng(0).uniform(0.5, 1.5, size=n)
    vals, vecs = eigensolver.top_eigenpairs(op, 4, v0=v0, tol=1e-6, rng=np.random.default_rng(1), dense=lambda: matrix)
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
        eigensolver.top_eigenpairs(
            matrix, 4, v0=v0, tol=1e-6, rng=np.random.default_rng(1), dense=lambda: matrix, what="net.npz"
        )
    assert "\n" not in str(exc.value) and str(exc.value).startswith("net.npz: ")


def test_the_papers_mlp_never_reaches_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget leaves Lanczos several times the products the 784-256x4-10 MLP needs at k = 4 and 12
    (dense and pruned to 90 %); ARPACK is not needed at all."""
    steps: list[tuple[bool, int]] = []
    original = eigensolver._lanczos_run

    def counting(*args):
        result = original(*args)
        steps.append(result[:2])
        return result

    def no_arpack(*args, **kwargs):
        raise AssertionError("the fast route fell back to ARPACK")

    monkeypatch.setattr(eigensolver, "_lanczos_run", counting)
    monkeypatch.setattr(eigensolver, "eigsh", no_arpack)
    kernels = build_glorot_mlp(seed=3)
    pruned = [np.where(np.abs(w) >= np.quantile(np.abs(w), 0.9), w, 0) for w in kernels]
    used = []
    for weights in (kernels, pruned):
        for k in (4, 12):
            steps.clear()
            cluster_network(mlp_graph(weights), k, seed=0)
            assert len(steps) == 1 and steps[0][0]  # one Lanczos run, converged
            used.append(steps[0][1])
    assert max(used) * 2 < eigensolver.MIN_PRODUCTS, used


# --- Lanczos on an explicit matrix --------------------------------------------------------------------


def _symmetric(n: int, seed: int, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A symmetric matrix with known eigenpairs (ascending), its upper triangle kept and garbage below."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    vals = np.sort(rng.uniform(-spread, 1.0, size=n))
    matrix = (q * vals) @ q.T
    return np.triu(matrix) + np.tril(rng.normal(size=(n, n)) * 1e3, -1), vals, q


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k", [1, 6])
def test_lanczos_finds_the_top_eigenpairs_from_the_upper_triangle(dtype: type, k: int) -> None:
    matrix, _, _ = _symmetric(150, seed=k)
    matrix = matrix.astype(dtype)
    exact = np.triu(matrix).astype(np.float64)
    exact = exact + np.triu(exact, 1).T  # the symmetric matrix the upper triangle stands for
    ref_vals, ref_vecs = scipy.linalg.eigh(exact, subset_by_index=[150 - k, 149])
    v0 = np.random.default_rng(0).uniform(0.5, 1.5, size=150)
    vals, vecs = eigensolver.lanczos_top_eigenpairs(matrix, k, v0=v0, tol=1e-10)
    np.testing.assert_allclose(vals, ref_vals, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.abs(vecs.T @ ref_vecs), np.eye(k), atol=1e-6)
    np.testing.assert_allclose(exact @ vecs, vecs * vals, atol=1e-8)


def test_lanczos_works_in_the_complement_of_known_eigenvectors() -> None:
    matrix, vals, q = _symmetric(120, seed=5)
    v0 = np.random.default_rng(1).uniform(0.5, 1.5, size=120)
    top, vecs = eigensolver.lanczos_top_eigenpairs(matrix, 3, v0=v0, tol=1e-10, deflate=q[:, -2:])
    np.testing.assert_allclose(top, vals[-5:-2], rtol=1e-9)
    assert np.abs(vecs.T @ q[:, -2:]).max() < 1e-10
    # A start inside the deflated span leaves nothing to search: None, not a wrong answer.
    assert eigensolver.lanczos_top_eigenpairs(matrix, 3, v0=q[:, -1], tol=1e-10, deflate=q[:, -2:]) is None


def test_lanczos_gives_up_within_its_budget_on_crowded_eigenvalues() -> None:
    n = 1000
    matrix = _path_laplacian_like(n)
    v0 = np.random.default_rng(0).uniform(0.5, 1.5, size=n)
    runs = []
    original = eigensolver._lanczos_run
    try:
        eigensolver._lanczos_run = lambda *a: runs.append(original(*a)) or runs[-1]
        assert eigensolver.lanczos_top_eigenpairs(matrix, 4, v0=v0, tol=1e-6) is None
    finally:
        eigensolver._lanczos_run = original
    assert [run[:2] for run in runs] == [(False, eigensolver.MIN_PRODUCTS)]
    # ... where ARPACK and the dense fallback (top_eigenpairs) still end with the exact answer.
    vals, _ = eigensolver.top_eigenpairs(matrix, 4, v0=v0, tol=1e-6, rng=np.random.default_rng(1), dense=lambda: matrix)
    np.testing.assert_allclose(vals, np.cos(np.pi * np.arange(3, -1, -1) / (n - 1)), atol=1e-12)


def test_lanczos_refuses_an_invariant_subspace_that_could_hide_a_repeated_eigenvalue() -> None:
    block, _, _ = _symmetric(10, seed=2)
    block = np.triu(block) + np.triu(block, 1).T
    twins = scipy.linalg.block_diag(block, block)  # every eigenvalue twice
    v0 = np.concatenate([np.ones(10), np.zeros(10)])  # its Krylov space never leaves the first copy
    assert eigensolver.lanczos_top_eigenpairs(twins, 12, v0=v0, tol=1e-8) is None
    # When the Krylov space fills the whole space, the answer is exact.
    vals, vecs = eigensolver.lanczos_top_eigenpairs(block, 10, v0=np.ones(10), tol=1e-8)
    np.testing.assert_allclose(vals, np.linalg.eigvalsh(block), atol=1e-10)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(10), atol=1e-8)


def test_lanczos_arguments_out_of_range_give_none() -> None:
    matrix, _, _ = _symmetric(20, seed=0)
    v0 = np.ones(20)
    assert eigensolver.lanczos_top_eigenpairs(matrix, 0, v0=v0, tol=1e-6) is None
    assert eigensolver.lanczos_top_eigenpairs(matrix, 21, v0=v0, tol=1e-6) is None
    assert eigensolver.lanczos_top_eigenpairs(matrix, 5, v0=v0, tol=1e-6, max_products=4) is None
    assert eigensolver.lanczos_top_eigenpairs(matrix, 2, v0=np.zeros(20), tol=1e-6) is None


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    n=st.integers(8, 70),
    k=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
    deflated=st.integers(0, 2),
    spread=st.sampled_from([1.0, 1e-3, 0.0]),
)
def test_lanczos_on_random_matrices_is_right_or_says_none(
    n: int, k: int, seed: int, deflated: int, spread: float
) -> None:
    """Whatever the spectrum (spread 0: every eigenvalue in [0, 1]; 1e-3: crowded near the top), a
    result meets ARPACK's criterion on the complement of the deflated eigenvectors, or there is none."""
    matrix, vals, q = _symmetric(n, seed, spread)
    deflate = q[:, n - deflated :] if deflated else None
    v0 = np.random.default_rng(seed).uniform(0.5, 1.5, size=n)
    result = eigensolver.lanczos_top_eigenpairs(matrix, k, v0=v0, tol=1e-8, deflate=deflate)
    if result is None:
        return
    top, vecs = result
    exact = np.triu(matrix) + np.triu(matrix, 1).T
    assert top.shape == (k,) and np.all(np.diff(top) >= 0)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(k), atol=1e-8)
    if deflated:
        assert np.abs(vecs.T @ deflate).max() < 1e-8
    residuals = np.linalg.norm(exact @ vecs - vecs * top, axis=0)
    assert np.all(residuals <= 1e-8 * np.abs(top) + 1e-12)
    wanted = vals[: n - deflated][-k:]  # the top k of the complement (q's columns are ascending)
    np.testing.assert_allclose(top, wanted, atol=1e-7)


def test_ritz_values_and_vectors_match_lapack_on_a_lanczos_tridiagonal() -> None:
    """The convergence test's Ritz values (bisection, all at once), residuals and vectors (each from
    its last component up) are LAPACK's, for the top of a Lanczos tridiagonal where they are used."""
    matrix, _, _ = _symmetric(200, seed=4)
    basis = np.zeros((61, 200))
    basis[0] = np.random.default_rng(0).uniform(0.5, 1.5, size=200)
    basis[0] /= np.linalg.norm(basis[0])
    alpha, beta = np.zeros(60), np.zeros(60)
    assert eigensolver._lanczos_steps(eigensolver.packed_upper(matrix), basis, alpha, beta, 0, 60, 0) == 60
    for m in (1, 2, 10, 30, 60):
        k = min(m, 6)
        ref_vals, ref_vecs = scipy.linalg.eigh_tridiagonal(
            alpha[:m], beta[: m - 1], select="i", select_range=(m - k, m - 1)
        )
        vals, residuals, vecs = eigensolver._top_ritz(alpha, beta, m, k, k, True)
        np.testing.assert_allclose(vals, ref_vals, atol=1e-12)
        np.testing.assert_allclose(residuals, np.abs(beta[m - 1] * ref_vecs[-1]), rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(np.abs(vecs.T @ ref_vecs), np.eye(k), atol=1e-8)
        one_vals, one_residuals, none = eigensolver._top_ritz(alpha, beta, m, k, 1, False)
        assert one_vals[0] == pytest.approx(vals[0], rel=1e-14) and none.shape == (0, 1)
        assert one_residuals[0] == pytest.approx(residuals[0], rel=1e-6, abs=1e-10)


def test_a_long_chain_of_small_layers_ends_with_a_result(tmp_path, capsys) -> None:
    """The command line on a 1,000-layer chain (4,004 nodes): ARPACK alone needs about 1,600 products."""
    path = tmp_path / "chain.npz"
    save_weights(path, NetworkWeights(tuple(_chain(1000))))
    assert main(["ncut", str(path), "--k", "4", "--shuffles", "0"]) == 0
    out = capsys.readouterr().out
    assert "n-cut (k=4" in out


def test_lanczos_reads_a_packed_upper_triangle_as_the_square_matrix() -> None:
    matrix, _, _ = _symmetric(90, seed=9)
    upper = eigensolver.packed_upper(matrix.astype(np.float32))
    assert upper.dtype == np.float32 and upper.shape == (90 * 91 // 2,)
    np.testing.assert_array_equal(upper, matrix.astype(np.float32)[np.triu_indices(90)])
    v0 = np.random.default_rng(3).uniform(0.5, 1.5, size=90)
    square = eigensolver.lanczos_top_eigenpairs(matrix.astype(np.float32), 4, v0=v0, tol=1e-8)
    packed = eigensolver.lanczos_top_eigenpairs(upper, 4, v0=v0, tol=1e-8)
    for a, b in zip(square, packed, strict=True):
        assert a.tobytes() == b.tobytes()  # the same products, in the same order
    with pytest.raises(ValueError, match="upper triangle"):
        eigensolver.lanczos_top_eigenpairs(upper[:-1], 4, v0=v0, tol=1e-8)
