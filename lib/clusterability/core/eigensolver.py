"""Top eigenpairs of a symmetric operator with ARPACK, within a bounded amount of work.

Spectral clustering needs the k largest eigenvalues of the normalized
adjacency ``M`` (or of its bipartite Gram matrix). ARPACK (``eigsh``,
``which="LA"``) finds them in a few dozen products for the papers' networks
(34-89 products for a 784-256x4-10 MLP, dense or pruned, at k = 4 and 12;
49-119 for ResNet-34, ResNet-50 and Inception-V3 at k = 12), but when the top
eigenvalues crowd together its work grows without bound: a chain of 3,000
layers of 4 neurons has its top four eigenvalues within 1e-5 of 1, and ARPACK
ran for minutes. Its Krylov basis holds ``4 k`` vectors (at least ARPACK's
default ``max(2 k + 1, 20)``): with the default 25 at k = 12, ResNet-18's
channel graph needed 355-453 products, with 48 about 150.

:func:`top_eigenpairs` therefore gives ARPACK a budget of products with the
operator (:data:`MIN_PRODUCTS`, or ``n / 16`` for a large operator: about
what a dense decomposition of the same size costs). If it has not converged
by then, a matrix small enough to decompose densely (:data:`DENSE_FALLBACK_LIMIT`
rows) is decomposed with ``scipy.linalg.eigh`` (exact and deterministic);
anything larger ends in one :class:`~clusterability.errors.InputError` line.
A converged ARPACK result is exactly what an unbounded call returns.

Small explicit matrices (the bipartite Gram matrix of a layered network:
522 x 522 for the 784-256x4-10 MLP) go through :func:`lanczos_top_eigenpairs`
first: the Lanczos algorithm with full reorthogonalization (Golub & Van Loan,
section 10.1), compiled with numba, one product with the matrix per step
(float32 storage, float64 arithmetic), the Ritz values checked every few steps
with ARPACK's criterion (residual ``<= tol * |eigenvalue|``). It needs about as
many products as ARPACK (30-40 at k = 4, 80-90 at k = 12 for that MLP) but
none of ARPACK's per-product Python calls and implicit restarts. It is bounded
by the same budget of products and hands over to :func:`top_eigenpairs`
(ARPACK, then the dense fallback) when it does not converge within it.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
import scipy.linalg
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from clusterability.errors import InputError

#: Products with the operator ARPACK may always use before the dense fallback.
MIN_PRODUCTS = 300
#: Largest matrix (rows) decomposed densely when ARPACK runs out of its budget (512 MiB in float64).
DENSE_FALLBACK_LIMIT = 8192

#: The eigen-solvers' default accuracy (ARPACK's criterion: residual ``<= tol * |eigenvalue|``) per route,
#: used where ``eigen_tol`` is None (:func:`clusterability.core.spectral.spectral_clusters`). ``gram``: the
#: top eigenpairs of a layered graph's Gram matrix ``B^T B`` (eigenvalues ``s^2``; Lanczos, then ARPACK);
#: ``channel``: a residual or branching CNN's ``D^-1/2 A D^-1/2`` as an operator; ``adjacency``: any other
#: graph's sparse ``D^-1/2 A D^-1/2``. The values are the ones each route has always used, so results stay
#: the same; a single ``eigen_tol`` given to the entry point replaces all three.
EIGEN_TOLS = {"gram": 1e-6, "channel": 1e-8, "adjacency": 1e-10}


def eigen_tol_for(route: str, eigen_tol: float | None) -> float:
    """``eigen_tol`` if given (a positive number), else the default of ``route`` (:data:`EIGEN_TOLS`)."""
    if eigen_tol is None:
        return EIGEN_TOLS[route]
    if not eigen_tol > 0:
        raise InputError(f"eigen_tol must be a positive number, got {eigen_tol!r}")
    return float(eigen_tol)


def product_budget(n: int) -> int:
    """ARPACK's budget of operator products for an ``n x n`` operator (see the module docstring)."""
    return max(MIN_PRODUCTS, n // 16)


def top_eigenpairs(
    operator: np.ndarray | LinearOperator,
    k: int,
    *,
    v0: np.ndarray,
    tol: float,
    dense: Callable[[], np.ndarray] | None = None,
    what: str = "the graph",
) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues (ascending) of the symmetric ``operator`` and their eigenvectors (columns).

    ARPACK from ``v0`` with relative accuracy ``tol`` and at most
    :func:`product_budget` products; then ``dense()`` (the operator as a dense
    array, when it is at most :data:`DENSE_FALLBACK_LIMIT` rows) decomposed
    exactly, else an :class:`InputError` naming ``what``.
    """
    n = operator.shape[0]
    ncv = min(n, max(2 * k + 1, 20, 4 * k))  # ARPACK's default Lanczos basis, or 4 k vectors
    maxiter = max(1, product_budget(n) // max(1, ncv - k))
    try:
        return eigsh(operator, k=k, which="LA", v0=v0, tol=tol, ncv=ncv, maxiter=maxiter)
    except ArpackNoConvergence:
        if dense is None or n > DENSE_FALLBACK_LIMIT:
            raise InputError(
                f"{what}: the eigen-solver did not converge within {product_budget(n):,} products "
                f"({n:,} nodes; its top {k} eigenvalues lie too close together, as in a very long chain of "
                "small layers); use a smaller k or another --solver"
            ) from None
    vals, vecs = scipy.linalg.eigh(dense(), subset_by_index=[n - k, n - 1])
    return vals, vecs


def lanczos_top_eigenpairs(
    matrix: np.ndarray,
    k: int,
    *,
    v0: np.ndarray,
    tol: float,
    deflate: np.ndarray | None = None,
    max_products: int = MIN_PRODUCTS,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The k largest eigenvalues (ascending) of the symmetric ``matrix`` on the orthogonal complement of
    ``deflate`` and their eigenvectors (columns), by Lanczos with full reorthogonalization from ``v0``.

    Only the upper triangle of ``matrix`` (float32 or float64) is read. ``deflate`` holds known
    orthonormal eigenvectors as columns (e.g. the trivial eigenvector of a normalized adjacency); the
    Krylov space is kept orthogonal to them. Converged means ARPACK's criterion: every Ritz residual
    at most ``tol`` times its Ritz value. At most ``max_products`` products with the matrix. None
    when they run out first, when the Krylov space becomes invariant before it fills the complement
    (an eigenvalue repeated there could be missed), or when ``v0`` lies in the span of ``deflate``:
    then use :func:`top_eigenpairs`.
    """
    n = matrix.shape[0]
    fixed = np.zeros((n, 0)) if deflate is None else np.asarray(deflate, dtype=np.float64).reshape(n, -1)
    n_fixed = fixed.shape[1]
    dim = n - n_fixed  # dimension of the complement
    steps = min(dim, max_products)
    if not 1 <= k <= steps:
        return None
    basis = np.empty((n_fixed + steps + 1, n))  # rows: the deflated vectors, then q_0, q_1, ...
    basis[:n_fixed] = fixed.T
    q = np.asarray(v0, dtype=np.float64).copy()
    for _ in range(2):  # twice: one classical Gram-Schmidt pass can leave a component behind
        q -= fixed @ (fixed.T @ q)
    norm = float(np.linalg.norm(q))
    if not norm > 1e-8 * float(np.linalg.norm(v0)):
        return None
    basis[n_fixed] = q / norm
    alpha = np.zeros(steps)
    beta = np.zeros(steps)
    done, check = 0, min(steps, 2 * k + 8)
    while True:
        done = _lanczos_steps(matrix, basis, alpha, beta, done, check, n_fixed)
        if beta[done - 1] == 0.0 and done < dim:
            return None  # an invariant subspace short of the complement
        ahead = k - done
        if done >= k:
            # The k-th largest Ritz value usually converges last: its residual alone first (cheap).
            vals, residuals, _ = _top_ritz(alpha, beta, done, k, 1, False)
            if residuals[0] <= tol * abs(vals[0]):
                vals, residuals, s = _top_ritz(alpha, beta, done, k, k, True)
            with np.errstate(divide="ignore", invalid="ignore"):
                decades = float(np.max(np.log10(residuals / (tol * np.abs(vals)))))
            if decades <= 0.0:
                if np.abs(s.T @ s - np.eye(k)).max() > 1e-8:  # Ritz values too close for one vector each
                    vals, s = scipy.linalg.eigh_tridiagonal(
                        alpha[:done], beta[: done - 1], select="i", select_range=(done - k, done - 1)
                    )
                return vals, basis[n_fixed : n_fixed + done].T @ s
            # Near convergence a residual falls by at most about _DECADES_PER_STEP per step.
            ahead = int(np.ceil(decades / _DECADES_PER_STEP)) if np.isfinite(decades) else done
        if done >= steps:
            return None
        check = min(steps, done + max(2, min(ahead, done // 4)))


#: How fast (decades per step) a Ritz residual can fall, at most, near convergence (see lanczos_top_eigenpairs).
_DECADES_PER_STEP = 0.4


@numba.njit(cache=True, nogil=True)
def _top_ritz(alpha, beta, m, k, count, vectors):
    """The ``count`` smallest of the k largest eigenvalues (ascending) of the tridiagonal ``T_m``
    (diagonal ``alpha``, off-diagonal ``beta``), their Ritz residuals ``beta_m |s_m|`` (``s_m``: the
    last component of the unit eigenvector) and, if ``vectors``, their eigenvectors as the columns
    of an ``(m, count)`` array.

    The eigenvalues by bisection on Sturm counts, all k at once; each eigenvector from its last
    component up (``x_m = 1``, the three-term recurrence backwards): for the top of a Lanczos
    spectrum it grows towards the components that carry it, so the recurrence is stable
    (rescaled to stay finite). Two eigenvalues closer than the bisection's resolution give two
    copies of one vector: the caller checks that the columns are orthonormal.
    """
    k, first = count, m - k  # the eigenvalues number first .. first + count - 1, ascending
    lo = np.empty(k)
    hi = np.empty(k)
    low, high = np.inf, -np.inf
    for j in range(m):
        radius = (abs(beta[j - 1]) if j > 0 else 0.0) + (abs(beta[j]) if j < m - 1 else 0.0)
        low = min(low, alpha[j] - radius)
        high = max(high, alpha[j] + radius)
    lo[:] = low
    hi[:] = high
    target = np.empty(k)  # eigenvalue number first + i has first + i + 1 eigenvalues up to it
    for i in range(k):
        target[i] = first + i + 1
    mid = np.empty(k)
    q = np.empty(k)
    below = np.empty(k)
    for _ in range(100):
        for i in range(k):
            mid[i] = 0.5 * (lo[i] + hi[i])
            below[i] = 0.0
        for j in range(m):
            b2 = beta[j - 1] * beta[j - 1] if j > 0 else 0.0
            for i in range(k):  # independent lanes: the divisions overlap
                qi = alpha[j] - mid[i] - (b2 / q[i] if j > 0 else 0.0)
                qi = qi if qi != 0.0 else -1e-300
                q[i] = qi
                below[i] += qi < 0.0
        narrow = True
        for i in range(k):
            if below[i] >= target[i]:
                hi[i] = mid[i]
            else:
                lo[i] = mid[i]
            narrow &= hi[i] - lo[i] <= 4e-16 * max(abs(lo[i]), abs(hi[i]))
        if narrow:
            break
    vals = 0.5 * (lo + hi)
    residuals = np.empty(k)
    s = np.zeros((m if vectors else 0, k))
    x = np.empty(m)
    for i in range(k):
        theta = vals[i]
        x[m - 1] = 1.0
        norm2 = 1.0
        for j in range(m - 1, 0, -1):
            step = (theta - alpha[j]) * x[j] - (beta[j] * x[j + 1] if j < m - 1 else 0.0)
            x[j - 1] = step / beta[j - 1]
            norm2 += x[j - 1] * x[j - 1]
            if norm2 > 1e200:  # rescale what is computed so far
                for t in range(j - 1, m):
                    x[t] *= 1e-100
                norm2 *= 1e-200
        norm = np.sqrt(norm2)
        residuals[i] = abs(beta[m - 1]) / norm
        if vectors:
            for t in range(m):
                s[t, i] = x[t] / norm
    return vals, residuals, s


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def _lanczos_steps(matrix, basis, alpha, beta, start, stop, fixed):
    """Lanczos steps ``start .. stop - 1`` in place; returns the steps done (fewer at an invariant subspace).

    ``basis`` rows: ``fixed`` deflated vectors, then the Lanczos vectors ``q_0, q_1, ...``; step
    ``j`` computes ``w = A q_j`` (from the upper triangle of ``A``), ``alpha_j = q_j . w``,
    removes ``q_j`` and ``q_(j-1)`` (the three-term recurrence) and then every basis vector
    (classical Gram-Schmidt, repeated when it cancelled most of ``w``), and stores
    ``beta_j = |w|`` and ``q_(j+1) = w / beta_j``. The products read ``matrix`` (float32 or
    float64) in float64 arithmetic.
    """
    n = matrix.shape[0]
    w = np.empty(n)
    h = np.empty(basis.shape[0])
    scale = 0.0  # a running estimate of the matrix norm, for the breakdown test
    for j in range(start):
        scale = max(scale, abs(alpha[j]) + beta[j])
    for j in range(start, stop):
        q = basis[fixed + j]
        # w = A q from the upper triangle: row i gives w_i its part right of the diagonal and
        # hands A_ic q_i to every w_c right of it (half the matrix read: it stays in cache).
        # (Slices, so that every loop index starts at 0 and numba vectorizes the loops.)
        w[:] = 0.0
        for i in range(n):
            right = matrix[i, i + 1 :]
            q_right = q[i + 1 :]
            w_right = w[i + 1 :]
            qi = q[i]
            s = matrix[i, i] * qi
            for c in range(right.shape[0]):
                s += right[c] * q_right[c]
                w_right[c] += right[c] * qi
            w[i] += s
        a = 0.0
        for i in range(n):
            a += q[i] * w[i]
        alpha[j] = a
        if j > 0:
            b = beta[j - 1]
            prev = basis[fixed + j - 1]
            for i in range(n):
                w[i] -= a * q[i] + b * prev[i]
        else:
            for i in range(n):
                w[i] -= a * q[i]
        m = fixed + j + 1
        before = 0.0
        for i in range(n):
            before += w[i] * w[i]
        after = before
        for _ in range(3):
            for r in range(m):
                s = 0.0
                v = basis[r]
                for i in range(n):
                    s += v[i] * w[i]
                h[r] = s
            for r in range(m):
                v = basis[r]
                c = h[r]
                for i in range(n):
                    w[i] -= c * v[i]
            after = 0.0
            for i in range(n):
                after += w[i] * w[i]
            if after > 0.5 * before:  # little cancelled: w is orthogonal to the basis (DGKS criterion)
                break
            before = after
        b = np.sqrt(after)
        scale = max(scale, abs(a) + b)
        beta[j] = b
        if b <= 1e-12 * scale:  # an invariant subspace: marked by beta_j = 0
            beta[j] = 0.0
            return j + 1
        nxt = basis[fixed + j + 1]
        for i in range(n):
            nxt[i] = w[i] / b
    return stop
