"""Training and pruning with TensorFlow + tfmot on tiny data (one thread, seconds)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from installed import require

require("tensorflow", "tf_keras", "tensorflow_model_optimization")

from clusterability.errors import InputError  # noqa: E402
from clusterability.io.keras_files import load_keras_model_weights  # noqa: E402
from clusterability.io.npz import load_weights  # noqa: E402
from clusterability.train.config import TrainConfig  # noqa: E402
from clusterability.train.training import train_and_prune  # noqa: E402

pytestmark = pytest.mark.tf

# 256 training + 64 validation images, all trained on -> 10 steps of 32 per epoch; 2 pruning
# epochs = 20 steps, a multiple of the pruning frequency, so the last mask update hits end_step.
TINY = TrainConfig(
    epochs=1,
    prune_epochs=2,
    batch_size=32,
    pruning_frequency=4,
    widths=(64, 64),
)


def _tiny_data(seed: int = 0) -> dict[str, np.ndarray]:
    """Two classes of noise images: a bright left half (class 1) or right half (class 0)."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", 256), ("val", 64), ("test", 64)):
        y = rng.integers(0, 2, n).astype(np.uint8)
        x = rng.integers(0, 80, (n, 28, 28)).astype(np.uint8)
        x[y == 1, :, :14] += 150
        x[y == 0, :, 14:] += 150
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    return out


def _run(tmp_path, name: str, config: TrainConfig = TINY, seed: int = 1) -> dict:
    folder = tmp_path / name
    paths = {
        "out_model": folder / "model.keras",
        "out_weights_unpruned": folder / "unpruned.npz",
        "out_weights_pruned": folder / "pruned.npz",
        "out_metrics": folder / "metrics.json",
    }
    metrics = train_and_prune(_tiny_data(), config, seed=seed, threads=1, **paths)
    return {"metrics": metrics, **paths}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("training")
    return {
        "a": _run(tmp, "a"),
        "a_again": _run(tmp, "a_again"),
        "other_seed": _run(tmp, "other_seed", seed=2),
    }


def test_accuracy_above_chance(runs):
    m = runs["a"]["metrics"]
    for phase in ("unpruned", "pruned"):
        assert m[phase]["train_acc"] > 0.8, m[phase]
        assert m[phase]["test_acc"] > 0.8, m[phase]


def test_final_sparsity_reaches_target(runs):
    m = runs["a"]["metrics"]
    assert m["pruning"]["end_step"] == 20
    assert m["pruning"]["last_mask_update_step"] == 20
    pruned = load_weights(runs["a"]["out_weights_pruned"])
    for kernel in pruned.kernels:
        assert abs(np.mean(kernel == 0) - TINY.final_sparsity) < 0.02
    assert m["sparsity"]["pruned"] == pytest.approx([float(np.mean(k == 0)) for k in pruned.kernels])


def test_unpruned_weights_are_dense_and_chain(runs):
    unpruned = load_weights(runs["a"]["out_weights_unpruned"])
    pruned = load_weights(runs["a"]["out_weights_pruned"])
    assert [k.shape for k in unpruned.kernels] == [(784, 64), (64, 64), (64, 10)]
    assert [k.shape for k in pruned.kernels] == [k.shape for k in unpruned.kernels]
    assert all(b is not None and b.shape == (k.shape[1],) for k, b in zip(unpruned.kernels, unpruned.biases))
    for kernel in unpruned.kernels:
        assert np.mean(kernel == 0) < 0.01
    assert unpruned.layer_widths() == [784, 64, 64, 10]


def test_same_seed_gives_identical_files(runs):
    for key in ("out_weights_unpruned", "out_weights_pruned"):
        a, b = runs["a"][key], runs["a_again"][key]
        assert a.read_bytes() == b.read_bytes()
        for ka, kb in zip(load_weights(a).kernels, load_weights(b).kernels):
            np.testing.assert_array_equal(ka, kb)


def test_other_seed_gives_other_weights(runs):
    a = load_weights(runs["a"]["out_weights_pruned"])
    c = load_weights(runs["other_seed"]["out_weights_pruned"])
    assert not np.array_equal(a.kernels[0], c.kernels[0])


def test_metrics_json(runs):
    on_disk = json.loads(runs["a"]["out_metrics"].read_text())
    expected = {
        "seed", "threads", "config", "input_shape", "n_train", "n_val", "n_test",
        "unpruned", "pruned", "sparsity", "pruning", "epochs_run", "history",
        "wall_seconds", "device", "versions", "weight_shapes",
    }  # fmt: skip
    assert expected <= set(on_disk)
    assert on_disk["seed"] == 1 and on_disk["threads"] == 1
    assert on_disk["config"] == TINY.to_dict()
    # The validation images are trained on (the papers train on the whole training set).
    assert (on_disk["n_train"], on_disk["n_val"], on_disk["n_test"]) == (256 + 64, 64, 64)
    assert on_disk["pruning"]["steps_per_epoch"] == 10  # ceil(320 / 32)
    for phase in ("unpruned", "pruned"):
        assert set(on_disk[phase]) == {
            "train_acc", "train_acc_eval", "test_acc", "train_loss", "train_loss_eval", "test_loss"
        }  # fmt: skip
    assert on_disk["epochs_run"] == {"train": 1, "prune": 2}
    assert len(on_disk["history"]["prune"]["loss"]) == 2
    assert set(on_disk["versions"]) == {"tensorflow", "tf_keras", "tfmot", "numpy"}
    assert on_disk["wall_seconds"]["total"] > 0


