"""The weights ``.npz`` format: round trips, and one clear InputError per malformed file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from clusterability.core.network import BatchNorm, NetworkWeights
from clusterability.errors import InputError
from clusterability.io.npz import load_weights, save_weights, weights_from_arrays, weights_to_arrays


def _load_error(path: Path) -> str:
    """The message of the InputError raised by loading ``path``; checks it is one line naming the file."""
    with pytest.raises(InputError) as exc:
        load_weights(path)
    msg = str(exc.value)
    assert msg and "\n" not in msg
    assert str(path) in msg
    return msg


def _mlp_kernels(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)]


# --- well-formed files ------------------------------------------------------------


def test_load_mlp(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    kernels = _mlp_kernels(rng)
    path = tmp_path / "mlp.npz"
    np.savez(path, kernel_0=kernels[0], kernel_1=kernels[1], bias_0=np.ones(4), other_stuff=np.zeros(7))
    w = load_weights(path)
    assert w.n_layers == 2
    assert w.kind == "mlp"
    assert w.layer_widths() == [5, 4, 3]
    assert w.source == str(path)
    for a, b in zip(w.kernels, kernels):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(w.biases[0], np.ones(4))
    assert w.biases[1] is None
    assert w.batch_norms == (None, None)


def test_kernels_are_read_in_numeric_order(tmp_path: Path) -> None:
    # kernel_10 must come after kernel_9, not after kernel_1 (lexicographic order would break chaining).
    widths = list(range(2, 14))
    arrays = {f"kernel_{i}": np.ones((widths[i], widths[i + 1])) for i in range(11)}
    path = tmp_path / "deep.npz"
    np.savez(path, **arrays)
    w = load_weights(path)
    assert w.layer_widths() == widths


def test_save_load_round_trip_cnn_with_batch_norm(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    kernels = (
        rng.normal(size=(3, 3, 1, 4)),
        rng.normal(size=(3, 3, 4, 5)),
        rng.normal(size=(3, 3, 5, 6)),
        rng.normal(size=(24, 10)),
    )
    bn = BatchNorm(
        gamma=rng.uniform(0.5, 2, 5),
        moving_variance=rng.uniform(0.5, 2, 5),
        epsilon=1e-3,
        beta=rng.normal(size=5),
        moving_mean=rng.normal(size=5),
    )
    w = NetworkWeights(kernels, (None, rng.normal(size=5), None, None), (None, bn, None, None))
    assert w.kind == "cnn"
    assert [w.is_conv(i) for i in range(4)] == [True, True, True, False]
    path = tmp_path / "cnn.npz"
    save_weights(path, w)
    assert not [p for p in tmp_path.iterdir() if p.name != "cnn.npz"]  # no temporary left behind
    back = load_weights(path)
    assert back.n_layers == 4 and back.kind == "cnn"
    for a, b in zip(back.kernels, kernels):
        np.testing.assert_array_equal(a, b)
    got = back.batch_norms[1]
    assert got is not None and back.batch_norms[0] is None and back.batch_norms[2] is None
    np.testing.assert_array_equal(got.gamma, bn.gamma)
    np.testing.assert_array_equal(got.moving_variance, bn.moving_variance)
    np.testing.assert_array_equal(got.beta, bn.beta)
    np.testing.assert_array_equal(got.moving_mean, bn.moving_mean)
    assert got.epsilon == bn.epsilon
    np.testing.assert_allclose(got.scale(), bn.gamma / np.sqrt(bn.moving_variance + 1e-3))
    assert set(weights_to_arrays(back)) == {
        "kernel_0",
        "kernel_1",
        "kernel_2",
        "kernel_3",
        "bias_1",
        "bn_gamma_1",
        "bn_moving_variance_1",
        "bn_epsilon_1",
        "bn_beta_1",
        "bn_moving_mean_1",
    }


def test_loaded_file_is_plain_zip_without_pickles(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    save_weights(path, NetworkWeights((np.ones((2, 3)),)))
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["kernel_0.npy"]
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["kernel_0"], np.ones((2, 3)))


def test_with_kernels_keeps_extras() -> None:
    bn = BatchNorm(np.ones(3), np.ones(3), 1e-3)
    w = NetworkWeights((np.ones((3, 3, 2, 3)), np.ones((3, 3, 3, 3))), batch_norms=(bn, None), source="x.npz")
    w2 = w.with_kernels([np.zeros((3, 3, 2, 3)), np.zeros((3, 3, 3, 3))])
    assert w2.batch_norms[0] is bn and w2.source == "x.npz"
    assert not np.any(w2.kernels[0])


# --- malformed files: one InputError naming the file -----------------------------


def test_missing_file(tmp_path: Path) -> None:
    _load_error(tmp_path / "absent.npz")


def test_no_kernels(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, weights=np.ones((3, 3)))
    assert "kernel_0" in _load_error(path)


def test_missing_kernel_in_sequence(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, kernel_0=np.ones((3, 4)), kernel_2=np.ones((4, 2)))
    assert "kernel_1" in _load_error(path)


def test_missing_first_kernel(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, kernel_1=np.ones((3, 4)))
    assert "kernel_0" in _load_error(path)


def test_non_chaining_dense_shapes(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, kernel_0=np.ones((3, 4)), kernel_1=np.ones((5, 2)))
    msg = _load_error(path)
    assert "kernel_0" in msg and "kernel_1" in msg


def test_non_chaining_conv_shapes(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, kernel_0=np.ones((3, 3, 1, 4)), kernel_1=np.ones((3, 3, 5, 8)))
    _load_error(path)


def test_conv_after_dense_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, kernel_0=np.ones((3, 4)), kernel_1=np.ones((3, 3, 4, 8)))
    _load_error(path)


def test_conv_then_dense_needs_no_chaining(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, kernel_0=np.ones((3, 3, 1, 4)), kernel_1=np.ones((3, 3, 4, 8)), kernel_2=np.ones((123, 10)))
    assert load_weights(path).kind == "cnn"


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4), (1, 2, 3, 4, 5)])
def test_wrong_kernel_rank(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, kernel_0=np.ones(shape))
    assert "kernel_0" in _load_error(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_kernel(tmp_path: Path, bad: float) -> None:
    k = np.ones((3, 4), dtype=np.float32)
    k[1, 2] = bad
    path = tmp_path / "w.npz"
    np.savez(path, kernel_0=np.ones((2, 3)), kernel_1=k)
    msg = _load_error(path)
    assert "kernel_1" in msg


def test_non_numeric_kernel(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, kernel_0=np.array([["a", "b"], ["c", "d"]]))
    _load_error(path)


def test_pickled_object_array(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    obj = np.empty((2, 2), dtype=object)
    obj[:] = [[1.0, 2.0], [3.0, None]]
    np.savez(path, kernel_0=obj)
    assert "pickle" in _load_error(path)


def test_text_file_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    path.write_text("kernel_0 = [[1, 2], [3, 4]]\n")
    _load_error(path)


def test_npy_file_is_not_an_npz(tmp_path: Path) -> None:
    # np.load returns a bare array for .npy content; that must not escape as a TypeError.
    for name in ("w.npy", "w.npz"):
        path = tmp_path / name
        with open(path, "wb") as fh:
            np.save(fh, np.ones((3, 4)))
        _load_error(path)


def test_truncated_and_empty_files(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    np.savez(good, kernel_0=np.ones((30, 40)), kernel_1=np.ones((40, 5)))
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    _load_error(truncated)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    _load_error(empty)


def test_directory_is_not_a_weights_file(tmp_path: Path) -> None:
    folder = tmp_path / "model.npz"
    folder.mkdir()
    _load_error(folder)


def test_incomplete_batch_norm(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(
        path,
        kernel_0=np.ones((3, 3, 1, 4)),
        kernel_1=np.ones((3, 3, 4, 4)),
        bn_gamma_0=np.ones(4),
        bn_epsilon_0=np.asarray(1e-3),
    )
    assert "bn_moving_variance_0" in _load_error(path)


def test_batch_norm_wrong_shape(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(
        path,
        kernel_0=np.ones((3, 3, 1, 4)),
        kernel_1=np.ones((3, 3, 4, 4)),
        bn_gamma_0=np.ones(5),
        bn_moving_variance_0=np.ones(5),
        bn_epsilon_0=np.asarray(1e-3),
    )
    _load_error(path)


@pytest.mark.parametrize(
    ("gamma", "var", "eps"),
    [
        ([1.0, np.nan, 1.0, 1.0], [1.0] * 4, 1e-3),
        ([1.0] * 4, [1.0, 1.0, np.inf, 1.0], 1e-3),
        ([1.0] * 4, [0.0, 1.0, 1.0, 1.0], 0.0),  # zero variance and epsilon: division by zero
        ([1.0] * 4, [-1.0, 1.0, 1.0, 1.0], 1e-3),
    ],
)
def test_batch_norm_bad_values(tmp_path: Path, gamma: list[float], var: list[float], eps: float) -> None:
    path = tmp_path / "w.npz"
    np.savez(
        path,
        kernel_0=np.ones((3, 3, 1, 4)),
        kernel_1=np.ones((3, 3, 4, 4)),
        bn_gamma_0=np.asarray(gamma),
        bn_moving_variance_0=np.asarray(var),
        bn_epsilon_0=np.asarray(eps),
    )
    _load_error(path)


def test_in_memory_validation_names_the_source() -> None:
    with pytest.raises(InputError, match="from-test"):
        weights_from_arrays({"kernel_0": np.ones((2, 3)), "kernel_1": np.ones((4, 1))}, source="from-test")
    with pytest.raises(InputError):
        NetworkWeights(())
    with pytest.raises(InputError):
        NetworkWeights((np.ones((2, 3)),), biases=(None, None))
