"""The exact mask update: the same thresholds, masks and weights as tfmot's sorting one."""

from __future__ import annotations

import numpy as np
import pytest
from installed import require

require("tensorflow_model_optimization")

from clusterability.train.config import TrainConfig  # noqa: E402
from clusterability.train.pruning import kth_largest_magnitude  # noqa: E402
from clusterability.train.runtime import import_tf  # noqa: E402
from clusterability.train.training import train_and_prune  # noqa: E402

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def tf_modules():
    return import_tf(threads=1)


def _kernels() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "random": rng.standard_normal((784, 256)).astype(np.float32),
        "ties": rng.choice(np.float32([-2, -1, 0, 0.5, 1, 3]), size=(40, 30)),
        "mostly_zero": np.where(rng.random((64, 64)) < 0.9, 0, rng.standard_normal((64, 64))).astype(np.float32),
        "all_equal": np.full((10, 7), -0.25, np.float32),
        "tiny_and_huge": np.float32([[1e-38, 3e38], [-1e-45, 0.0], [7.0, -7.0]]),
    }


@pytest.mark.parametrize("name", list(_kernels()))
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_kth_largest_magnitude_is_the_sorted_one(tf_modules, name: str, fraction: float) -> None:
    tf, _, _ = tf_modules
    w = _kernels()[name]
    k = max(1, round(w.size * fraction))
    expected = np.sort(np.abs(w).ravel())[::-1][k - 1]
    got = kth_largest_magnitude(tf, tf.constant(w), k).numpy()
    assert got == expected and got.dtype == np.float32


@pytest.mark.parametrize("name", list(_kernels()))
@pytest.mark.parametrize("sparsity", [0.5, 0.73, 0.9])
def test_mask_update_equals_tfmots(tf_modules, name: str, sparsity: float) -> None:
    """Against tfmot's own `_update_mask` (kept as `_tfmot_update_mask`) on one Pruning object."""
    tf, keras, tfmot = tf_modules
    w = _kernels()[name]
    schedule = tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, frequency=1)
    layer = tfmot.sparsity.keras.prune_low_magnitude(keras.layers.Dense(w.shape[1]), pruning_schedule=schedule)
    layer.build((None, w.shape[0]))
    layer.pruning_step.assign(1)
    pruning = layer.pruning_obj
    threshold, mask = pruning._update_mask(tf.constant(w))
    tf_threshold, tf_mask = pruning._tfmot_update_mask(tf.constant(w))
    assert threshold.numpy() == tf_threshold.numpy()
    np.testing.assert_array_equal(mask.numpy(), tf_mask.numpy())


def _data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    out = {}
    for split, n in (("train", 640), ("val", 64), ("test", 64)):
        y = rng.integers(0, 4, n)
        x = rng.integers(0, 80, (n, 28, 28)).astype(np.uint8)
        for c in range(4):
            x[y == c, 7 * c : 7 * c + 4, :] += 150
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    return out


def test_pruning_runs_are_tfmots_bit_for_bit(tf_modules, tmp_path) -> None:
    """The paper's schedule (frequency 10, cubic 0.5 -> 0.9) with either mask update: same masks and weights."""
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_impl

    from clusterability.io.npz import load_weights

    # 640 training + 64 validation images, both trained on: 22 steps of 32 an epoch, 66 pruning steps.
    config = TrainConfig(epochs=1, prune_epochs=3, batch_size=32, widths=(64, 64), dropout=0.5)
    runs = {}
    exact = pruning_impl.Pruning._update_mask
    for name, update in (("tfmot", pruning_impl.Pruning._tfmot_update_mask), ("exact", exact)):
        pruning_impl.Pruning._update_mask = update
        try:
            out = tmp_path / f"{name}.npz"
            metrics = train_and_prune(_data(), config, seed=5, threads=1, out_weights_pruned=out)
        finally:
            pruning_impl.Pruning._update_mask = exact
        runs[name] = (load_weights(out), metrics)
    (ours, ours_metrics), (theirs, their_metrics) = runs["exact"], runs["tfmot"]
    assert ours_metrics["pruning"]["end_step"] == 66 and ours_metrics["pruning"]["last_mask_update_step"] == 60
    for a, b in zip(ours.kernels, theirs.kernels, strict=True):
        np.testing.assert_array_equal(a == 0, b == 0)  # the masks
        np.testing.assert_array_equal(a, b)  # the weights
    assert ours_metrics["sparsity"] == their_metrics["sparsity"]
    assert all(abs(s - 0.9) < 0.01 for s in ours_metrics["sparsity"]["pruned"])