def test_epochs_run_counts_the_epochs_keras_ran():
    """``epochs_run`` is what Keras' ``History`` records, not the config: a phase stopped after its first
    epoch ran one (workflow/costs.py divides the phase's wall time by it); a phase of 0 epochs runs none."""
    from clusterability.train.runtime import import_tf
    from clusterability.train.training import (
        FitInputs,
        PhaseRun,
        _check_data,
        build_network,
        fit_phase,
        training_images,
    )

    tf, keras, _ = import_tf(threads=1, seed=0)
    config = TrainConfig(epochs=3, prune_epochs=0, batch_size=64, widths=(8,), n_classes=2)
    x, y = training_images(_check_data(_tiny_data(), config.n_classes, regression=False))
    model, tags = build_network(keras, config, x.shape[1:], 2, False, model_seed=0, init_seed=1)
    assert tags is None  # no clusterable initialization

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.model.stop_training = True

    fitting = FitInputs(tf=tf, keras=keras, x=x, y=y, config=config, seed=0)
    run = fit_phase(fitting, model, "train", config.epochs, [StopAfterFirstEpoch()])
    assert run.epochs_run == 1 and len(run.history["loss"]) == 1 and run.eigenvalue_sums is None
    assert fit_phase(fitting, model, "train", 0) == PhaseRun(history={}, epochs_run=0)


def test_keras_model_round_trip(runs):
    from_model = load_keras_model_weights(runs["a"]["out_model"])
    from_npz = load_weights(runs["a"]["out_weights_pruned"])
    assert from_model.n_layers == from_npz.n_layers
    for a, b in zip(from_model.kernels, from_npz.kernels):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(from_model.biases, from_npz.biases):
        np.testing.assert_array_equal(a, b)


def test_train_acc_is_the_last_epochs_and_train_acc_eval_the_evaluation(runs, tmp_path):
    """``train_acc``/``train_loss``: Keras' training metrics of the phase's last epoch (P1's "Train acc.");
    ``train_*_eval``: the final network evaluated on every training image (validation split included)."""
    from clusterability.train.models import build_mlp

    m = runs["a"]["metrics"]
    for stage, phase in (("unpruned", "train"), ("pruned", "prune")):
        assert m[stage]["train_acc"] == m["history"][phase]["accuracy"][-1]
        assert m[stage]["train_loss"] == m["history"][phase]["loss"][-1]
    pruned = load_weights(runs["a"]["out_weights_pruned"])
    model = build_mlp(widths=TINY.widths, seed=0)
    model.set_weights([array for pair in zip(pruned.kernels, pruned.biases) for array in pair])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    data = _tiny_data()
    x = np.concatenate([data["x_train"], data["x_val"]]).astype(np.float32) / 255
    y = np.concatenate([data["y_train"], data["y_val"]])
    result = model.evaluate(x, y, batch_size=1024, verbose=0, return_dict=True)
    assert m["pruned"]["train_acc_eval"] == pytest.approx(result["accuracy"])
    assert m["pruned"]["train_loss_eval"] == pytest.approx(result["loss"], rel=1e-5)


def test_no_pruning_phase_and_dropout(tmp_path):
    config = TrainConfig(epochs=2, prune_epochs=0, batch_size=64, widths=(16,), n_classes=2, dropout=0.5)
    run = _run(tmp_path, "dropout", config=config)
    unpruned = load_weights(run["out_weights_unpruned"])
    pruned = load_weights(run["out_weights_pruned"])
    for a, b in zip(unpruned.kernels, pruned.kernels):
        np.testing.assert_array_equal(a, b)
    m = run["metrics"]
    assert m["pruning"]["end_step"] == 0
    assert m["history"]["prune"] == {}
    # Without a pruning phase the pruned network is the trained one: its last epoch is the training phase's.
    for stage in ("unpruned", "pruned"):
        assert m[stage]["train_acc"] == m["history"]["train"]["accuracy"][-1]
        assert m[stage]["train_acc_eval"] == m["unpruned"]["train_acc_eval"]
    # Dropout on while training (half the neurons gone), off in evaluation: two different numbers.
    assert m["unpruned"]["train_acc"] != m["unpruned"]["train_acc_eval"]


def test_untrained_network_has_no_training_accuracy(tmp_path):
    """P1 figure 3's freshly initialized networks: no epoch, so no "Train acc."; the evaluation is there."""
    config = TrainConfig(epochs=0, prune_epochs=0, widths=(16,), n_classes=2)
    m = train_and_prune(_tiny_data(), config, seed=0, threads=1)
    for stage in ("unpruned", "pruned"):
        assert m[stage]["train_acc"] is None and m[stage]["train_loss"] is None
        assert 0 <= m[stage]["train_acc_eval"] <= 1 and m[stage]["test_acc"] is not None


