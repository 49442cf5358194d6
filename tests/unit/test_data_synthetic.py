"""The datasets made rather than downloaded: LINES, random (unlearnable, memorization), mixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clusterability.data.mixtures import mix_datasets, mix_split
from clusterability.data.prepare import load_prepared
from clusterability.data.synthetic import authors_random_splits, lines_images, make_dataset, synthetic_split
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


def test_random_authors_is_the_authors_draw_of_their_random_dataset() -> None:
    """The memorization set is the authors' draw (src/generate_datasets.py: ``np.random.seed(42)``, ``randint``).
    Its first 3,000 labels hold class 9 most often, 330 times: P1's dropout memorization networks, which all
    predict one class, have train acc. 0.110 = 330 / 3,000 in the authors' own data (nn_modularity
    notebooks/mlp-plots.ipynb), and test acc. 0.0965, class 9's share of these 10,000 test labels."""
    splits = authors_random_splits(3000, 0, 10000)
    x, y = splits["train"]
    assert x.dtype == np.uint8 and x.shape == (3000, 28, 28) and y.dtype == np.uint8 and y.shape == (3000,)
    np.testing.assert_array_equal(x[:2], np.random.RandomState(42).randint(0, 256, (2, 28, 28)))  # the stream's start
    counts = np.bincount(y, minlength=10)
    assert (counts.argmax(), counts.max()) == (9, 330)
    assert np.bincount(splits["test"][1], minlength=10)[9] == 965
    assert splits["val"][0].shape == (0, 28, 28)


def test_random_authors_trains_on_the_authors_first_images_whatever_the_seed(tmp_path: Path) -> None:
    """Training (train, then validation split) reads the authors' first ``n_train + validation_size`` images in
    their order; the pipeline's seed does not move them."""
    a = load_prepared(
        make_dataset("m", "random_authors", tmp_path / "a.npz", n_train=200, n_val=100, n_test=50, seed=1)
    )
    b = load_prepared(make_dataset("m", "random_authors", tmp_path / "b.npz", n_train=300, n_val=0, n_test=50, seed=2))
    for xy in ("x", "y"):
        np.testing.assert_array_equal(np.concatenate([a[f"{xy}_train"], a[f"{xy}_val"]]), b[f"{xy}_train"])
        np.testing.assert_array_equal(a[f"{xy}_test"], b[f"{xy}_test"])
    assert not np.array_equal(a["x_train"][:50], a["x_test"])


def test_random_authors_refuses_more_images_than_the_authors_drew(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match="datasets.synthetic.m: the authors' random dataset has 60000 training and 10000 test"
    ):
        make_dataset("m", "random_authors", tmp_path / "x.npz", n_train=60000, n_val=1, n_test=1, seed=0)
    with pytest.raises(InputError, match="validation_size = 1 and n_test = 10001: lower them"):
        make_dataset("m", "random_authors", tmp_path / "x.npz", n_train=1, n_val=0, n_test=10001, seed=0)
    assert not (tmp_path / "x.npz").exists()


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


# ---------------------------------------------------------------------------- P2: polynomial, halves


def test_polynomial_targets_are_the_512_polynomials_of_the_9_monomials() -> None:
    from clusterability.data.synthetic import MONOMIALS, polynomial_targets

    x, y = synthetic_split("polynomial", 1000, generator(0, "poly"))
    assert x.dtype == np.float32 and x.shape == (1000, 2) and y.dtype == np.float32 and y.shape == (1000, 512)
    assert abs(float(x.mean())) < 0.1 and abs(float(x.std()) - 1.0) < 0.1  # x, y ~ N(0, 1)
    a, b = x[:, 0].astype(np.float64), x[:, 1].astype(np.float64)
    np.testing.assert_allclose(y[:, 0], 0.0)  # no monomial
    np.testing.assert_allclose(y[:, 1], 1.0)  # bit 0: x^0 y^0
    assert MONOMIALS.index((2, 2)) == 8
    np.testing.assert_allclose(y[:, 2**8], a**2 * b**2, rtol=1e-5)  # x^2 y^2 alone
    np.testing.assert_allclose(y[:, 511], (1 + a + a**2) * (1 + b + b**2), rtol=1e-5)  # all nine
    # Each of the 8 non-constant monomials appears in 256 of the polynomials (P2 A.7).
    bits = (np.arange(512)[None, :] >> np.arange(9)[:, None]) & 1
    assert (bits.sum(axis=1) == 256).all()
    np.testing.assert_allclose(polynomial_targets(x[:5]), y[:5])


