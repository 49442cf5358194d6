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

ARPACK asks for a new random start vector when its Krylov space becomes
invariant before it holds the k eigenvectors: as when an eigenvalue is
repeated, in a graph that falls apart into pieces (L1-regularized networks
after pruning). SciPy (1.15 on) draws that vector in Python, from a generator
made from the operating system's entropy unless it is given one, and the
result then changed from one run to the next. :func:`top_eigenpairs` gives it
the caller's generator (``rng``, derived from the seed), so such a graph is
clustered the same way in every run, and a graph that never needs a restart
exactly as before.

Small explicit matrices (the bipartite Gram matrix of a layered network:
522 x 522 for the 784-256x4-10 MLP) go through :func:`lanczos_top_eigenpairs`
first: the Lanczos algorithm with full reorthogonalization (Golub & Van Loan,
section 10.1), compiled with numba, one product with the matrix per step
(its upper triangle stored row by row, :func:`packed_upper`, in float32;
float64 arithmetic), the Ritz values checked every few steps with ARPACK's
criterion (residual ``<= tol * |eigenvalue|``), the steps and the checks in one
compiled loop (:func:`_lanczos_run`). It needs about as
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
    rng: np.random.Generator,
    dense: Callable[[], np.ndarray] | None = None,
    what: str = "the graph",
) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues (ascending) of the symmetric ``operator`` and their eigenvectors (columns).

    ARPACK from ``v0`` with relative accuracy ``tol`` and at most
    :func:`product_budget` products, its restarts' start vectors drawn from
    ``rng`` (see the module docstring); then ``dense()`` (the operator as a
    dense array, when it is at most :data:`DENSE_FALLBACK_LIMIT` rows)
    decomposed exactly, else an :class:`InputError` naming ``what``.
    """
    n = operator.shape[0]
    ncv = min(n, max(2 * k + 1, 20, 4 * k))  # ARPACK's default Lanczos basis, or 4 k vectors
    maxiter = max(1, product_budget(n) // max(1, ncv - k))
    try:
        return eigsh(operator, k=k, which="LA", v0=v0, tol=tol, ncv=ncv, maxiter=maxiter, rng=rng)
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

    Only the upper triangle of ``matrix`` (float32 or float64) is read; ``matrix`` may also be that
    triangle alone, row by row (:func:`packed_upper`; ``n (n + 1) / 2`` entries). ``deflate`` holds known
    orthonormal eigenvectors as columns (e.g. the trivial eigenvector of a normalized adjacency); the
    Krylov space is kept orthogonal to them. Converged means ARPACK's criterion: every Ritz residual
    at most ``tol`` times its Ritz value. At most ``max_products`` products with the matrix. None
    when they run out first, when the Krylov space becomes invariant before it fills the complement
    (an eigenvalue repeated there could be missed), or when ``v0`` lies in the span of ``deflate``:
    then use :func:`top_eigenpairs`.
    """
    n = np.shape(v0)[0]
    upper = matrix if matrix.ndim == 1 else packed_upper(matrix)
    if upper.shape[0] != n * (n + 1) // 2:
        raise ValueError(f"a {n}-vector start does not fit an upper triangle of {upper.shape[0]} entries")
    fixed = np.zeros((n, 0)) if deflate is None else np.asarray(deflate, dtype=np.float64).reshape(n, -1)
    n_fixed = fixed.shape[1]
    dim = n - n_fixed  # dimension of the complement
    steps = min(dim, max_products)
    if not 1 <= k <= steps:
        return None
    # Rows: the deflated vectors, then q_0, q_1, ...; room for a typical run, grown when needed (_lanczos_run).
    basis = np.empty((n_fixed + min(steps, 4 * k + 32) + 1, n))
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
    converged, done, vals, s, basis = _lanczos_run(upper, basis, alpha, beta, n_fixed, k, float(tol), steps, dim)
    if not converged:
        return None  # out of products, or an invariant subspace short of the complement
    if np.abs(s.T @ s - np.eye(k)).max() > 1e-8:  # Ritz values too close for one vector each
        vals, s = scipy.linalg.eigh_tridiagonal(
            alpha[:done], beta[: done - 1], select="i", select_range=(done - k, done - 1)
        )
    return vals, basis[n_fixed : n_fixed + done].T @ s


def packed_upper(matrix: np.ndarray) -> np.ndarray:
    """The upper triangle of the square ``matrix``, row by row (``A_00 .. A_0(n-1), A_11 .. A_1(n-1), ...``;
    ``n (n + 1) / 2`` entries, its dtype): what :func:`lanczos_top_eigenpairs` reads."""
    return _packed_upper(np.ascontiguousarray(matrix))