def test_config_trains_cifar10_for_the_epochs_that_reproduce_p1():
    """CIFAR-10 with dropout trains 100 + 40 epochs and the mixtures containing CIFAR-10 30 + 40 (the
    authors' code; P1's Table A.13 needs them: docs/reproducibility.md); CIFAR-10 without dropout 20 + 40."""
    from pathlib import Path

    import yaml

    from clusterability.workflow.config import load_config

    repo = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((repo / "config.yaml").read_text())
    families = load_config(config, repo / "schemas/config.schema.yaml", paths=False)[1].families

    def epochs(name: str) -> tuple[int, int]:
        return families[name].train.epochs, families[name].train.prune_epochs

    assert epochs("cifar10_dropout") == (100, 40) and epochs("cifar10_plain") == (20, 40)
    for mixture in ("lines_cifar10", "mnist_cifar10", "lines_cifar10_sep", "mnist_cifar10_sep"):
        assert epochs(f"{mixture}_plain") == epochs(f"{mixture}_dropout") == (30, 40)
    assert epochs("mnist_dropout") == epochs("lines_mnist_dropout") == epochs("fashion_mnist_plain") == (20, 20)
    assert families["cifar10_dropout"].seed_names == ("cifar10", "dropout")  # P1's seeds, not a new family's


