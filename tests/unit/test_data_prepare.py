"""Parsing raw datasets (IDX, CIFAR-10 binary) and preparing uint8 28x28 train/val/test splits.

The raw files come from ``raw_mirror`` (conftest): the real mirror where ../shared/datasets
exists, else the synthetic one (same formats, fewer images), so these tests run on a fresh clone.
The tests of what only the publishers' files have (their sizes, class counts and brightness)
read ``mirror`` and skip without it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from clusterability.data.formats import read_cifar10_bin, read_idx
from clusterability.data.prepare import (
    antialias_matrix,
    cifar_to_gray28,
    load_prepared,
    load_raw,
    prepare_dataset,
    resize_antialiased,
    resize_prepared,
    split_indices,
)
from clusterability.errors import InputError
from synthetic_mirror import RawMirror

CIFAR_TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]


@pytest.fixture(scope="module")
def mnist(raw_mirror: RawMirror) -> dict[str, np.ndarray]:
    """The mirror's whole MNIST (the real one: 60,000 + 10,000 images), parsed once for the module."""
    return load_raw("mnist", raw_mirror.root / "mnist")


@pytest.fixture(scope="module")
def cifar_prepared(raw_mirror: RawMirror, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small prepared CIFAR-10 file (the mirror is found through its sub-folder)."""
    path = tmp_path_factory.mktemp("prep") / "cifar10.npz"
    prepare_dataset("cifar10", raw_mirror.root, path, val_size=100, seed=3, n_train=400, n_test=200)
    return load_prepared(path)


def _idx_bytes(arr: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


# --- IDX ------------------------------------------------------------------------------


def test_read_idx_real_mnist(mirror: Path, mnist: dict[str, np.ndarray]) -> None:
    """Real files only: MNIST's official sizes and brightness (``mnist`` is the real MNIST where ``mirror`` is)."""
    assert mnist["x_train"].shape == (60000, 28, 28) and mnist["x_train"].dtype == np.uint8
    assert mnist["y_train"].shape == (60000,) and mnist["x_test"].shape == (10000, 28, 28)
    assert mnist["y_test"].shape == (10000,)
    assert set(np.unique(mnist["y_train"])) == set(range(10))
    assert set(np.unique(mnist["y_test"])) == set(range(10))
    assert mnist["x_train"].max() == 255 and 20 < mnist["x_train"].mean() < 50


def test_read_idx_fashion_labels(mirror: Path) -> None:
    """Real files only: Fashion-MNIST's test set has exactly 1,000 images of each class."""
    labels = read_idx(mirror / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.array_equal(np.bincount(labels), np.full(10, 1000))


def test_read_idx_plain_and_wide_dtypes(tmp_path: Path) -> None:
    ints = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    (tmp_path / "i.idx").write_bytes(_idx_bytes(ints, 0x0C))
    got = read_idx(tmp_path / "i.idx")
    assert np.array_equal(got, ints) and got.dtype.isnative
    floats = np.linspace(0, 1, 5).astype(np.float32)
    (tmp_path / "f.idx.gz").write_bytes(gzip.compress(_idx_bytes(floats, 0x0D)))
    assert np.array_equal(read_idx(tmp_path / "f.idx.gz"), floats)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"\x00\x00", "truncated"),
        (b"\x01\x02\x08\x01" + b"\x00" * 8, "not an IDX file"),
        (b"\x00\x00\x07\x01" + b"\x00" * 8, "dtype code 0x07"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "more than the file can hold"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x02abc", "beyond shape"),
    ],
)
def test_read_idx_malformed(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(content)
    with pytest.raises(InputError, match=match) as exc:
        read_idx(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_read_idx_truncated_gzip(raw_mirror: RawMirror, tmp_path: Path) -> None:
    data = (raw_mirror.root / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated") as exc:
        read_idx(path)
    assert str(path) in str(exc.value)
    # Gzip intact but the IDX payload is short.
    path.write_bytes(gzip.compress(_idx_bytes(np.zeros((10, 28, 28), np.uint8), 0x08)[:-100]))
    with pytest.raises(InputError, match="truncated IDX"):
        read_idx(path)


# --- CIFAR-10 binary ------------------------------------------------------------------


def test_read_cifar10_real(mirror: Path) -> None:
    """Real files only: CIFAR-10's official sizes and exact class balance."""
    folder = mirror / "cifar-10-batches-bin"
    x, y = read_cifar10_bin([folder / f for f in CIFAR_TRAIN])
    assert x.shape == (50000, 32, 32, 3) and x.dtype == np.uint8 and y.shape == (50000,)
    assert np.array_equal(np.bincount(y), np.full(10, 5000))
    xt, yt = read_cifar10_bin([folder / "test_batch.bin"])
    assert xt.shape == (10000, 32, 32, 3) and np.array_equal(np.bincount(yt), np.full(10, 1000))


def test_read_cifar10_layout_and_size_check(tmp_path: Path) -> None:
    planes = np.stack([np.full((32, 32), 10), np.full((32, 32), 20), np.full((32, 32), 30)])
    planes[0, 1, 2] = 99  # R at row 1, column 2
    record = np.concatenate([[7], planes.ravel()]).astype(np.uint8)
    path = tmp_path / "b.bin"
    path.write_bytes(record.tobytes() * 2)
    x, y = read_cifar10_bin([path])
    assert x.shape == (2, 32, 32, 3) and list(y) == [7, 7]
    assert list(x[0, 0, 0]) == [10, 20, 30] and x[1, 1, 2, 0] == 99
    path.write_bytes(record.tobytes()[:-1])
    with pytest.raises(InputError, match="not a positive multiple") as exc:
        read_cifar10_bin([path])
    assert str(path) in str(exc.value)


# --- grayscale and anti-aliased resize ------------------------------------------------------


def test_antialias_matrix() -> None:
    a = antialias_matrix(32, 28)
    assert a.shape == (28, 32) and np.allclose(a.sum(axis=1), 1.0) and (a >= 0).all()
    assert np.allclose(antialias_matrix(28, 28), np.eye(28))


def test_gray_luma_weights() -> None:
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], dtype=np.uint8)
    images = np.broadcast_to(colours[:, None, None, :], (4, 32, 32, 3))
    gray = cifar_to_gray28(np.ascontiguousarray(images))
    assert gray.shape == (4, 28, 28) and gray.dtype == np.uint8
    assert [int(g[5, 5]) for g in gray] == [76, 150, 29, 255]  # 0.299/0.587/0.114 * 255
    assert all((g == g[0, 0]).all() for g in gray)


def test_checkerboard_is_not_aliased() -> None:
    board = (np.indices((32, 32)).sum(axis=0) % 2 * 255).astype(np.uint8)
    small = cifar_to_gray28(np.repeat(board[None, :, :, None], 3, axis=3))[0].astype(float)
    assert abs(small.mean() - 127.5) < 1.5
    nearest = board[np.floor((np.arange(28) + 0.5) * 32 / 28).astype(int)][
        :, np.floor((np.arange(28) + 0.5) * 32 / 28).astype(int)
    ].astype(float)
    assert nearest.std() > 120  # without a low-pass filter the board aliases to full contrast
    assert small.std() < 25 and small[1:-1, 1:-1].std() < 22
    assert np.abs(small - 127.5).mean() < 0.2 * np.abs(nearest - 127.5).mean()


def test_resize_matches_pillow_antialiased_bilinear() -> None:
    image_mod = pytest.importorskip("PIL.Image")
    img = np.random.default_rng(0).uniform(0, 255, (32, 32)).astype(np.float32)
    ref = np.asarray(image_mod.fromarray(img, mode="F").resize((28, 28), image_mod.BILINEAR))
    assert np.abs(resize_antialiased(img[None].astype(np.float64))[0] - ref).max() < 1e-3


# --- prepare --------------------------------------------------------------------------------


def test_prepared_cifar(raw_mirror: RawMirror, cifar_prepared: dict) -> None:
    d = cifar_prepared
    assert d["name"] == "cifar10"
    assert d["x_train"].shape == (400, 28, 28) and d["x_val"].shape == (100, 28, 28)
    assert d["x_test"].shape == (200, 28, 28)
    for s in ("train", "val", "test"):
        assert d[f"x_{s}"].dtype == np.uint8 and d[f"y_{s}"].dtype == np.uint8
        assert d[f"y_{s}"].max() <= 9
    # Each split holds the raw images its indices name, in 28x28 gray.
    folder = raw_mirror.root / "cifar-10-batches-bin"
    x, y = read_cifar10_bin([folder / f for f in CIFAR_TRAIN])
    xt, yt = read_cifar10_bin([folder / "test_batch.bin"])
    idx = split_indices("cifar10", y.size, yt.size, val_size=100, seed=3, n_train=400, n_test=200)
    for s, (images, labels) in (("train", (x, y)), ("val", (x, y)), ("test", (xt, yt))):
        np.testing.assert_array_equal(d[f"y_{s}"], labels[idx[s]])
        np.testing.assert_array_equal(d[f"x_{s}"], cifar_to_gray28(images[idx[s]]))


def test_prepared_cifar_real_brightness(mirror: Path, cifar_prepared: dict) -> None:
    """Real files only: natural images' gray levels (the synthetic ones are dark noise with one bright bar)."""
    assert 80 < cifar_prepared["x_train"].mean() < 160 and cifar_prepared["x_train"].std() > 30


def test_split_indices_disjoint_and_deterministic() -> None:
    idx = split_indices("mnist", 60000, 10000, val_size=5000, seed=1)
    assert idx["val"].size == 5000 and idx["train"].size == 55000
    assert np.intersect1d(idx["val"], idx["train"]).size == 0
    assert np.array_equal(np.union1d(idx["val"], idx["train"]), np.arange(60000))
    again = split_indices("mnist", 60000, 10000, val_size=5000, seed=1)
    assert all(np.array_equal(idx[k], again[k]) for k in idx)
    other = split_indices("mnist", 60000, 10000, val_size=5000, seed=2)
    assert not np.array_equal(idx["val"], other["val"])
    sub = split_indices("mnist", 60000, 10000, val_size=5000, seed=1, n_train=300, n_test=50)
    assert np.array_equal(sub["val"], idx["val"])  # subsampling leaves the validation split alone
    assert sub["train"].size == 300 and np.isin(sub["train"], idx["train"]).all()
    assert sub["test"].size == 50 and np.unique(sub["test"]).size == 50


def test_prepare_mnist_split(raw_mirror: RawMirror, mnist: dict[str, np.ndarray], tmp_path: Path) -> None:
    out = tmp_path / "out" / "mnist.npz"
    sizes = {"val_size": 200, "seed": 7, "n_train": 1000, "n_test": 300}
    prepare_dataset("mnist", raw_mirror.root / "mnist", out, **sizes)
    d = load_prepared(out)
    assert [p.name for p in out.parent.iterdir()] == ["mnist.npz"]  # no temporary files left
    assert mnist["x_train"].shape[1:] == (28, 28) and mnist["y_train"].shape == mnist["x_train"].shape[:1]
    idx = split_indices("mnist", mnist["y_train"].size, mnist["y_test"].size, **sizes)
    assert np.array_equal(d["x_val"], mnist["x_train"][idx["val"]])
    assert np.array_equal(d["y_train"], mnist["y_train"][idx["train"]])
    assert np.array_equal(d["x_test"], mnist["x_test"][idx["test"]])
    assert (d["x_train"].shape, d["x_val"].shape, d["x_test"].shape) == (
        (1000, 28, 28),
        (200, 28, 28),
        (300, 28, 28),
    )
    with np.load(out, allow_pickle=False) as npz:
        assert npz["name"].shape == () and str(npz["name"]) == "mnist"
    out2 = tmp_path / "again.npz"
    prepare_dataset("mnist", raw_mirror.root / "mnist", out2, **sizes)
    d2 = load_prepared(out2)
    assert all(np.array_equal(d[k], d2[k]) for k in d if k != "name")


def test_prepare_bad_sizes(raw_mirror: RawMirror, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="val_size=60000"):
        prepare_dataset("mnist", raw_mirror.root / "mnist", tmp_path / "x.npz", val_size=60000, seed=0)
    with pytest.raises(InputError, match="n_train=59000"):
        split_indices("mnist", 60000, 10000, val_size=5000, seed=0, n_train=59000)
    with pytest.raises(InputError, match="unknown dataset"):
        prepare_dataset("svhn", raw_mirror.root, tmp_path / "x.npz", val_size=10, seed=0)
    assert not (tmp_path / "x.npz").exists()


def test_load_raw_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such") as exc:
        load_raw("fashion_mnist", tmp_path)
    assert str(tmp_path) in str(exc.value)


def _valid_arrays() -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {"name": np.array("mnist")}
    for s, n in (("train", 5), ("val", 2), ("test", 3)):
        arrays[f"x_{s}"] = np.zeros((n, 28, 28), np.uint8)
        arrays[f"y_{s}"] = np.arange(n, dtype=np.uint8)
    return arrays


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"x_val": None}, "missing arrays x_val"),
        ({"x_train": np.zeros((5, 28, 28), np.float32)}, "x_train has shape"),
        ({"x_test": np.zeros((3, 32, 32), np.uint8)}, "x_test has shape"),
        ({"y_train": np.zeros(4, np.uint8)}, "y_train has shape"),
        ({"y_val": np.array([0, 12], np.uint8)}, "label 12"),
        ({"name": np.array(["a", "b"])}, "'name' must be a 0-d string"),
        ({"y_test": np.array([{}, {}, {}], dtype=object)}, "without pickle"),
    ],
)
def test_load_prepared_rejects(tmp_path: Path, change: dict, match: str) -> None:
    arrays = _valid_arrays()
    for k, v in change.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    path = tmp_path / "p.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=match) as exc:
        load_prepared(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_load_prepared_not_npz(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such prepared dataset"):
        load_prepared(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a readable"):
        load_prepared(tmp_path / "junk.npz")
    np.savez(tmp_path / "ok.npz", **_valid_arrays())
    assert load_prepared(tmp_path / "ok.npz")["name"] == "mnist"


def test_native_cifar_keeps_rgb_and_the_same_splits(
    raw_mirror: RawMirror, cifar_prepared: dict, tmp_path: Path
) -> None:
    """P2's VGG: CIFAR-10 at 32x32 RGB, the same images in each split as the 28x28 gray version."""
    path = tmp_path / "cifar10_rgb.npz"
    prepare_dataset(
        "cifar10", raw_mirror.root, path, val_size=100, seed=3, n_train=400, n_test=200, native=True, label="rgb"
    )
    rgb = load_prepared(path)
    assert rgb["name"] == "rgb"
    assert rgb["x_train"].shape == (400, 32, 32, 3) and rgb["x_test"].shape == (200, 32, 32, 3)
    for s in ("train", "val", "test"):
        np.testing.assert_array_equal(rgb[f"y_{s}"], cifar_prepared[f"y_{s}"])
        np.testing.assert_array_equal(cifar_to_gray28(rgb[f"x_{s}"]), cifar_prepared[f"x_{s}"])


def test_load_prepared_rejects_too_many_channels(tmp_path: Path) -> None:
    arrays = _valid_arrays()
    for s in ("train", "val", "test"):
        arrays[f"x_{s}"] = np.zeros((len(arrays[f"y_{s}"]), 28, 28, 5), np.uint8)
    np.savez(tmp_path / "p.npz", **arrays)
    with pytest.raises(InputError, match="at most 4 channels"):
        load_prepared(tmp_path / "p.npz")


def test_resized_dataset_averages_blocks_and_keeps_splits(tmp_path: Path) -> None:
    """P2 4.1's 7x7 MNIST: each pixel a (triangle-weighted) mean of its 4x4 neighbourhood, labels untouched."""
    rng = np.random.default_rng(0)
    arrays = _valid_arrays()
    for s in ("train", "val", "test"):
        arrays[f"x_{s}"] = rng.integers(0, 256, size=arrays[f"x_{s}"].shape, dtype=np.uint8)
    arrays["x_train"][0] = 0
    arrays["x_train"][0, 8:12, 12:16] = 255  # one bright 4x4 block: output pixel (2, 3) and its neighbours
    np.savez(tmp_path / "mnist.npz", **arrays)
    source = load_prepared(tmp_path / "mnist.npz")
    resize_prepared(source, tmp_path / "small.npz", side=7, label="mnist_7x7")
    small = load_prepared(tmp_path / "small.npz")
    assert small["name"] == "mnist_7x7"
    for s in ("train", "val", "test"):
        assert small[f"x_{s}"].shape == (len(arrays[f"y_{s}"]), 7, 7) and small[f"x_{s}"].dtype == np.uint8
        np.testing.assert_array_equal(small[f"y_{s}"], arrays[f"y_{s}"])
        expected = resize_antialiased(arrays[f"x_{s}"].astype(np.float64), 7)
        assert np.abs(small[f"x_{s}"].astype(float) - expected).max() <= 0.5
    block = small["x_train"][0]
    assert block.argmax() == 2 * 7 + 3 and block[2, 3] > 2 * block[2, 2] > 0 and block[0, 0] == 0
    assert block.sum() * 16 == pytest.approx(255 * 16, rel=0.02)  # the block's brightness is kept
    with pytest.raises(InputError, match="side must be between 1 and its image side 28"):
        resize_prepared(source, tmp_path / "x.npz", side=30)
