"""Training and magnitude pruning of the papers' networks (P1 section 3, A.2).

:func:`train_and_prune` trains a network with Adam for ``epochs`` epochs, keeps
its weights (the *unpruned* network), then prunes every dense (and conv) kernel
with tfmot's ``prune_low_magnitude`` on a polynomial-decay schedule from
``initial_sparsity`` to ``final_sparsity`` over ``prune_epochs`` more epochs
(Zhu & Gupta 2017), and keeps the final weights (the *pruned* network). Both
weight sets are written in the :mod:`clusterability.weights` ``.npz`` format;
the stripped Keras model and a metrics JSON are written beside them. Every file
is written atomically.

Training is deterministic: the same data, config, seed and thread count give
the same weights (TensorFlow op determinism, seeded initializers, dropout and
shuffling; see :mod:`clusterability.tf_runtime`).

TensorFlow is imported lazily through :mod:`clusterability.tf_runtime`.

Metrics JSON (one object)
-------------------------
``seed``, ``derived_seeds`` ({tensorflow, model}), ``threads`` (requested)
    How the run was seeded and threaded.
``config``
    Every :class:`TrainConfig` field (``widths`` as a list).
``input_shape``, ``n_train``, ``n_val``, ``n_test``, ``weight_shapes``
    The data and the kernels' shapes.
``unpruned``, ``pruned``
    ``{train,val,test}_{acc,loss}`` just before pruning and at the end
    (``model.evaluate``: no dropout, regularization included in the loss;
    ``null`` for an empty split).
``sparsity``
    ``unpruned`` and ``pruned``: per-kernel fraction of exact zeros, in
    layer order; ``pruned_total``: over all kernels.
``pruning``
    ``end_step``, ``steps_per_epoch``, ``last_mask_update_step`` and the
    schedule's ``target_sparsity_at_last_update`` (``final_sparsity`` when
    ``end_step`` is a multiple of ``pruning_frequency``).
``epochs_run`` ({train, prune}), ``history`` ({train, prune}: Keras' per-epoch
``loss``/``accuracy``), ``wall_seconds`` ({train, prune, total}), ``device``
(:func:`clusterability.tf_runtime.device_summary`), ``versions``
(:func:`clusterability.tf_runtime.library_versions`).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_path, write_json
from .errors import InputError
from .seeds import derive_seed
from .weights import BatchNorm, NetworkWeights, save_weights

SPLITS = ("train", "val", "test")
_EVAL_BATCH = 1024
_MODEL_SUFFIXES = (".keras", ".h5")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run; defaults are the papers' MLP settings.

    ``epochs`` of Adam, then ``prune_epochs`` of pruning (0: no pruning phase,
    the pruned weights are the unpruned ones). The pruning schedule is tfmot's
    ``PolynomialDecay(initial_sparsity, final_sparsity, power=pruning_power,
    frequency=pruning_frequency, begin_step=0, end_step=<all pruning steps>)``.
    ``shuffle=False`` keeps the data order every epoch (the memorization runs).
    """

    epochs: int = 20
    prune_epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    initial_sparsity: float = 0.5
    final_sparsity: float = 0.9
    pruning_power: int = 3
    pruning_frequency: int = 10
    dropout: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    shuffle: bool = True
    architecture: str = "mlp"
    widths: tuple[int, ...] = (256, 256, 256, 256)
    n_classes: int = 10

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _coerce(f.name, getattr(self, f.name), f.default))
        checks = [
            ("epochs", self.epochs >= 0, "a non-negative integer"),
            ("prune_epochs", self.prune_epochs >= 0, "a non-negative integer"),
            ("batch_size", self.batch_size >= 1, "a positive integer"),
            ("learning_rate", self.learning_rate > 0, "positive"),
            ("initial_sparsity", 0 <= self.initial_sparsity < 1, "in [0, 1)"),
            ("final_sparsity", self.initial_sparsity <= self.final_sparsity < 1, "in [initial_sparsity, 1)"),
            ("pruning_power", self.pruning_power > 0, "positive"),
            ("pruning_frequency", self.pruning_frequency >= 1, "a positive integer"),
            ("dropout", 0 <= self.dropout < 1, "in [0, 1)"),
            ("l1", self.l1 >= 0, "non-negative"),
            ("l2", self.l2 >= 0, "non-negative"),
            (
                "widths",
                len(self.widths) > 0 and min(self.widths) >= 1,
                "a non-empty list of positive integers",
            ),
            ("n_classes", self.n_classes >= 2, "an integer >= 2"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise InputError(f"training config: {key} must be {expected}, got {getattr(self, key)!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from a mapping (e.g. the workflow's YAML); unknown keys are errors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"training config: unknown key {unknown[0]!r}; known keys are {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``widths`` as a list)."""
        out = asdict(self)
        out["widths"] = list(self.widths)
        return out


def _coerce(key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of the field's default (YAML may give "1e-3" as a string)."""
    try:
        if isinstance(default, bool):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError
            return bool(value)
        if isinstance(default, int):
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise TypeError
            return int(float(value))
        if isinstance(default, float):
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if isinstance(default, tuple):
            if isinstance(value, (str, bytes)):
                raise TypeError
            return tuple(_coerce(key, v, 1) for v in value)
        if isinstance(default, str):
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError, InputError):
        raise InputError(
            f"training config: {key} must be of type {type(default).__name__}, got {value!r}"
        ) from None
    return value


# --------------------------------------------------------------------------- data


def _check_data(data: dict[str, np.ndarray], n_classes: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Validate the splits and return ``{split: (x scaled to [0,1] float32, y int32)}``."""
    out = {}
    for split in SPLITS:
        for key in (f"x_{split}", f"y_{split}"):
            if key not in data:
                raise InputError(f"training data: missing array {key!r}")
        x, y = np.asarray(data[f"x_{split}"]), np.asarray(data[f"y_{split}"])
        if len(x) != len(y):
            raise InputError(f"training data: x_{split} has {len(x)} rows but y_{split} has {len(y)}")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise InputError(
                f"training data: y_{split} must be a 1-d integer label array, got {y.dtype} {y.shape}"
            )
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise InputError(f"training data: y_{split} has labels outside 0..{n_classes - 1}")
        out[split] = (_scale(x, f"x_{split}"), y.astype(np.int32))
    if len(out["train"][0]) == 0:
        raise InputError("training data: x_train is empty")
    shapes = {split: xy[0].shape[1:] for split, xy in out.items() if len(xy[0])}
    if len(set(shapes.values())) > 1:
        raise InputError(f"training data: splits have different image shapes {shapes}")
    return out


def _scale(x: np.ndarray, name: str) -> np.ndarray:
    """uint8 pixels to [0, 1] float32; float inputs are taken as already scaled."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32, copy=False)
    raise InputError(f"training data: {name} must be uint8 pixels or floats, got {x.dtype}")


# --------------------------------------------------------------------------- weights


def _iter_layers(model: Any) -> list[Any]:
    """The model's layers in order, nested models flattened."""
    out = []
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model
            out.extend(_iter_layers(layer))
        else:
            out.append(layer)
    return out


def network_weights(model: Any, source: str = "<keras model>") -> NetworkWeights:
    """The kernels of ``model``'s Dense and Conv2D layers in layer order, with biases.

    A BatchNormalization layer that follows a kernel layer is stored as that
    layer's batch norm (gamma, moving variance, epsilon; beta and moving mean
    too). Layers without weights (Flatten, Dropout, pooling, activations) are
    skipped; other layers with weights are an :class:`InputError`. Pruning
    wrappers must be stripped first.
    """
    from .tf_runtime import import_tf

    _, keras, _ = import_tf()
    kernels: list[np.ndarray] = []
    biases: list[np.ndarray | None] = []
    norms: list[BatchNorm | None] = []
    for layer in _iter_layers(model):
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)) and not isinstance(
            layer, (keras.layers.Conv2DTranspose, keras.layers.DepthwiseConv2D)
        ):
            kernels.append(np.asarray(layer.kernel.numpy()))
            biases.append(None if layer.bias is None else np.asarray(layer.bias.numpy()))
            norms.append(None)
        elif isinstance(layer, keras.layers.BatchNormalization):
            if not kernels:
                continue  # normalizes the inputs: not part of the graph
            if norms[-1] is not None:
                raise InputError(
                    f"{source}: batch normalization {layer.name!r} follows another one on layer "
                    f"{len(kernels) - 1}; only one per layer is supported"
                )
            n_out = kernels[-1].shape[-1]
            if tuple(layer.moving_variance.shape) != (n_out,):
                raise InputError(
                    f"{source}: batch normalization {layer.name!r} normalizes "
                    f"{tuple(layer.moving_variance.shape)} values, but layer {len(kernels) - 1} "
                    f"has {n_out} output channels"
                )
            gamma = np.ones(n_out) if layer.gamma is None else np.asarray(layer.gamma.numpy())
            norms[-1] = BatchNorm(
                gamma=gamma,
                moving_variance=np.asarray(layer.moving_variance.numpy()),
                epsilon=float(layer.epsilon),
                beta=None if layer.beta is None else np.asarray(layer.beta.numpy()),
                moving_mean=np.asarray(layer.moving_mean.numpy()),
            )
        elif layer.weights:
            raise InputError(
                f"{source}: layer {layer.name!r} ({type(layer).__name__}) has weights but is not "
                "Dense, Conv2D or BatchNormalization; only those are supported"
            )
    if not kernels:
        raise InputError(f"{source}: the model has no Dense or Conv2D layer")
    return NetworkWeights(tuple(kernels), tuple(biases), tuple(norms), source)


def load_keras_model_weights(path: str | os.PathLike[str]) -> NetworkWeights:
    """The :class:`NetworkWeights` of a saved Keras model (``.keras``, ``.h5`` or SavedModel).

    Models saved with tfmot pruning wrappers are loaded in tfmot's prune scope
    and stripped. The model is loaded without compiling it.
    """
    from .tf_runtime import import_tf

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such Keras model file")
    _, keras, tfmot = import_tf()
    try:
        with tfmot.sparsity.keras.prune_scope():
            model = keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{path}: not a readable Keras model ({type(exc).__name__}: {exc})") from None
    if not isinstance(model, keras.Model):
        raise InputError(f"{path}: holds a {type(model).__name__}, not a Keras model")
    if _has_pruning_wrappers(model):
        model = tfmot.sparsity.keras.strip_pruning(model)
    return network_weights(model, source=str(path))


def _has_pruning_wrappers(model: Any) -> bool:
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    return any(isinstance(layer, pruning_wrapper.PruneLowMagnitude) for layer in _iter_layers(model))


def kernel_sparsity(weights: NetworkWeights) -> list[float]:
    """Fraction of exactly-zero entries of each kernel."""
    return [float(np.mean(k == 0)) for k in weights.kernels]


# --------------------------------------------------------------------------- training


def _compile(model: Any, keras: Any, config: TrainConfig) -> None:
    # A fresh Adam every time: tfmot requires recompiling the wrapped model.
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def _evaluate(model: Any, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float | None]:
    """Accuracy and loss (regularization included) on every split; ``None`` for an empty split."""
    out: dict[str, float | None] = {}
    for split, (x, y) in splits.items():
        if len(x) == 0:
            out[f"{split}_acc"] = out[f"{split}_loss"] = None
            continue
        result = model.evaluate(x, y, batch_size=_EVAL_BATCH, verbose=0, return_dict=True)
        out[f"{split}_acc"] = float(result["accuracy"])
        out[f"{split}_loss"] = float(result["loss"])
    return out


def _history(history: Any) -> dict[str, list[float]]:
    return {k: [float(v) for v in vals] for k, vals in (history.history if history else {}).items()}


def _prunable(layer: Any, keras: Any) -> bool:
    return isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))