def test_training_images_are_the_training_and_validation_splits():
    """The papers train on all 60,000 (50,000) training images: the validation split follows the training split."""
    from clusterability.train.training import _check_data, training_images

    data = _tiny_data()
    x, y = training_images(_check_data(data, 10, regression=False))
    assert x.shape == (320, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(y, np.concatenate([data["y_train"], data["y_val"]]))
    np.testing.assert_array_equal(x[256:], data["x_val"].astype(np.float32) / 255)  # order kept (no shuffle)
    empty = {**data, "x_val": data["x_val"][:0], "y_val": data["y_val"][:0]}
    x, y = training_images(_check_data(empty, 10, regression=False))
    assert len(x) == len(y) == 256
    # Hostile: a validation split of other images, or with a label count that does not match, is refused.
    with pytest.raises(InputError, match="different image shapes"):
        _check_data({**data, "x_val": np.zeros((64, 7, 7), np.uint8)}, 10, regression=False)
    with pytest.raises(InputError, match="x_val has 64 rows but y_val has 3"):
        _check_data({**data, "y_val": data["y_val"][:3]}, 10, regression=False)


def test_dropout_layers_and_regularizers():
    from clusterability.train.models import build_mlp

    model = build_mlp(widths=(8, 8, 8), dropout=0.5, l1=5e-5, seed=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", "Dense", "Dropout", "Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert all(layer.rate == 0.5 for layer in model.layers if type(layer).__name__ == "Dropout")
    assert all(layer.kernel_regularizer is not None for layer in model.layers if type(layer).__name__ == "Dense")
    plain = build_mlp(widths=(8, 8), seed=0)
    assert [type(layer).__name__ for layer in plain.layers] == ["Flatten", "Dense", "Dense", "Dense"]
    assert plain.layers[1].kernel_regularizer is None
    assert model.output_shape == (None, 10)


def _penalties(model) -> list[tuple[str, str | None, float]]:
    """Each dense layer's name, regularizer class and its penalty on the layer's kernel."""
    out = []
    for layer in model.layers:
        if type(layer).__name__ == "Dense":
            reg = layer.kernel_regularizer
            out.append((layer.name, type(reg).__name__ if reg else None, float(reg(layer.kernel)) if reg else 0.0))
    return out


def test_l2_mlps_first_layer_carries_l1_as_the_authors_code():
    """P2's "L2" MLPs as the authors' code built them (CL create_mlp_layers): the first dense layer's
    kernel penalized by ``l1(w)``, the others by ``l2(w)``; without the switch every layer by L2; the L1
    and plain regimes as before. The penalties are recomputed from the kernels."""
    from clusterability.train.models import build_mlp

    w = 5e-5
    authors = build_mlp(widths=(8, 8, 8), l2=w, first_layer_l1=True, seed=0)
    kernels = {layer.name: layer.kernel.numpy() for layer in authors.layers if type(layer).__name__ == "Dense"}
    penalties = _penalties(authors)
    assert [(name, kind) for name, kind, _ in penalties] == [
        ("dense_0", "L1"),
        ("dense_1", "L2"),
        ("dense_2", "L2"),
        ("output", "L2"),
    ]
    for name, kind, value in penalties:
        expected = w * (np.abs(kernels[name]).sum() if kind == "L1" else np.square(kernels[name]).sum())
        assert value == pytest.approx(expected, rel=1e-5), name
    assert float(sum(authors.losses)) == pytest.approx(sum(v for _, _, v in penalties), rel=1e-5)

    papers = build_mlp(widths=(8, 8, 8), l2=w, seed=0)
    assert {kind for _, kind, _ in _penalties(papers)} == {"L2"}
    assert [v for _, _, v in _penalties(papers)][1:] == pytest.approx([v for _, _, v in penalties][1:])
    assert {kind for _, kind, _ in _penalties(build_mlp(widths=(8, 8), l1=w, seed=0))} == {"L1"}
    assert {kind for _, kind, _ in _penalties(build_mlp(widths=(8, 8), seed=0))} == {None}
    with pytest.raises(InputError, match="first_layer_l1 is for L2 networks"):
        build_mlp(widths=(8, 8), l1=w, first_layer_l1=True, seed=0)


def test_the_first_layer_switch_reaches_the_built_network():
    """``TrainConfig.first_layer_l1`` builds the authors' first layer; it is for L2 MLPs only and is left
    out of the job's parameters when off (the other families' networks stay valid)."""
    from clusterability.train.runtime import import_tf
    from clusterability.train.training import build_network

    _, keras, _ = import_tf()
    config = TrainConfig(widths=(8, 8), l2=5e-5, first_layer_l1=True, epochs=1)
    model, _ = build_network(keras, config, (28, 28), 10, False, model_seed=0, init_seed=0)
    assert [kind for _, kind, _ in _penalties(model)] == ["L1", "L2", "L2"]
    assert config.to_dict()["first_layer_l1"] is True
    assert "first_layer_l1" not in TrainConfig(l2=5e-5).to_dict()
    for bad in ({"l2": 0.0}, {"l1": 5e-5}, {"architecture": "small_cnn", "widths": (8, 8)}):
        with pytest.raises(InputError, match="first_layer_l1 .* is for L2 MLPs"):
            TrainConfig(**{"l2": 5e-5, "first_layer_l1": True, **bad})


def test_initialization_depends_on_seed_only():
    from clusterability.train.models import build_mlp

    a = build_mlp(widths=(8,), seed=3).get_weights()
    b = build_mlp(widths=(8,), seed=3).get_weights()
    c = build_mlp(widths=(8,), seed=4).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_bad_inputs_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="final_sparsity"):
        TrainConfig(final_sparsity=1.5)
    with pytest.raises(InputError, match="unknown key"):
        TrainConfig.from_dict({"epocs": 3})
    with pytest.raises(InputError, match="shuffle"):
        TrainConfig.from_dict({"shuffle": "no"})
    assert TrainConfig.from_dict({"learning_rate": "1e-3", "widths": [8, 8]}).widths == (8, 8)
    data = _tiny_data()
    data["y_train"] = data["y_train"] + 10  # labels outside 0..9
    with pytest.raises(InputError, match="y_train"):
        train_and_prune(data, TINY, seed=0, threads=1)
    with pytest.raises(InputError, match="no such Keras model"):
        load_keras_model_weights(tmp_path / "missing.keras")


def test_importing_the_package_does_not_import_tensorflow():
    code = (
        "import sys, clusterability, clusterability.io.npz, clusterability.train.training, "
        "clusterability.train.models, clusterability.train.runtime; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tfmot_is_imported_without_keras_3():
    """import_tf leaves Keras 3 unloaded (tfmot's failed probe for it cost seconds) and tfmot as before."""
    code = (
        "import sys\n"
        "from clusterability.train.runtime import import_tf\n"
        "tf, keras, tfmot = import_tf(threads=1)\n"
        "from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry\n"
        "assert 'keras' not in sys.modules, sorted(m for m in sys.modules if m.startswith('keras'))\n"
        "assert prune_registry.base_layer is None  # as when tfmot's probe of Keras 3 fails by itself\n"
        "assert keras.__name__ == 'tf_keras' and callable(tfmot.sparsity.keras.prune_low_magnitude)\n"
        "import keras as keras3  # the blocker is gone: a user's own Keras import still works\n"
        "assert keras3.__version__.startswith('3.')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_keras_conv_batchnorm_model_weights(tmp_path):
    from clusterability.train.runtime import import_tf

    _, keras, _ = import_tf(seed=0)
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 2)),
            keras.layers.Conv2D(4, 3, name="c0"),
            keras.layers.BatchNormalization(epsilon=1e-3, name="bn0"),
            keras.layers.ReLU(),
            keras.layers.Conv2D(5, 3, use_bias=False, name="c1"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(3, name="d"),
        ]
    )
    bn = model.get_layer("bn0")
    bn.moving_variance.assign(np.arange(1.0, 5.0, dtype=np.float32))
    for suffix in (".keras", ".h5"):
        path = tmp_path / f"cnn{suffix}"
        model.save(path)
        weights = load_keras_model_weights(path)
        assert [k.shape for k in weights.kernels] == [(3, 3, 2, 4), (3, 3, 4, 5), (80, 3)]
        assert weights.kind == "cnn"
        assert weights.biases[1] is None
        assert weights.batch_norms[0] is not None and weights.batch_norms[1] is None
        np.testing.assert_allclose(weights.batch_norms[0].moving_variance, [1, 2, 3, 4])
        assert weights.batch_norms[0].epsilon == pytest.approx(1e-3)
        np.testing.assert_array_equal(weights.kernels[0], model.get_layer("c0").kernel.numpy())


def test_cli_reads_a_saved_keras_model(runs, tmp_path):
    """`clusterability ncut model.keras` gives the same result as the exported .npz."""
    import json

    from clusterability.cli import main

    model = runs["a"]["out_model"]
    npz = runs["a"]["out_weights_pruned"]
    for source, out in ((model, tmp_path / "from_model.json"), (npz, tmp_path / "from_npz.json")):
        assert main(["ncut", str(source), "--k", "3", "--shuffles", "2", "--json", str(out)]) == 0
    a = json.loads((tmp_path / "from_model.json").read_text())
    b = json.loads((tmp_path / "from_npz.json").read_text())
    assert a["ncut"] == b["ncut"] and a["labels"] == b["labels"] and a["shuffle_ncuts"] == b["shuffle_ncuts"]