def test_polynomial_dataset_loads_as_a_regression_dataset(tmp_path: Path) -> None:
    path = make_dataset("polynomial", "polynomial", tmp_path / "p.npz", n_train=50, n_val=10, n_test=20, seed=3)
    data = load_prepared(path)
    assert data["task"] == "regression" and data["x_train"].shape == (50, 2) and data["y_test"].shape == (20, 512)
    assert "task" not in load_prepared(
        make_dataset("r", "random", tmp_path / "r.npz", n_train=5, n_val=1, n_test=2, seed=3)
    )


def _classes_image(labels: np.ndarray) -> np.ndarray:
    """Images whose pixels all equal 20 * label + 10: a half shows its class in its brightness."""
    return np.repeat((labels.astype(np.uint8) * 20 + 10)[:, None, None], 28 * 28, axis=1).reshape(-1, 28, 28)


@pytest.mark.parametrize("same", [True, False])
def test_halves_put_two_shrunk_images_side_by_side(same: bool) -> None:
    from clusterability.data.halves import halves_split

    y = generator(0, "labels").integers(0, 10, 3000).astype(np.uint8)
    x = _classes_image(y)
    images, labels = halves_split(x, y, same, generator(0, "halves"))
    assert images.shape == (3000, 28, 28) and images.dtype == np.uint8 and labels.dtype == np.uint8
    # Rounded: the uint8 Gaussian of a flat image can truncate it by one (e.g. 30 -> 29.999... -> 29).
    left = np.rint((images[:, 0, 0].astype(int) - 10) / 20).astype(int)
    right = np.rint((images[:, 0, 27].astype(int) - 10) / 20).astype(int)
    np.testing.assert_array_equal(left, y)  # the left half is image i, shrunk
    assert (images[:, :, :14] == images[:, :1, :1]).all() and (images[:, :, 14:] == images[:, :1, 27:28]).all()
    if same:
        np.testing.assert_array_equal(right, y)
        np.testing.assert_array_equal(labels, y)
    else:
        np.testing.assert_array_equal(labels, (left + right) % 10)
        assert (left != right).mean() > 0.8  # independent halves
        assert np.bincount(labels, minlength=10).min() > 200  # the sum mod 10 is uniform too


def test_halves_shrink_as_the_authors_code() -> None:
    """scikit-image 0.15's resize to width 14: a Gaussian of sigma 0.5 (edges mirrored) filtered in uint8, so
    truncated, then the mean of columns 2j and 2j + 1, rounded."""
    from clusterability.data.halves import shrink_width

    x = np.zeros((1, 28, 28), dtype=np.uint8)
    x[0, :, ::2] = 255  # alternate white and black columns average to grey when halved
    small = shrink_width(x)
    assert small.shape == (1, 28, 14)
    assert np.abs(small[0, :, 1:-1].astype(int) - 128).max() <= 1
    g = np.exp(-0.5 * (np.arange(-2, 3) / 0.5) ** 2)
    g /= g.sum()  # scipy's Gaussian of sigma 0.5 (radius 2)
    # One column of 100 at column 10: the Gaussian gives 100 g = 0.03, 10.6, 78.7, 10.6, 0.03 in columns
    # 8-12, which the uint8 filter truncates to 0, 10, 78, 10, 0; output column 5 is (78 + 10) / 2 = 44
    # (45 from the untruncated values), column 4 (0 + 10) / 2 = 5, the rest 0.
    assert [int(v) for v in np.floor(100 * g)] == [0, 10, 78, 10, 0]
    x = np.zeros((1, 1, 28), dtype=np.uint8)
    x[0, 0, 10] = 100
    out = shrink_width(x)[0, 0].astype(int)
    assert out[5] == 44 and round(100 * (g[2] + g[3]) / 2) == 45
    assert out[4] == 5 and out[6] == 0 and out[[0, 1, 2, 3, 7, 8, 9, 10, 11, 12, 13]].sum() == 0
    # Mirrored edges: a white column 1 reaches column 0 twice (column -1 is column 1): 255 x 2 g[1] = 54.3
    # truncated to 54, column 1 255 g[2] = 200.6 to 200; output column 0 is (54 + 200) / 2.
    x = np.zeros((1, 1, 28), dtype=np.uint8)
    x[0, 0, 1] = 255
    assert int(255 * 2 * g[1]) == 54 and int(255 * g[2]) == 200
    assert shrink_width(x)[0, 0, 0] == (54 + 200) // 2
    with pytest.raises(ValueError, match="uint8"):
        shrink_width(x.astype(np.float64))


