"""Statistics of a network's n-cut against its shuffles (P1 section 3, A.4; P2 section 1.2).

* One-sided p-value (North, Curtis & Sham 2002): ``p = (r + 1) / (n + 1)``,
  ``r`` = number of shuffles whose n-cut is <= the network's (a tie counts as
  "at least as low", North et al.'s conservative choice; the authors' code
  counted strictly lower shuffles, ``<``, which can only give a smaller p).
* "Significant": lower than every shuffle, i.e. ``p = 1 / (n + 1)``.
* Z-score: ``(n-cut - mean) / std`` of the shuffle distribution (sample std,
  ddof=1, the unbiased variance; the authors' code used ``np.std``, ddof=0,
  which makes |Z| larger by ``sqrt(n / (n - 1))``: 0.16 % at 320 shuffles).
* Cohen's d between two distributions with the pooled standard deviation.

docs/reproducibility.md lists both differences.

:func:`collect_shuffles` gathers a network's shuffle distribution from the
fan-out chunks (numpy only, so the gather jobs start fast).
"""

from __future__ import annotations

import numpy as np

from clusterability.errors import InputError


def p_value(ncut: float, shuffle_ncuts: np.ndarray) -> float:
    """One-sided empirical p-value ``(r + 1) / (n + 1)`` of ``ncut`` being this low."""
    s = np.asarray(shuffle_ncuts, dtype=np.float64)
    r = int(np.count_nonzero(s <= ncut))
    return (r + 1) / (s.size + 1)


def is_significant(ncut: float, shuffle_ncuts: np.ndarray) -> bool:
    """Whether ``ncut`` is lower than every shuffle (needs at least one shuffle)."""
    s = np.asarray(shuffle_ncuts, dtype=np.float64)
    return bool(s.size > 0 and np.all(ncut < s))


def z_score(ncut: float, shuffle_ncuts: np.ndarray) -> float:
    """Standard deviations of the shuffles between ``ncut`` and their mean (NaN if undefined)."""
    s = np.asarray(shuffle_ncuts, dtype=np.float64)
    if s.size < 2:
        return float("nan")
    sd = s.std(ddof=1)
    if sd == 0:  # equal up to rounding (the same partition summed in another order) counts as equal
        equal = abs(ncut - s.mean()) <= 1e-12 * max(1.0, abs(float(s.mean())))
        return float("nan") if equal else float(np.sign(ncut - s.mean()) * np.inf)
    return float((ncut - s.mean()) / sd)


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d ``(mean_a - mean_b) / pooled sd`` (P1 appendix A.4)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n1, n2 = a.size, b.size
    if n1 < 2 or n2 < 2:
        return float("nan")
    pooled = np.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
    if pooled == 0:
        return float("nan")
    return float((a.mean() - b.mean()) / pooled)


def summarize(ncut: float, shuffle_ncuts: np.ndarray) -> dict[str, float | int | bool | None]:
    """A network's n-cut against its shuffle distribution, JSON-ready.

    ``n_shuffles``, ``shuffle_mean``, ``shuffle_std`` (ddof=1), ``p_value``,
    ``z_score`` and ``significant``; a statistic that needs more shuffles than
    there are (the mean and p-value need one, the sd and Z two) is ``None``.
    """
    s = np.asarray(shuffle_ncuts, dtype=np.float64)
    n = int(s.size)
    return {
        "n_shuffles": n,
        "shuffle_mean": float(s.mean()) if n else None,
        "shuffle_std": float(s.std(ddof=1)) if n > 1 else None,
        "p_value": p_value(ncut, s) if n else None,
        "z_score": z_score(ncut, s) if n > 1 else None,
        "significant": is_significant(ncut, s) if n else None,
    }


def collect_shuffles(chunks: list[tuple[str, dict]], *, method: str, seed: int, k: int, n_shuffles: int) -> np.ndarray:
    """n-cuts of shuffles ``0 .. n_shuffles - 1`` from fan-out chunks, in index order.

    ``chunks`` are ``(path, result)`` pairs of :func:`shuffle_ncuts` results
    (``method``, ``seed``, ``k``, ``indices``, ``ncuts``); every chunk must
    belong to the same network (seed), ``k`` and method. Chunks may hold
    more shuffles than needed: tables with fewer shuffles use the first ones.
    """
    by_index: dict[int, float] = {}
    for path, chunk in chunks:
        if (chunk["method"], chunk["seed"], chunk["k"]) != (method, seed, k):
            raise InputError(f"{path}: shuffle chunk of another network, k or method; rerun its job")
        by_index.update(zip(chunk["indices"], chunk["ncuts"]))
    missing = [i for i in range(n_shuffles) if i not in by_index]
    if missing:
        raise InputError(f"shuffle {missing[0]} of {n_shuffles} is in none of the chunks; rerun the fan-out")
    return np.array([by_index[i] for i in range(n_shuffles)], dtype=np.float64)