def test_regression_trains_linear_outputs_with_mse(tmp_path):
    """P2 A.7: a regression dataset gives linear outputs, one per target, an MSE loss and MSE metrics."""
    from clusterability.data.synthetic import synthetic_split
    from clusterability.seeds import generator

    data = {"task": "regression"}
    for split, n in (("train", 1024), ("val", 64), ("test", 256)):
        data[f"x_{split}"], data[f"y_{split}"] = synthetic_split("polynomial", n, generator(0, split))
    config = TrainConfig(epochs=8, prune_epochs=2, batch_size=64, pruning_frequency=4, widths=(32, 32))
    metrics = train_and_prune(data, config, seed=1, threads=1, out_weights_pruned=tmp_path / "w.npz")
    assert metrics["task"] == "regression" and metrics["weight_shapes"][-1] == [32, 512]
    for stage, phase in (("unpruned", "train"), ("pruned", "prune")):
        assert metrics[stage]["test_acc"] is None and metrics[stage]["test_mse"] > 0
        # No regularization: the loss is the mean squared error itself.
        assert metrics[stage]["test_loss"] == pytest.approx(metrics[stage]["test_mse"], rel=1e-5)
        # P2 Table A.19's "Train loss": Keras' loss of the phase's last epoch; the evaluation apart.
        assert metrics[stage]["train_loss"] == metrics["history"][phase]["loss"][-1]
        assert metrics[stage]["train_mse"] == metrics["history"][phase]["mse"][-1]
        assert metrics[stage]["train_mse_eval"] > 0 and "train_acc" not in metrics[stage]
    # Better than predicting the targets' mean: the network learnt something (before 90 % pruning
    # of so small a network undoes much of it).
    baseline = float(np.mean((data["y_test"] - data["y_train"].mean(axis=0)) ** 2))
    assert metrics["unpruned"]["test_mse"] < 0.8 * baseline
    assert metrics["sparsity"]["pruned_total"] == pytest.approx(0.9, abs=0.01)
    assert load_weights(tmp_path / "w.npz").kernels[0].shape == (2, 32)


# --- P2's CNNs ------------------------------------------------------------------------------