def pruning_end_step(n_train: int, config: TrainConfig) -> int:
    """All pruning steps: ``prune_epochs * ceil(n_train / batch_size)``."""
    return config.prune_epochs * math.ceil(n_train / config.batch_size)


def save_keras_model(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model`` (no optimizer state) to ``.keras`` or ``.h5`` atomically."""
    path = Path(path)
    if path.suffix not in _MODEL_SUFFIXES:
        raise InputError(f"{path}: a Keras model path must end in {' or '.join(_MODEL_SUFFIXES)}")
    with atomic_path(path) as tmp:
        if path.suffix == ".h5":
            with warnings.catch_warnings():  # the user chose the legacy format
                warnings.filterwarnings("ignore", message="You are saving your model as an HDF5")
                model.save(tmp, include_optimizer=False, save_format="h5")
        else:
            model.save(tmp)


def train_and_prune(
    data: dict[str, np.ndarray],
    config: TrainConfig,
    seed: int,
    threads: int | None = None,
    out_model: str | os.PathLike[str] | None = None,
    out_weights_unpruned: str | os.PathLike[str] | None = None,
    out_weights_pruned: str | os.PathLike[str] | None = None,
    out_metrics: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train, then prune, one network; write its weights, model and metrics; return the metrics.

    ``data`` holds ``x_train, y_train, x_val, y_val, x_test, y_test`` (uint8
    images, integer labels). ``seed`` determines initialization, dropout masks
    and shuffling. Outputs left as ``None`` are not written. The metrics
    (returned and written as JSON) are described in the module docstring.
    """
    from .models import build_model
    from .tf_runtime import device_summary, import_tf, library_versions

    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    splits = _check_data(data, config.n_classes)
    x_train, y_train = splits["train"]
    n_train = len(x_train)

    started = time.perf_counter()
    seeds = {"tensorflow": derive_seed(seed, "tensorflow"), "model": derive_seed(seed, "model")}
    _, keras, tfmot = import_tf(threads=threads, seed=seeds["tensorflow"])
    model = build_model(
        config.architecture,
        input_shape=x_train.shape[1:],
        widths=config.widths,
        n_classes=config.n_classes,
        dropout=config.dropout,
        l1=config.l1,
        l2=config.l2,
        seed=seeds["model"],
    )
    _compile(model, keras, config)
    fit = dict(batch_size=config.batch_size, shuffle=config.shuffle, verbose=0)
    hist_train = model.fit(x_train, y_train, epochs=config.epochs, **fit) if config.epochs else None
    trained = time.perf_counter()

    unpruned_eval = _evaluate(model, splits)
    unpruned = network_weights(model, source="unpruned")
    if out_weights_unpruned is not None:
        save_weights(out_weights_unpruned, unpruned)

    end_step = pruning_end_step(n_train, config)
    hist_prune = None
    if config.prune_epochs:
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=config.initial_sparsity,
            final_sparsity=config.final_sparsity,
            begin_step=0,
            end_step=end_step,
            power=config.pruning_power,
            frequency=config.pruning_frequency,
        )

        def wrap(layer: Any) -> Any:
            # Wrapping the trained layer object keeps its weights; other layers are reused.
            if _prunable(layer, keras):
                return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
            return layer

        pruning = keras.models.clone_model(model, clone_function=wrap)
        _compile(pruning, keras, config)
        hist_prune = pruning.fit(
            x_train,
            y_train,
            epochs=config.prune_epochs,
            callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
            **fit,
        )
        final_model = tfmot.sparsity.keras.strip_pruning(pruning)
        _compile(final_model, keras, config)  # for evaluation only; not saved
    else:
        final_model = model
    pruned_time = time.perf_counter()

    pruned_eval = _evaluate(final_model, splits)
    pruned = network_weights(final_model, source="pruned")
    if out_weights_pruned is not None:
        save_weights(out_weights_pruned, pruned)
    if out_model is not None:
        save_keras_model(final_model, out_model)

    # Masks are updated at pruning steps 1..end_step that are multiples of the frequency.
    last_update = (end_step // config.pruning_frequency) * config.pruning_frequency
    if not config.prune_epochs or last_update < 1:
        last_update = None
    metrics: dict[str, Any] = {
        "seed": int(seed),
        "derived_seeds": seeds,
        "threads": threads,
        "config": config.to_dict(),
        "input_shape": [int(d) for d in x_train.shape[1:]],
        "n_train": n_train,
        "n_val": len(splits["val"][0]),
        "n_test": len(splits["test"][0]),
        "unpruned": unpruned_eval,
        "pruned": pruned_eval,
        "sparsity": {
            "unpruned": kernel_sparsity(unpruned),
            "pruned": kernel_sparsity(pruned),
            "pruned_total": float(
                sum(int(np.sum(k == 0)) for k in pruned.kernels) / sum(k.size for k in pruned.kernels)
            ),
        },
        "pruning": {
            "end_step": end_step if config.prune_epochs else 0,
            "steps_per_epoch": math.ceil(n_train / config.batch_size),
            "last_mask_update_step": last_update,
            "target_sparsity_at_last_update": (
                float(
                    config.final_sparsity
                    + (config.initial_sparsity - config.final_sparsity)
                    * (1 - last_update / end_step) ** config.pruning_power
                )
                if last_update is not None
                else None
            ),
        },
        "epochs_run": {"train": config.epochs, "prune": config.prune_epochs},
        "history": {"train": _history(hist_train), "prune": _history(hist_prune)},
        "wall_seconds": {
            "train": trained - started,
            "prune": pruned_time - trained,
            "total": time.perf_counter() - started,
        },
        "device": device_summary(),
        "versions": library_versions(),
        "weight_shapes": [list(k.shape) for k in pruned.kernels],
    }
    if out_metrics is not None:
        write_json(out_metrics, metrics)
    return metrics
