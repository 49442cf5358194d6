"""The datasets made rather than downloaded: LINES, random (unlearnable, memorization), mixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clusterability.data.mixtures import mix_datasets, mix_split
from clusterability.data.prepare import load_prepared
from clusterability.data.synthetic import lines_images, make_dataset, synthetic_split
from clusterability.errors import InputError
from clusterability.seeds import generator


def test_lines_have_label_plus_one_full_height_white_lines() -> None:
    x, y = synthetic_split("lines", 2000, generator(0, "t"))
    assert x.dtype == np.uint8 and x.shape == (2000, 28, 28) and y.dtype == np.uint8
    assert set(np.unique(x)) == {0, 255}  # white on black, nothing else
    full = (x == 255).all(axis=1)  # columns lit over the whole height
    assert ((x == 255).any(axis=1) == full).all()  # every lit pixel belongs to a full-height line
    np.testing.assert_array_equal(full.sum(axis=1), y.astype(int) + 1)
    assert set(np.unique(y)) == set(range(10))
    counts = np.bincount(y, minlength=10)
    assert counts.min() > 150  # uniform labels (2000 / 10 = 200 expected)


def test_lines_put_lines_in_every_column() -> None:
    x = lines_images(np.zeros(3000, dtype=np.uint8), generator(0, "one line"))
    columns = np.argmax(x[:, 0, :], axis=1)
    assert set(columns) == set(range(28))  # a single line lands anywhere


def test_random_images_are_uniform_and_independent_of_labels() -> None:
    x, y = synthetic_split("random", 5000, generator(0, "r"))
    assert x.dtype == np.uint8 and x.shape == (5000, 28, 28)
    assert abs(float(x.mean()) - 127.5) < 1.0 and x.min() == 0 and x.max() == 255
    assert np.bincount(y, minlength=10).min() > 400
    # No class is brighter than another: nothing to learn.
    class_means = np.array([x[y == c].mean() for c in range(10)])
    assert np.ptp(class_means) < 2.0


def test_make_dataset_writes_the_prepared_format_deterministically(tmp_path: Path) -> None:
    a = make_dataset("memorization", "random", tmp_path / "a.npz", n_train=300, n_val=20, n_test=50, seed=7)
    b = make_dataset("memorization", "random", tmp_path / "b.npz", n_train=300, n_val=20, n_test=50, seed=7)
    c = make_dataset("memorization", "random", tmp_path / "c.npz", n_train=300, n_val=20, n_test=50, seed=8)
    da, db, dc = load_prepared(a), load_prepared(b), load_prepared(c)
    assert da["name"] == "memorization"
    assert [da[f"x_{s}"].shape[0] for s in ("train", "val", "test")] == [300, 20, 50]
    for key in ("x_train", "y_train", "x_test"):
        np.testing.assert_array_equal(da[key], db[key])
    assert not np.array_equal(da["x_train"], dc["x_train"])
    assert not np.array_equal(da["x_train"][:20], da["x_val"])  # splits are drawn apart


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="datasets.synthetic.odd.kind: 'zebra' is unknown"):
        make_dataset("odd", "zebra", tmp_path / "x.npz", n_train=1, n_val=0, n_test=1, seed=0)
    assert not (tmp_path / "x.npz").exists()


def _tagged(n: int, tag: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Images whose every pixel is ``tag`` (which dataset they came from), with labels 0-9."""
    return np.full((n, 28, 28), tag, dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def test_overlapping_mixture_has_every_class_from_both() -> None:
    rng = generator(0, "mix")
    first, second = _tagged(400, 1, rng), _tagged(300, 2, rng)
    x, y = mix_split(first, second, separate=False, rng=generator(0, "order"))
    assert x.shape[0] == 700
    origin = x[:, 0, 0]
    for c in range(10):
        assert {1, 2} <= set(origin[y == c])
    assert origin[:400].tolist() != [1] * 400  # shuffled, not stacked


def test_separate_mixture_takes_classes_0_4_from_the_first_and_5_9_from_the_second() -> None:
    rng = generator(0, "sep")
    first, second = _tagged(400, 1, rng), _tagged(300, 2, rng)
    x, y = mix_split(first, second, separate=True, rng=generator(0, "order"))
    origin = x[:, 0, 0]
    assert set(origin[y < 5]) == {1} and set(origin[y >= 5]) == {2}
    assert (y < 5).sum() == (first[1] < 5).sum() and (y >= 5).sum() == (second[1] >= 5).sum()
    assert set(np.unique(y)) == set(range(10))


def test_mix_datasets_mixes_each_split(tmp_path: Path) -> None:
    a = load_prepared(make_dataset("lines", "lines", tmp_path / "l.npz", n_train=200, n_val=30, n_test=40, seed=0))
    b = load_prepared(make_dataset("random", "random", tmp_path / "r.npz", n_train=100, n_val=10, n_test=20, seed=0))
    out = load_prepared(mix_datasets("lines_random_sep", a, b, tmp_path / "m.npz", separate=True, seed=0))
    assert out["name"] == "lines_random_sep"
    for split in ("train", "val", "test"):
        x, y = out[f"x_{split}"], out[f"y_{split}"]
        lines = (x == 255).all(axis=1).any(axis=1) & np.isin(x, (0, 255)).all(axis=(1, 2))
        assert (y[lines] < 5).all()  # LINES images only carry classes 0-4 ...
        assert (y[~lines] >= 5).all()  # ... and the random ones only 5-9
        assert y.size == (a[f"y_{split}"] < 5).sum() + (b[f"y_{split}"] >= 5).sum()