def _layer_kinds(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


#: The authors' VGG (CL ``src/cnn/__init__.py`` ``CNN_VGG_MODEL_PARAMS``, HEAD 7260208): per convolution,
#: whether it is pooled and its dropout rate (``None``: no ``dropout_after``).
AUTHORS_VGG_CONVS = (
    (False, 0.3), (True, None), (False, 0.4), (True, None), (False, 0.4), (False, 0.4), (True, None),
    (False, 0.4), (False, 0.4), (True, None), (False, 0.4), (False, 0.4), (True, 0.5),
)  # fmt: skip


def _authors_vgg_kinds(with_dropout: bool) -> list[str]:
    """The layer kinds ``create_cnn_layers`` builds from ``CNN_VGG_MODEL_PARAMS`` (its Dropout(0.0) after the
    second dense layer, an identity, left out)."""
    kinds = []
    for pooled, rate in AUTHORS_VGG_CONVS:
        kinds += ["Conv2D", *(["MaxPooling2D"] if pooled else []), "BatchNormalization"]
        kinds += ["Dropout"] if with_dropout and rate else []
    return [*kinds, "Flatten", "Dense", "BatchNormalization", *(["Dropout"] if with_dropout else []), "Dense", "Dense"]


def test_small_cnn_and_vgg_layers() -> None:
    """P2 A.2: the small CNN pools after its 2nd and 3rd convolutions, dropout after every convolution (after
    its pooling: P2 section 3's "0.25 for convolutional layers", the authors' create_cnn_layers);
    VGG-16 has 13 convolutions in blocks of 2, 2, 3, 3, 3, in the authors' order: Conv2D(relu) -> pooling ->
    batch norm -> dropout, then Dense(relu) -> batch norm -> dropout -> Dense(relu) -> output."""
    from clusterability.train.models import _layer_seed, build_model, vgg_pools

    cnn = build_model(
        "small_cnn", input_shape=(28, 28), widths=(4, 4, 4), dense_widths=(8,), dropout=0.5, conv_dropout=0.25, seed=0
    )
    assert _layer_kinds(cnn) == [
        "Reshape", "Conv2D", "Dropout", "Conv2D", "MaxPooling2D", "Dropout", "Conv2D", "MaxPooling2D", "Dropout",
        "Flatten", "Dense", "Dropout", "Dense",
    ]  # fmt: skip
    assert cnn.get_layer("dropout_0").rate == 0.5
    assert [cnn.get_layer(f"conv_dropout_{i}").rate for i in range(3)] == [0.25] * 3
    assert cnn.output_shape == (None, 10)
    assert vgg_pools(13) == (1, 3, 6, 9, 12)
    assert vgg_pools(13) == tuple(i for i, (pooled, _) in enumerate(AUTHORS_VGG_CONVS) if pooled)
    vggs = {}
    for dropout, conv_dropout, l2 in ((0.5, 0.4, 5e-4), (0.0, 0.0, 0.0)):
        vgg = vggs[dropout] = build_model(
            "vgg", input_shape=(32, 32, 3), widths=(2,) * 13, dense_widths=(4, 4), dropout=dropout,
            conv_dropout=conv_dropout, l2=l2, seed=0,
        )  # fmt: skip
        assert _layer_kinds(vgg) == _authors_vgg_kinds(with_dropout=dropout > 0)
        kernels = [layer for layer in vgg.layers if type(layer).__name__ in ("Conv2D", "Dense")]
        assert [k.name for k in kernels] == [*(f"conv_{i}" for i in range(13)), "dense_0", "dense_1", "output"]
        assert [k.activation.__name__ for k in kernels] == ["relu"] * 15 + ["softmax"]
        # create_cnn_layers: the regularizer on every convolution, dense layer and the output.
        assert all((k.kernel_regularizer is not None) == (l2 > 0) for k in kernels)
        assert [k.kernel_initializer.seed for k in kernels] == [_layer_seed(0, "kernel", i) for i in range(16)]
    # Liu & Deng (and the authors' code): 0.3 after the first convolution, 0.4 after the others not pooled,
    # 0.5 after the last block's batch norm and after the first dense layer's; seeds named as before.
    dropouts = [layer for layer in vggs[0.5].layers if type(layer).__name__ == "Dropout"]
    code = {f"conv_dropout_{i}": r for i, (pooled, r) in enumerate(AUTHORS_VGG_CONVS) if r and not pooled}
    assert {layer.name: layer.rate for layer in dropouts} == {**code, "dropout_conv": 0.5, "dropout_0": 0.5}
    seeds = {f"conv_dropout_{i}": _layer_seed(0, "conv_dropout", i) for i in range(13)}
    seeds |= {"dropout_conv": _layer_seed(0, "dropout", "conv"), "dropout_0": _layer_seed(0, "dropout", 0)}
    assert all(layer.seed == seeds[layer.name] for layer in dropouts)
    with pytest.raises(InputError, match="dense_widths and conv_dropout are for convolutional"):
        TrainConfig(dense_widths=(8,))
    # The builders take keyword arguments only: no call can swap two settings by position.
    from clusterability.train.models import build_mlp, build_small_cnn, build_vgg

    for builder in (build_mlp, build_small_cnn, build_vgg):
        with pytest.raises(TypeError, match="positional"):
            builder((28, 28), seed=0)


def test_vgg_conv_dropout_rates() -> None:
    """VGG's first convolution gets Liu & Deng's 0.3, never more than the others; no dropout stays none."""
    from clusterability.train.models import build_model, vgg_conv_dropout

    assert vgg_conv_dropout(0.4, 13) == (0.3,) + (0.4,) * 12
    assert vgg_conv_dropout(0.2, 3) == (0.2, 0.2, 0.2) and vgg_conv_dropout(0.0, 2) == (0.0, 0.0)
    assert vgg_conv_dropout(0.4, 0) == ()
    plain = build_model("vgg", input_shape=(32, 32, 3), widths=(2,) * 4, dense_widths=(4,), seed=0)
    assert "Dropout" not in _layer_kinds(plain)
    # Hostile: a rate outside [0, 1) is refused with the key's name.
    with pytest.raises(InputError, match="conv_dropout must be in"):
        build_model("vgg", input_shape=(32, 32, 3), widths=(2,) * 4, conv_dropout=1.0, seed=0)


def test_vgg_batch_norm_folds_exactly_into_the_convolution_before_it() -> None:
    """In the authors' order (Conv2D(relu) -> pooling -> batch norm) a batch norm with positive gammas still
    folds into the convolution it follows, so the graph's fold (``core.build``: output channel o's slices
    times ``gamma_o / sqrt(var_o + eps)``) is the network's: relu and max-pooling commute with a positive
    per-channel factor, and the batch norm left is a shift. The network computes the same after the fold."""
    from clusterability.train.models import build_model

    vgg = build_model("vgg", input_shape=(32, 32, 3), widths=(4,) * 4, dense_widths=(16, 16), seed=0)
    rng = np.random.default_rng(0)
    for bn in (layer for layer in vgg.layers if type(layer).__name__ == "BatchNormalization"):
        n = bn.gamma.shape[0]
        shifts = 0.1 * rng.normal(size=(2, n))  # beta, moving mean: small, so that some dense units stay alive
        bn.set_weights([rng.uniform(0.2, 3.0, n), *shifts, rng.uniform(0.1, 4.0, n)])
    x = rng.uniform(0, 1, (8, 32, 32, 3)).astype(np.float32)
    before = vgg(x, training=False).numpy()
    assert before.std(axis=0).max() > 1e-3  # the outputs depend on the images (no dead layer)
    for i in range(4):
        conv, bn = vgg.get_layer(f"conv_{i}"), vgg.get_layer(f"conv_bn_{i}")
        gamma, beta, mean, var = bn.get_weights()
        scale = gamma / np.sqrt(var + bn.epsilon)
        kernel, bias = conv.get_weights()
        conv.set_weights([kernel * scale, bias * scale])
        bn.set_weights([np.ones_like(gamma), beta, mean * scale, np.full_like(var, 1 - bn.epsilon)])
    np.testing.assert_allclose(vgg(x, training=False).numpy(), before, rtol=0, atol=1e-6)


def _image_data(shape: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", 64), ("val", 16), ("test", 16)):
        out[f"x_{split}"] = rng.integers(0, 256, (n, *shape)).astype(np.uint8)
        out[f"y_{split}"] = rng.integers(0, 10, n).astype(np.uint8)
    return out


def test_vgg_with_augmentation_trains_deterministically_and_keeps_batch_norm(tmp_path) -> None:
    """A narrow VGG on 32x32 RGB images with augmentation: the same seed gives the same weights;
    the kernels come out 4-d with their batch norms, and the channel graph
    has one node per channel (the first convolution's channels have no input edges)."""
    from clusterability.core.build import conv_slice_norms, network_graph

    config = TrainConfig(
        epochs=1, prune_epochs=1, batch_size=16, pruning_frequency=1, architecture="vgg", widths=(3,) * 13,
        dense_widths=(4, 4), dropout=0.5, conv_dropout=0.4, l2=5e-4, augment=True,
    )  # fmt: skip
    data = _image_data((32, 32, 3))
    runs = []
    for name in ("a", "b"):
        train_and_prune(data, config, seed=1, threads=1, out_weights_pruned=tmp_path / f"{name}.npz")
        runs.append(load_weights(tmp_path / f"{name}.npz"))
    a, b = runs
    for ka, kb in zip(a.kernels, b.kernels):
        np.testing.assert_array_equal(ka, kb)
    assert [k.ndim for k in a.kernels] == [4] * 13 + [2, 2, 2]
    # Each batch norm, after its convolution's pooling (the authors' order), is read as that convolution's;
    # the first dense layer's too, the second dense layer and the output have none.
    assert all(bn is not None for bn in a.batch_norms[:14]) and a.batch_norms[14:] == (None, None)
    assert 0.85 < float(np.mean(a.kernels[5] == 0)) < 0.95  # pruned like every kernel
    graph = network_graph(a)
    assert graph.layer_sizes == (3,) * 13
    # Folded into the convolution it follows (output channels), as the authors' extractor.py meant to.
    for i, block in enumerate(graph.blocks, start=1):
        np.testing.assert_allclose(block, conv_slice_norms(a.kernels[i] * a.batch_norms[i].scale(), "l1"))


def test_small_cnn_on_two_channel_images(tmp_path) -> None:
    """The stack datasets' (28, 28, 2) images train the small CNN; its metrics record the CNN settings."""
    config = TrainConfig(
        epochs=1, prune_epochs=0, batch_size=16, architecture="small_cnn", widths=(4, 4, 4), dense_widths=(8,)
    )
    metrics = train_and_prune(_image_data((28, 28, 2)), config, seed=0, threads=1)
    assert metrics["weight_shapes"][:3] == [[3, 3, 2, 4], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert metrics["weight_shapes"][3] == [7 * 7 * 4, 8]
    assert metrics["config"]["dense_widths"] == [8] and "augment" not in metrics["config"]


# --- the fixed cost of a training job (issue 22) --------------------------------------------


def test_each_step_is_traced_once() -> None:
    """Adam's moments and the metrics exist before the first step (create_step_variables), so ``fit`` and
    ``evaluate`` trace their steps once, not twice (a second trace for the variables the first one created)."""
    from clusterability.train.runtime import import_tf
    from clusterability.train.training import (
        FitInputs,
        _check_data,
        _evaluate,
        build_network,
        fit_phase,
        training_images,
    )

    tf, keras, _ = import_tf(threads=1, seed=0)
    config = TrainConfig(epochs=1, prune_epochs=0, batch_size=64, widths=(8,), n_classes=2, dropout=0.5)
    splits = _check_data(_tiny_data(), config.n_classes, regression=False)
    x, y = training_images(splits)
    model, _ = build_network(keras, config, x.shape[1:], 2, False, model_seed=0, init_seed=1)
    fit_phase(FitInputs(tf=tf, keras=keras, x=x, y=y, config=config, seed=0), model, "train", 1)
    assert model.train_function.experimental_get_tracing_count() == 1
    _evaluate(model, {"train": (x, y), "test": splits["test"]}, regression=False)
    assert model.test_function.experimental_get_tracing_count() == 1
    # A network that never trains: no optimizer moments, and its evaluation traced once too.
    untrained, _ = build_network(
        keras, TrainConfig(epochs=0, widths=(8,), n_classes=2), x.shape[1:], 2, False, model_seed=0, init_seed=1
    )
    assert [v.name for v in untrained.optimizer.variables] == ["iteration:0"]  # no moments
    _evaluate(untrained, {"test": splits["test"]}, regression=False)
    assert untrained.test_function.experimental_get_tracing_count() == 1


@pytest.mark.parametrize(
    "config",
    [
        TrainConfig(epochs=2, prune_epochs=2, batch_size=32, pruning_frequency=4, widths=(32, 32), dropout=0.5),
        TrainConfig(
            epochs=1, prune_epochs=1, batch_size=32, pruning_frequency=3, architecture="small_cnn", widths=(4, 4, 4),
            dense_widths=(8,), dropout=0.5, conv_dropout=0.25,
        ),
        TrainConfig(epochs=0, prune_epochs=0, widths=(16,), n_classes=2),
    ],
    ids=["mlp_dropout", "small_cnn_dropout", "untrained"],
)  # fmt: skip
def test_one_trace_trains_the_networks_of_two(tmp_path, monkeypatch, config: TrainConfig) -> None:
    """Before create_step_variables every first ``fit`` traced its step twice and ran the second trace, whose
    dropout masks came from the next seed (skip_first_trace_seeds keeps them): the same weights, metrics and
    saved model as that, bit for bit (dropout networks and one never trained, saved without Adam's moments)."""
    import zipfile

    import clusterability.train.training as training

    def outputs(name: str) -> tuple[dict, list[np.ndarray], set[str]]:
        run = _run(tmp_path, name, config=config)
        del run["metrics"]["wall_seconds"]
        kernels = list(load_weights(run["out_weights_unpruned"]).kernels) + list(
            load_weights(run["out_weights_pruned"]).kernels
        )
        with zipfile.ZipFile(run["out_model"]) as archive:
            stored = set(archive.namelist()) | {f"{len(archive.read('model.weights.h5'))} bytes of weights"}
        return run["metrics"], kernels, stored

    ours = outputs("one_trace")
    with monkeypatch.context() as patched:  # the variables created in the first step: two traces
        patched.setattr(training, "create_step_variables", lambda *args, **kwargs: None)
        patched.setattr(training, "skip_first_trace_seeds", lambda model: None)
        theirs = outputs("two_traces")
    assert ours[0] == theirs[0]
    for a, b in zip(ours[1], theirs[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert ours[2] == theirs[2]


def test_tensorflow_import_pauses_and_freezes_the_garbage_collector() -> None:
    """TensorFlow's objects are frozen after its first import (no full collection walks them again, the last one
    at exit included), and the collector is left as it was: on, or off when the caller turned it off."""
    code = (
        "import gc\n"
        "from clusterability.train.runtime import import_tf\n"
        "import_tf(threads=1)\n"
        "assert gc.get_freeze_count() > 100_000 and gc.isenabled(), gc.get_freeze_count()\n"
        "frozen = gc.get_freeze_count()\n"
        "gc.disable()\n"
        "import_tf(threads=1)\n"
        "assert gc.get_freeze_count() == frozen and not gc.isenabled()  # once per process\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


_TRAIN_IN_A_PROCESS = """
import json, sys
import numpy as np
from clusterability.train.config import TrainConfig
from clusterability.train.runs import RunFiles, train_runs

folder, config, seeds = sys.argv[1], TrainConfig.from_dict(json.loads(sys.argv[2])), json.loads(sys.argv[3])
data = dict(np.load(folder + "/data.npz"))
runs = [
    RunFiles(seed, *(f"{folder}/{seed}/{name}" for name in ("model.keras", "unpruned.npz", "pruned.npz", "m.json")))
    for seed in seeds
]
train_runs(data, config, runs, threads=1)
"""


def test_runs_trained_in_one_process_equal_runs_trained_alone(tmp_path) -> None:
    """Issue 22 section 3: the second and third runs of one job (train_runs) equal the same runs each trained alone in a
    fresh process, bit for bit: weights, metrics (but wall seconds) and the saved model, layer names included; each
    keeps its own seed (dropout masks, data order) and its own pruning masks."""
    import zipfile

    config = TrainConfig(epochs=2, prune_epochs=2, batch_size=32, pruning_frequency=4, widths=(32, 32), dropout=0.5)
    np.savez(tmp_path / "data.npz", **_tiny_data())

    def train(folder, seeds: list[int]) -> None:
        folder.mkdir()
        (folder / "data.npz").write_bytes((tmp_path / "data.npz").read_bytes())
        for seed in seeds:
            (folder / str(seed)).mkdir()
        argv = [str(folder), json.dumps(config.to_dict()), json.dumps(seeds)]
        subprocess.run([sys.executable, "-c", _TRAIN_IN_A_PROCESS, *argv], check=True)

    def outputs(folder) -> tuple[dict, bytes, bytes, dict[str, bytes]]:
        metrics = json.loads((folder / "m.json").read_text())
        del metrics["wall_seconds"]
        with zipfile.ZipFile(folder / "model.keras") as archive:
            model = {name: archive.read(name) for name in archive.namelist() if name != "metadata.json"}
        return metrics, (folder / "unpruned.npz").read_bytes(), (folder / "pruned.npz").read_bytes(), model

    train(tmp_path / "shared", [7, 5, 6])
    for seed in (5, 6):
        train(tmp_path / f"alone{seed}", [seed])
        assert outputs(tmp_path / "shared" / str(seed)) == outputs(tmp_path / f"alone{seed}" / str(seed))
    shared = [load_weights(tmp_path / "shared" / str(seed) / "pruned.npz").kernels[0] for seed in (7, 5, 6)]
    assert not np.array_equal(shared[0], shared[1]) and not np.array_equal(shared[1], shared[2])
    assert all(abs(np.mean(k == 0) - config.final_sparsity) < 0.02 for k in shared)  # each pruned on its own