def test_another_tfmot_release_keeps_tfmots_own_mask_update(tf_modules, monkeypatch: pytest.MonkeyPatch) -> None:
    """The patch replaces a private method of tfmot 0.8.1 only; under any other release it stands aside and warns."""
    import types

    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_impl

    from clusterability.train.pruning import install_exact_mask_update

    tf, _, tfmot = tf_modules
    assert install_exact_mask_update(tf, tfmot)  # the pinned release: in place (idempotent)
    patched = pruning_impl.Pruning._update_mask
    monkeypatch.setattr(pruning_impl.Pruning, "_update_mask", pruning_impl.Pruning._tfmot_update_mask)
    newer = types.SimpleNamespace(__version__="0.9.0")
    with pytest.warns(RuntimeWarning, match="0.9.0 is installed, not 0.8.1"):
        assert not install_exact_mask_update(tf, newer)
    assert pruning_impl.Pruning._update_mask is pruning_impl.Pruning._tfmot_update_mask
    assert patched is not pruning_impl.Pruning._tfmot_update_mask


def _autograph_conversions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions AutoGraph converts from now on (their qualified names), recorded as it converts them."""
    from tensorflow.python.autograph.impl import api

    converted: list[str] = []
    convert = api._convert_actual

    def recording(entity, program_ctx):
        converted.append(getattr(entity, "__qualname__", repr(entity)))
        return convert(entity, program_ctx)

    monkeypatch.setattr(api, "_convert_actual", recording)
    return converted


def test_pruning_wrapper_is_traced_without_autograph_to_the_same_run(tf_modules, tmp_path, monkeypatch) -> None:
    """tfmot's wrapper and mask updates are traced as written (no AutoGraph conversion, a third of a second
    per job): the pruned network and its metrics are those of the AutoGraph-converted wrapper, bit for bit."""
    import inspect

    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    from clusterability.io.npz import load_weights
    from clusterability.train.pruning import trace_wrappers_without_autograph

    tf, _, tfmot = tf_modules
    wrapper = pruning_wrapper.PruneLowMagnitude
    assert hasattr(wrapper.call, "_clusterability_tfmot_call")  # installed by import_tf
    assert trace_wrappers_without_autograph(tf, tfmot)  # idempotent
    # Keras still passes `training` to the wrapper: its call keeps tfmot's signature.
    assert list(inspect.signature(wrapper.call).parameters) == ["self", "inputs", "training", "kwargs"]
    config = TrainConfig(epochs=1, prune_epochs=2, batch_size=32, pruning_frequency=4, widths=(32, 32), dropout=0.5)
    converted = _autograph_conversions(monkeypatch)
    runs = {"as written": train_and_prune(_data(), config, seed=2, threads=1, out_weights_pruned=tmp_path / "a.npz")}
    assert converted and not [name for name in converted if not name.startswith("Model.make_")], converted
    # tfmot's own: Keras converts the subclassed layer's call, and AutoGraph every tfmot function it reaches.
    monkeypatch.setattr(wrapper, "call", wrapper.call._clusterability_tfmot_call)
    monkeypatch.delattr(wrapper, "_should_use_autograph")
    monkeypatch.setattr("clusterability.train.pruning.trace_wrappers_without_autograph", lambda tf, tfmot: False)
    converted.clear()
    runs["autograph"] = train_and_prune(_data(), config, seed=2, threads=1, out_weights_pruned=tmp_path / "b.npz")
    assert "PruneLowMagnitude.call" in converted and "Pruning._weight_assign_objs" in converted
    for a, b in zip(load_weights(tmp_path / "a.npz").kernels, load_weights(tmp_path / "b.npz").kernels, strict=True):
        np.testing.assert_array_equal(a, b)
    for metrics in runs.values():
        del metrics["wall_seconds"]
    assert runs["as written"] == runs["autograph"]


def test_another_tfmot_release_keeps_autograph(tf_modules) -> None:
    """Under any other tfmot release the wrapper is left as tfmot wrote it."""
    import types

    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    from clusterability.train.pruning import trace_wrappers_without_autograph

    tf, _, _ = tf_modules
    call = pruning_wrapper.PruneLowMagnitude.call
    assert not trace_wrappers_without_autograph(tf, types.SimpleNamespace(__version__="0.9.0"))
    assert pruning_wrapper.PruneLowMagnitude.call is call
