"""Shuffle statistics: p-value with ties, significance, Z-score and Cohen's d against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clusterability.core.statistics import cohens_d, is_significant, p_value, z_score


@pytest.mark.parametrize(
    ("ncut", "shuffles", "expected"),
    [
        (0.5, [1.0, 2.0, 3.0, 4.0], 1 / 5),  # below every shuffle: r = 0
        (2.5, [1.0, 2.0, 3.0, 4.0], 3 / 5),  # r = 2
        (5.0, [1.0, 2.0, 3.0, 4.0], 5 / 5),  # above every shuffle: r = 4
        (2.0, [1.0, 2.0, 2.0, 3.0], 4 / 5),  # ties count as "as low": r = 3
        (1.0, [1.0, 1.0, 1.0], 4 / 4),  # all tied
        (1.0, [], 1.0),  # no shuffles: r = 0, n = 0
    ],
)
def test_p_value(ncut: float, shuffles: list[float], expected: float) -> None:
    assert p_value(ncut, np.array(shuffles)) == pytest.approx(expected, rel=0, abs=0)


def test_p_value_of_320_shuffles() -> None:
    rng = np.random.default_rng(0)
    shuffles = rng.normal(2.0, 0.02, 320)
    assert p_value(1.8, shuffles) == 1 / 321  # P1's smallest possible p-value
    r = int(np.sum(shuffles <= 2.0))
    assert p_value(2.0, shuffles) == (r + 1) / 321
    assert p_value(2.0, list(shuffles)) == (r + 1) / 321  # plain lists are fine


def test_significant_means_below_every_shuffle() -> None:
    s = np.array([1.0, 1.5, 2.0])
    assert is_significant(0.99, s)
    assert p_value(0.99, s) == 1 / (s.size + 1)
    assert not is_significant(1.0, s)  # a tie is not "lower than every shuffle"
    assert p_value(1.0, s) == 2 / 4
    assert not is_significant(3.0, s)
    assert not is_significant(0.0, np.array([]))
    # Significant exactly when p = 1/(n+1).
    rng = np.random.default_rng(1)
    for _ in range(50):
        s = rng.integers(0, 5, rng.integers(1, 8)).astype(float)
        x = float(rng.integers(-1, 6))
        assert is_significant(x, s) == (p_value(x, s) == 1 / (s.size + 1))


def test_z_score_by_hand() -> None:
    s = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
    mean = sum(s) / 8  # 5.0
    sd = math.sqrt(sum((x - mean) ** 2 for x in s) / 7)  # sample standard deviation, ddof = 1
    assert mean == 5.0 and sd == pytest.approx(math.sqrt(32 / 7))
    assert z_score(3.0, np.array(s)) == pytest.approx((3.0 - 5.0) / sd, rel=1e-12)
    assert z_score(5.0, np.array(s)) == 0.0
    assert z_score(9.0, s) > 0


def test_z_score_undefined_cases() -> None:
    assert math.isnan(z_score(1.0, np.array([2.0])))  # one shuffle has no spread
    assert math.isnan(z_score(1.0, np.array([])))
    assert z_score(1.0, np.array([2.0, 2.0, 2.0])) == -math.inf
    assert z_score(3.0, np.array([2.0, 2.0, 2.0])) == math.inf
    assert math.isnan(z_score(2.0, np.array([2.0, 2.0, 2.0])))


def test_cohens_d_by_hand() -> None:
    a = [1.0, 2.0, 3.0, 4.0]  # mean 2.5, sample variance 5/3
    b = [2.0, 4.0, 6.0]  # mean 4.0, sample variance 4
    pooled = math.sqrt((3 * (5 / 3) + 2 * 4.0) / (4 + 3 - 2))  # sqrt(13/5)
    expected = (2.5 - 4.0) / pooled
    assert cohens_d(np.array(a), np.array(b)) == pytest.approx(expected, rel=1e-12)
    assert cohens_d(b, a) == pytest.approx(-expected, rel=1e-12)
    # Equal sizes: pooled variance is the mean of the two variances.
    x, y = np.array([1.0, 3.0, 5.0]), np.array([2.0, 2.5, 3.0])
    assert cohens_d(x, y) == pytest.approx((3.0 - 2.5) / math.sqrt((4.0 + 0.25) / 2), rel=1e-12)


def test_cohens_d_undefined_cases() -> None:
    assert math.isnan(cohens_d(np.array([1.0]), np.array([1.0, 2.0])))
    assert math.isnan(cohens_d(np.array([1.0, 1.0]), np.array([2.0, 2.0])))  # no spread at all


def test_statistics_scale_invariance() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(2.0, 0.05, 320), rng.normal(2.02, 0.04, 320)
    assert z_score(1.9, a) == pytest.approx(z_score(1.9 * 10 + 3, a * 10 + 3), rel=1e-9)
    assert cohens_d(a, b) == pytest.approx(cohens_d(a * 10 + 3, b * 10 + 3), rel=1e-9)


def test_summarize_is_the_statistics_of_the_cli_and_the_workflow() -> None:
    from clusterability.core.statistics import summarize

    shuffles = np.array([2.0, 2.1, 2.2, 2.3])
    s = summarize(1.9, shuffles)
    assert s == {
        "n_shuffles": 4,
        "shuffle_mean": pytest.approx(2.15),
        "shuffle_std": pytest.approx(shuffles.std(ddof=1)),
        "p_value": 0.2,
        "z_score": pytest.approx((1.9 - 2.15) / shuffles.std(ddof=1)),
        "significant": True,
    }
    assert summarize(2.2, shuffles)["p_value"] == (3 + 1) / 5 and not summarize(2.2, shuffles)["significant"]
    one = summarize(1.0, np.array([2.0]))
    assert one["shuffle_std"] is None and one["z_score"] is None and one["p_value"] == 0.5
    assert summarize(1.0, np.array([])) == {
        "n_shuffles": 0,
        "shuffle_mean": None,
        "shuffle_std": None,
        "p_value": None,
        "z_score": None,
        "significant": None,
    }


def test_conventions_that_differ_from_the_authors_code() -> None:
    """docs/reproducibility.md: Z uses the sample sd (ddof=1; theirs np.std, ddof=0) and the p-value counts
    ties as "at least as low" (<=, North et al.'s conservative r; theirs counted strictly lower, <)."""
    s = np.array([2.0, 2.0, 2.1, 2.3])
    authors_z = (1.9 - s.mean()) / s.std()  # ddof = 0
    assert z_score(1.9, s) == pytest.approx((1.9 - s.mean()) / s.std(ddof=1), rel=1e-12)
    assert z_score(1.9, s) == pytest.approx(authors_z * math.sqrt(3 / 4), rel=1e-12)  # sqrt((n-1)/n) closer to 0
    authors_p = (np.sum(s < 2.0) + 1) / (s.size + 1)  # ties not counted: 1/5
    assert authors_p == 1 / 5 and p_value(2.0, s) == 3 / 5  # two ties counted: never smaller than theirs
    assert not is_significant(2.0, s)  # a tie with a shuffle is not "lower than every shuffle"
    assert p_value(1.9, s) == authors_p == 1 / 5  # without ties the two agree