def test_make_halves_writes_each_split_deterministically(tmp_path: Path) -> None:
    from clusterability.data.halves import make_paired

    source = load_prepared(make_dataset("lines", "lines", tmp_path / "l.npz", n_train=200, n_val=20, n_test=50, seed=1))
    a = load_prepared(make_paired("h", source, tmp_path / "a.npz", same=False, seed=4))
    b = load_prepared(make_paired("h", source, tmp_path / "b.npz", same=False, seed=4))
    c = load_prepared(make_paired("h", source, tmp_path / "c.npz", same=False, seed=5))
    assert [len(a[f"y_{s}"]) for s in ("train", "val", "test")] == [200, 20, 50]
    for key in ("x_train", "y_train", "x_test"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["x_train"], c["x_train"])


@pytest.mark.parametrize("same", [True, False])
def test_stack_puts_two_images_in_two_channels(same: bool, tmp_path: Path) -> None:
    """P2 3.2: image i is the first channel, its partner (same class, or any) the second."""
    from clusterability.data.halves import make_paired, stack_split

    y = generator(0, "labels").integers(0, 10, 3000).astype(np.uint8)
    x = _classes_image(y)
    images, labels = stack_split(x, y, same, generator(0, "stack"))
    assert images.shape == (3000, 28, 28, 2) and images.dtype == np.uint8 and labels.dtype == np.uint8
    first, second = ((images[:, 0, 0, c].astype(int) - 10) // 20 for c in (0, 1))
    np.testing.assert_array_equal(first, y)
    np.testing.assert_array_equal(images[..., 0], x)  # full-size, not shrunk
    if same:
        np.testing.assert_array_equal(second, y)
        np.testing.assert_array_equal(labels, y)
    else:
        np.testing.assert_array_equal(labels, (first + second) % 10)
        assert (first != second).mean() > 0.8
    source = load_prepared(make_dataset("lines", "lines", tmp_path / "l.npz", n_train=60, n_val=10, n_test=20, seed=1))
    stacked = load_prepared(make_paired("s", source, tmp_path / "s.npz", same=same, seed=4, layout="stack"))
    assert stacked["x_train"].shape == (60, 28, 28, 2) and stacked["x_test"].shape == (20, 28, 28, 2)
    with pytest.raises(InputError, match="unknown layout 'side'"):
        make_paired("s", source, tmp_path / "x.npz", same=same, seed=4, layout="side")


def test_the_schema_allows_exactly_the_kinds_make_dataset_draws() -> None:
    """``datasets.synthetic.*.kind`` in schemas/config.schema.yaml and ``synthetic.KINDS`` list the same kinds."""
    import yaml

    from clusterability.data.synthetic import KINDS

    schema = yaml.safe_load((Path(__file__).resolve().parents[2] / "schemas/config.schema.yaml").read_text())
    synthetic = schema["properties"]["datasets"]["properties"]["synthetic"]["additionalProperties"]
    assert sorted(synthetic["properties"]["kind"]["enum"]) == sorted(KINDS)