@numba.njit(cache=True, nogil=True)
def _packed_upper(matrix):
    n = matrix.shape[0]
    out = np.empty(n * (n + 1) // 2, dtype=matrix.dtype)
    p = 0
    for i in range(n):
        for c in range(i, n):
            out[p] = matrix[i, c]
            p += 1
    return out


#: How fast (decades per step) a Ritz residual can fall, at most, near convergence (see lanczos_top_eigenpairs).
_DECADES_PER_STEP = 0.4


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _lanczos_run(upper, basis, alpha, beta, n_fixed, k, tol, steps, dim):
    """Lanczos steps (:func:`_lanczos_steps`) until the top k Ritz pairs converge; returns whether they did, the
    steps done, the Ritz values (ascending) and the tridiagonal's eigenvectors (columns) if so, and the basis
    (``basis`` itself, or a copy with twice the rows when it had to grow).

    Not converged: an invariant subspace short of the complement (``dim``: its dimension), or ``steps`` steps
    done. The residuals are checked after ``2 k + 8`` steps, then after as many more as the slowest residual
    needs at :data:`_DECADES_PER_STEP` (at least 2, at most a quarter of the steps done so far), the k-th
    largest Ritz value's alone first (it usually converges last).
    """
    done = 0
    check = min(steps, 2 * k + 8)
    while True:
        if basis.shape[0] < n_fixed + check + 1:
            rows = min(max(2 * basis.shape[0], n_fixed + check + 1), n_fixed + steps + 1)
            grown = np.empty((rows, basis.shape[1]))
            grown[: n_fixed + done + 1] = basis[: n_fixed + done + 1]
            basis = grown
        done = _lanczos_steps(upper, basis, alpha, beta, done, check, n_fixed)
        if beta[done - 1] == 0.0 and done < dim:
            break
        ahead = k - done
        if done >= k:
            vals, residuals, s = _top_ritz(alpha, beta, done, k, 1, False)
            if residuals[0] <= tol * abs(vals[0]):
                vals, residuals, s = _top_ritz(alpha, beta, done, k, k, True)
            decades = -np.inf  # the largest log10(residual / (tol |value|)), NaN if one is
            for i in range(vals.shape[0]):
                x = np.log10(residuals[i] / (tol * abs(vals[i])))
                decades = np.nan if np.isnan(x) or np.isnan(decades) else max(decades, x)
            if decades <= 0.0:
                return True, done, vals, s, basis
            # Near convergence a residual falls by at most about _DECADES_PER_STEP per step.
            ahead = int(np.ceil(decades / _DECADES_PER_STEP)) if np.isfinite(decades) else done
        if done >= steps:
            break
        check = min(steps, done + max(2, min(ahead, done // 4)))
    return False, done, np.zeros(0), np.zeros((0, 0)), basis


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
    for _ in range(0 if k == 1 else 100):  # one eigenvalue: _bisect_one, the same halvings
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
    if k == 1:
        lo[0], hi[0] = _bisect_one(alpha, beta, m, target[0], low, high)
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


@numba.njit(cache=True, nogil=True)
def _bisect_one(alpha, beta, m, target, lo, hi):
    """:func:`_top_ritz`'s bisection for one eigenvalue (the one with ``target`` eigenvalues up to it, in
    ``[lo, hi]``), the same halvings to the same interval, three per sweep: the Sturm counts at the seven
    midpoints the next three halvings may take are computed together (seven independent recurrences, whose
    divisions overlap, instead of one after another), then the halvings are taken in order."""
    points = np.empty(7)  # the midpoint; its two possible successors; their four
    q = np.empty(7)
    below = np.empty(7)
    halvings = 0
    while True:
        mid = 0.5 * (lo + hi)
        left = 0.5 * (lo + mid)
        right = 0.5 * (mid + hi)
        points[0], points[1], points[2] = mid, left, right
        points[3], points[4], points[5], points[6] = (
            0.5 * (lo + left),
            0.5 * (left + mid),
            0.5 * (mid + right),
            0.5 * (right + hi),
        )
        below[:] = 0.0
        for j in range(m):
            b2 = beta[j - 1] * beta[j - 1] if j > 0 else 0.0
            for i in range(7):
                qi = alpha[j] - points[i] - (b2 / q[i] if j > 0 else 0.0)
                qi = qi if qi != 0.0 else -1e-300
                q[i] = qi
                below[i] += qi < 0.0
        node = 0
        for _ in range(3):
            if below[node] >= target:
                hi = points[node]
                node = 2 * node + 1  # the left successor
            else:
                lo = points[node]
                node = 2 * node + 2
            halvings += 1
            if hi - lo <= 4e-16 * max(abs(lo), abs(hi)) or halvings == 100:
                return lo, hi


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def _lanczos_steps(upper, basis, alpha, beta, start, stop, fixed):
    """Lanczos steps ``start .. stop - 1`` in place; returns the steps done (fewer at an invariant subspace).

    ``basis`` rows: ``fixed`` deflated vectors, then the Lanczos vectors ``q_0, q_1, ...``; step
    ``j`` computes ``w = A q_j`` (from ``upper``, the upper triangle of ``A`` row by row:
    :func:`packed_upper`), ``alpha_j = q_j . w``, removes ``q_j`` and ``q_(j-1)`` (the three-term
    recurrence) and then every basis vector (classical Gram-Schmidt, repeated when it cancelled
    most of ``w``), and stores ``beta_j = |w|`` and ``q_(j+1) = w / beta_j``. The products read
    ``upper`` (float32 or float64) in float64 arithmetic.
    """
    n = basis.shape[1]
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
        offset = 0
        for i in range(n):
            row = upper[offset : offset + n - i]  # A_ii, A_i(i+1), ..., A_i(n-1)
            offset += n - i
            right = row[1:]
            q_right = q[i + 1 :]
            w_right = w[i + 1 :]
            qi = q[i]
            s = row[0] * qi
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
            # w -= sum_r h_r v_r, each entry's subtractions in the order of r as one row at a time would do
            # them, four rows per sweep over w.
            r = 0
            while r + 4 <= m:
                v0, v1, v2, v3 = basis[r], basis[r + 1], basis[r + 2], basis[r + 3]
                c0, c1, c2, c3 = h[r], h[r + 1], h[r + 2], h[r + 3]
                for i in range(n):
                    x = w[i] - c0 * v0[i]
                    x -= c1 * v1[i]
                    x -= c2 * v2[i]
                    w[i] = x - c3 * v3[i]
                r += 4
            while r < m:
                v = basis[r]
                c = h[r]
                for i in range(n):
                    w[i] -= c * v[i]
                r += 1
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
