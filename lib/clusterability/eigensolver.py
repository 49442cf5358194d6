"""Top eigenpairs of a symmetric operator with ARPACK, within a bounded amount of work.

Spectral clustering needs the k largest eigenvalues of the normalized
adjacency ``M`` (or of its bipartite Gram matrix). ARPACK (``eigsh``,
``which="LA"``) finds them in a few dozen products for the papers' networks
(34-89 products for a 784-256x4-10 MLP, dense or pruned, at k = 4 and 12),
but when the top eigenvalues crowd together its work grows without bound: a
chain of 3,000 layers of 4 neurons has its top four eigenvalues within 1e-5
of 1, and ARPACK ran for minutes.

:func:`top_eigenpairs` therefore gives ARPACK a budget of products with the
operator (:data:`MIN_PRODUCTS`, or ``n / 16`` for a large operator: about
what a dense decomposition of the same size costs). If it has not converged
by then, a matrix small enough to decompose densely (:data:`DENSE_FALLBACK_LIMIT`
rows) is decomposed with ``scipy.linalg.eigh`` (exact and deterministic);
anything larger ends in one :class:`~clusterability.errors.InputError` line.
A converged ARPACK result is exactly what an unbounded call returns.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from .errors import InputError

#: Products with the operator ARPACK may always use before the dense fallback.
MIN_PRODUCTS = 300
#: Largest matrix (rows) decomposed densely when ARPACK runs out of its budget (512 MiB in float64).
DENSE_FALLBACK_LIMIT = 8192


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
    ncv = min(n, max(2 * k + 1, 20))  # ARPACK's default Lanczos basis
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
