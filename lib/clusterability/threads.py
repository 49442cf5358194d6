"""Thread counts for numerical libraries, set from a job's ``threads``.

Parallel jobs must not oversubscribe cores: BLAS/OpenMP pools (numpy, scipy,
scikit-learn) are limited to the job's thread count. Sparse and small dense
eigen-solvers are fastest on one thread.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


def set_thread_env(threads: int) -> None:
    """Set the thread-count variables; effective for libraries loaded afterwards."""
    for var in _ENV_VARS:
        os.environ[var] = str(int(threads))


@contextlib.contextmanager
def limit_threads(threads: int) -> Iterator[None]:
    """Limit already-loaded BLAS/OpenMP pools to ``threads`` inside the block."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(threads)):
        yield
