"""Training and magnitude pruning of the papers' networks (P1 section 3, A.2).

:func:`train_and_prune` trains a network with Adam for ``epochs`` epochs, keeps
its weights (the *unpruned* network), then prunes every dense (and conv) kernel
with tfmot's ``prune_low_magnitude`` on a polynomial-decay schedule from
``initial_sparsity`` to ``final_sparsity`` over ``prune_epochs`` more epochs
(Zhu & Gupta 2017), and keeps the final weights (the *pruned* network). Both
weight sets are written in the :mod:`clusterability.io.npz` ``.npz`` format;
the stripped Keras model and a metrics JSON are written beside them. Every file
is written atomically.

Networks with ``augment`` (P2's VGG) train on randomly augmented batches
(:func:`augmented_batches`), drawn from seeds derived from the network's.

Several runs of a family can train in one process, one after the other
(:mod:`clusterability.train.runs`).

Training is deterministic: the same data, config, seed and thread count give
the same weights (TensorFlow op determinism, seeded initializers, dropout and
shuffling; see :mod:`clusterability.train.runtime`).

TensorFlow is imported lazily through :mod:`clusterability.train.runtime`.

A job's fixed cost (issue 22): every step function is traced once
(:func:`create_step_variables`, with :func:`skip_first_trace_seeds` keeping the
dropout masks of the double trace it replaces), the images are copied into
tensors once for every ``fit`` and ``evaluate``, and tfmot's wrapper is traced
without AutoGraph (:mod:`clusterability.train.pruning`); the networks are the
same, bit for bit.

Metrics JSON (one object)
-------------------------
``seed``, ``derived_seeds`` ({tensorflow, model}), ``threads`` (requested)
    How the run was seeded and threaded.
``config``
    Every :class:`TrainConfig` field (``widths`` as a list).
``input_shape``, ``n_train``, ``n_val``, ``n_test``, ``weight_shapes``
    The data and the kernels' shapes. ``n_train`` counts every image trained
    on: the prepared training split *and* its validation split (``n_val`` of
    them), as the papers train on the whole training set (:func:`training_images`).
``task``
    ``classification`` (softmax outputs, cross-entropy) or ``regression``
    (linear outputs, one per target, mean squared error: P2 A.7).
``unpruned``, ``pruned``
    The network just before pruning and at the end. ``train_acc`` and
    ``train_loss`` (regression: also ``train_mse``) are the papers' "Train acc."
    and "Train loss": Keras' training metrics of the last epoch of the phase that
    ends there (training mode: dropout on, averaged over the epoch's batches,
    regularization in the loss; the training phase's for ``pruned`` when there is
    no pruning phase; ``null`` for a network never trained). ``train_acc_eval``,
    ``train_loss_eval`` (``train_mse_eval``) and ``test_{acc,loss}``
    (``test_mse``) are ``model.evaluate`` on the training images and the test set
    (no dropout, the final weights, regularization included in the loss; the
    ``mse`` without it); ``null`` for an empty split or an ``acc`` of a regression.
``sparsity``
    ``unpruned`` and ``pruned``: per-kernel fraction of exact zeros, in
    layer order; ``pruned_total``: over all kernels.
``pruning``
    ``end_step``, ``steps_per_epoch``, ``last_mask_update_step`` and the
    schedule's ``target_sparsity_at_last_update`` (``final_sparsity`` when
    ``end_step`` is a multiple of ``pruning_frequency``).
``clusterable_init_tag_counts`` (clusterable initialization only, P2 4.2)
    Per tagged layer (an MLP's hidden layers and its outputs, a CNN's hidden
    convolutions), how many neurons got each tag.
``regularizer_eigenvalue_sums``, ``regularizer_output_scales`` (the clusterability regularizer only, P2 4.1)
    ``{train, prune}``: ``lambda_2 + ... + lambda_k`` of ``L_sym``, and the
    output layer's largest ``|w|``, at each epoch's first batch and at the end
    of the phase.
``epochs_run`` ({train, prune}: the epochs Keras ran in each phase, as its
``History`` records them; the config's ``epochs``/``prune_epochs`` in a run that
completes), ``history`` ({train, prune}: Keras' per-epoch
``loss``/``accuracy``), ``wall_seconds`` ({setup, train, prune, evaluate,
total}: the fixed costs of importing TensorFlow, building the model and copying
the images into tensors, and of evaluating and saving, apart from the phases;
each phase's seconds include its first step, which traces the step function),
``device``
(:func:`clusterability.train.runtime.device_summary`), ``numerics_fingerprint``
(:func:`clusterability.train.runtime.numerics_fingerprint`: equal on machines that
train bit-identical networks), ``versions``
(:func:`clusterability.train.runtime.library_versions`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clusterability.atomic import write_json
from clusterability.core.network import NetworkWeights
from clusterability.errors import InputError
from clusterability.io.npz import save_weights
from clusterability.seeds import derive_seed
from clusterability.train.config import TrainConfig
from clusterability.train.keras_model import network_weights, save_keras_model

SPLITS = ("train", "val", "test")
_EVAL_BATCH = 1024
#: Keras' names of the training metrics kept per stage (:func:`last_epoch`), by task.
_HISTORY_KEYS = {False: {"accuracy": "acc", "loss": "loss"}, True: {"loss": "loss", "mse": "mse"}}


# --------------------------------------------------------------------------- data


def _check_data(
    data: dict[str, np.ndarray], n_classes: int, regression: bool
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Validate the splits and return ``{split: (x scaled to [0,1] float32, y)}``.

    ``y`` is int32 class labels, or float32 targets ``(n, outputs)`` for a
    regression dataset (``regression``: ``data["task"] == "regression"``).
    """
    out = {}
    for split in SPLITS:
        for key in (f"x_{split}", f"y_{split}"):
            if key not in data:
                raise InputError(f"training data: missing array {key!r}")
        x, y = np.asarray(data[f"x_{split}"]), np.asarray(data[f"y_{split}"])
        if len(x) != len(y):
            raise InputError(f"training data: x_{split} has {len(x)} rows but y_{split} has {len(y)}")
        if regression:
            if y.ndim != 2 or not np.issubdtype(y.dtype, np.floating):
                raise InputError(
                    f"training data: y_{split} must be float targets (n, outputs), got {y.dtype} {y.shape}"
                )
            out[split] = (_scale(x, f"x_{split}"), y.astype(np.float32, copy=False))
            continue
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise InputError(f"training data: y_{split} must be a 1-d integer label array, got {y.dtype} {y.shape}")
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise InputError(f"training data: y_{split} has labels outside 0..{n_classes - 1}")
        out[split] = (_scale(x, f"x_{split}"), y.astype(np.int32))
    if len(out["train"][0]) == 0:
        raise InputError("training data: x_train is empty")
    shapes = {split: xy[0].shape[1:] for split, xy in out.items() if len(xy[0])}
    if len(set(shapes.values())) > 1:
        raise InputError(f"training data: splits have different image shapes {shapes}")
    return out


def training_images(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The images a network trains on: the training split followed by the validation split.

    The papers train on the whole training set (60,000 images; 50,000 for
    CIFAR-10) and choose nothing on held-out data, so the validation images a
    prepared dataset sets apart are trained on too.
    """
    (x_train, y_train), (x_val, y_val) = splits["train"], splits["val"]
    if not len(x_val):
        return x_train, y_train
    return np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])


def is_regression(data: dict[str, Any]) -> bool:
    """Whether a dataset is a regression task (P2's polynomial dataset): MSE loss, linear outputs."""
    return str(data.get("task", "classification")) == "regression"


def _scale(x: np.ndarray, name: str) -> np.ndarray:
    """uint8 pixels to [0, 1] float32; float inputs are taken as already scaled."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32, copy=False)
    raise InputError(f"training data: {name} must be uint8 pixels or floats, got {x.dtype}")


def kernel_sparsity(weights: NetworkWeights) -> list[float]:
    """Fraction of exactly-zero entries of each kernel."""
    return [float(np.mean(k == 0)) for k in weights.kernels]


# --------------------------------------------------------------------------- training


class _Clock:
    """Wall time of consecutive phases; a phase timed twice adds up."""

    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self._laps: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self._laps[phase] = self._laps.get(phase, 0.0) + now - self._last
        self._last = now

    def laps(self) -> dict[str, float]:
        return {**self._laps, "total": time.perf_counter() - self._start}


def _compile(model: Any, keras: Any, config: TrainConfig, regression: bool = False, *, trains: bool = True) -> None:
    """Compile ``model`` with a fresh Adam and create its step variables (:func:`create_step_variables`);
    the optimizer's only if the model ``trains``."""
    # A fresh Adam every time: tfmot requires recompiling the wrapped model.
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="mse" if regression else "sparse_categorical_crossentropy",
        metrics=["mse"] if regression else ["accuracy"],
    )
    create_step_variables(keras, model, regression, optimizer=trains)


def create_step_variables(keras: Any, model: Any, regression: bool, *, optimizer: bool = True) -> None:
    """Create the variables that a compiled ``model``'s first training or evaluation step would create.

    A ``tf.function`` that creates variables in its first call is traced twice
    in that call (once creating them, once more without), and Keras' steps
    create Adam's moments and the compiled metrics on first use: every
    ``fit``, and the first ``evaluate`` of a fresh model, traced its step twice
    (a pruning step: about a second). Created here, eagerly, from the same
    initializers (zeros), the variables are the same and so is the training,
    bit for bit; the steps are traced once. ``optimizer=False`` leaves the
    optimizer unbuilt (a model that never trains is saved without moments).
    """
    if optimizer:
        model.optimizer.build(model.trainable_variables)
    # Only the shapes of the outputs and labels matter (they choose Keras' "accuracy").
    y_pred = keras.backend.constant(0.0, shape=(1, *model.output_shape[1:]))
    y_true = y_pred if regression else keras.backend.constant(0, dtype="int32", shape=(1,))
    model.compiled_loss.build(y_pred)
    model.compiled_metrics.build(y_pred, y_true)


def _evaluate(
    model: Any, splits: dict[str, tuple[np.ndarray, np.ndarray]], regression: bool
) -> dict[str, float | None]:
    """Accuracy (classification) or mean squared error (regression), and the loss with its
    regularization, on every split; ``None`` for an empty split or a metric the task has not."""
    out: dict[str, float | None] = {}
    for split, (x, y) in splits.items():
        out[f"{split}_acc"] = out[f"{split}_loss"] = None
        if regression:
            out[f"{split}_mse"] = None
        if len(x) == 0:
            continue
        result = model.evaluate(x, y, batch_size=_EVAL_BATCH, verbose=0, return_dict=True)
        out[f"{split}_loss"] = float(result["loss"])
        if regression:
            out[f"{split}_mse"] = float(result["mse"])
        else:
            out[f"{split}_acc"] = float(result["accuracy"])
    return out


def last_epoch(history: dict[str, list[float]], regression: bool) -> dict[str, float | None]:
    """``train_acc`` and ``train_loss`` (regression: ``train_loss``, ``train_mse``) of a phase's last epoch.

    These are Keras' training metrics (P1 Table 1's and P2's "Train acc.", P2
    Table A.19's "Train loss"): with dropout on, averaged over the epoch's
    batches. ``None`` where the phase ran no epoch.
    """
    return {
        f"train_{name}": (history[key][-1] if history.get(key) else None)
        for key, name in _HISTORY_KEYS[regression].items()
    }


def stage_metrics(
    history: dict[str, list[float]], evaluated: dict[str, float | None], regression: bool
) -> dict[str, float | None]:
    """One stage's metrics: the training metrics of ``history``'s last epoch, and ``evaluated``
    (:func:`_evaluate` of the training images and the test set) with ``train_*`` renamed ``train_*_eval``."""
    renamed = {f"{key}_eval" if key.startswith("train_") else key: value for key, value in evaluated.items()}
    return {**last_epoch(history, regression), **renamed}


def _prunable(layer: Any, keras: Any) -> bool:
    return isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))


def model_arguments(
    config: TrainConfig, input_shape: tuple[int, ...], n_outputs: int, regression: bool
) -> dict[str, Any]:
    """The keyword arguments of ``config.architecture``'s builder (all but the seed)."""
    from clusterability.train.models import CONV_ARCHITECTURES

    arguments: dict[str, Any] = {
        "input_shape": input_shape,
        "widths": config.widths,
        "n_classes": n_outputs,
        "output_activation": "linear" if regression else "softmax",
        "dropout": config.dropout,
        "l1": config.l1,
        "l2": config.l2,
    }
    if config.architecture in CONV_ARCHITECTURES:
        arguments.update(dense_widths=config.dense_widths, conv_dropout=config.conv_dropout)
    else:
        arguments["first_layer_l1"] = config.first_layer_l1
    return arguments


#: Liu & Deng's augmentation (P2 A.2): rotations up to 15 degrees, shifts up to 10 %, horizontal flips.
AUGMENTATION = {"rotation_degrees": 15.0, "shift": 0.1, "horizontal_flip": True}


def augmented_batches(x: Any, y: Any, config: TrainConfig, seed: int) -> Any:
    """A ``tf.data`` pipeline of shuffled (``config.shuffle``), batched, randomly augmented training data.

    The augmentation (:data:`AUGMENTATION`) are ``tf_keras`` preprocessing
    layers applied to each batch, with seeds from ``seed``; pixels moved in
    from outside the image repeat the nearest edge pixel (as Keras'
    ``ImageDataGenerator``, which the original VGG code used).
    """
    from clusterability.train.runtime import import_tf

    tf, keras, _ = import_tf()
    layers = keras.layers
    augment = keras.Sequential(
        [
            layers.RandomRotation(
                AUGMENTATION["rotation_degrees"] / 360.0,
                fill_mode="nearest",
                seed=derive_seed(seed, "rotation") % 2**31,
            ),
            layers.RandomTranslation(
                AUGMENTATION["shift"],
                AUGMENTATION["shift"],
                fill_mode="nearest",
                seed=derive_seed(seed, "shift") % 2**31,
            ),
            layers.RandomFlip("horizontal", seed=derive_seed(seed, "flip") % 2**31),
        ],
        name="augmentation",
    )
    gray = x.ndim == 3

    def apply(images: Any, labels: Any) -> Any:
        images = augment(images[..., None] if gray else images, training=True)
        return (images[..., 0] if gray else images), labels

    batches = tf.data.Dataset.from_tensor_slices((x, y))
    if config.shuffle:
        batches = batches.shuffle(len(x), seed=derive_seed(seed, "order") % 2**31, reshuffle_each_iteration=True)
    return batches.batch(config.batch_size).map(apply).prefetch(2)


def clusterable_init(model: Any, keras: Any, config: TrainConfig, seed: int) -> list[np.ndarray]:
    """Initialize ``model``'s kernels between hidden layers clusterably (P2 4.2); return the tags.

    See :mod:`clusterability.train.clusterable_init` for which kernels change.
    """
    from clusterability.train.clusterable_init import clusterable_kernels, hidden_chain

    layers = [layer for layer in model.layers if _prunable(layer, keras)]
    n_conv = sum(isinstance(layer, keras.layers.Conv2D) for layer in layers)
    chain = [layers[i] for i in hidden_chain(config.architecture, len(layers), n_conv)]
    kernels, tags = clusterable_kernels(
        [layer.kernel.numpy() for layer in chain], config.init_tags, config.init_beta, np.random.default_rng(seed)
    )
    for layer, kernel in zip(chain, kernels):
        layer.kernel.assign(kernel)
    return tags


def pruning_end_step(n_train: int, config: TrainConfig) -> int:
    """All pruning steps: ``prune_epochs * ceil(n_train / batch_size)``."""
    return config.prune_epochs * math.ceil(n_train / config.batch_size)


@dataclass(frozen=True)
class PhaseRun:
    """One phase of a run (``train``, or ``prune``: P1 A.2) as Keras ran it.

    ``history`` holds Keras' per-epoch metrics, ``epochs_run`` the epochs
    ``fit`` completed; ``eigenvalue_sums`` and ``output_scales`` are the
    clusterability regularizer's record (P2 4.1), ``None`` without it.
    ``PhaseRun()`` is a phase that did not run (no epochs).
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_run: int = 0
    eigenvalue_sums: list[float] | None = None
    output_scales: list[float] | None = None


@dataclass(frozen=True)
class FitInputs:
    """What every phase's ``fit`` reads (:func:`fit_phase`): the TensorFlow modules, the training images
    (:func:`training_images`; arrays or tensors), the config and the run's seed."""

    tf: Any
    keras: Any
    x: Any
    y: Any
    config: TrainConfig
    seed: int


def build_network(
    keras: Any,
    config: TrainConfig,
    input_shape: tuple[int, ...],
    n_outputs: int,
    regression: bool,
    *,
    model_seed: int,
    init_seed: int,
) -> tuple[Any, list[np.ndarray] | None]:
    """The compiled network before training, and its clusterable initialization's tags (P2 4.2; ``None`` without).

    ``config.architecture``'s builder (:mod:`clusterability.train.models`) seeded
    with ``model_seed``; with ``config.init_tags``, its hidden kernels are then
    initialized clusterably from ``init_seed`` (:func:`clusterable_init`).
    """
    from clusterability.train.models import build_model

    model = build_model(
        config.architecture, **model_arguments(config, input_shape, n_outputs, regression), seed=model_seed
    )
    tags = clusterable_init(model, keras, config, init_seed) if config.init_tags else None
    _compile(model, keras, config, regression, trains=config.epochs > 0)
    return model, tags


def skip_first_trace_seeds(model: Any) -> None:
    """Advance the seed of every seeded dropout layer of ``model`` by one, as a discarded trace of its step did.

    Keras' dropout takes a new op seed (its seed, then seed + 1, ...) each time
    its training step is traced. Until Adam's and the metrics' variables were
    created before ``fit`` (:func:`create_step_variables`), the first ``fit`` of
    every compiled model traced its step twice and ran the second trace: its
    dropout masks came from seed + 1. Skipping that seed here keeps those
    masks, and so the trained networks, bit for bit.
    """
    for layer in model.submodules:
        generator = getattr(layer, "_random_generator", None)
        if (
            generator is not None
            and getattr(generator, "_rng_type", None) == generator.RNG_LEGACY_STATEFUL
            and generator._seed is not None
        ):
            generator.make_legacy_seed()


def fit_phase(fitting: FitInputs, net: Any, phase: str, epochs: int, callbacks: Sequence[Any] = ()) -> PhaseRun:
    """Run one phase of ``epochs`` epochs of ``net.fit`` on the training images (none for 0 epochs).

    With ``config.regularizer_weight`` the clusterability regularizer (P2 4.1)
    drives the phase after ``callbacks``; with ``config.augment`` the phase
    trains on a fresh pipeline of augmented batches seeded by the run's seed and
    ``phase`` (:func:`augmented_batches`).
    """
    if not epochs:
        return PhaseRun()
    config = fitting.config
    regularizer = None
    if config.regularizer_weight:
        from clusterability.train.regularizer import attach_regularizer

        regularizer = attach_regularizer(
            fitting.tf,
            fitting.keras,
            net,
            config.regularizer_weight,
            config.regularizer_k,
            config.regularizer_normalization,
        )
        callbacks = [*callbacks, regularizer]
    if net.train_function is None:  # the first fit of this compiled model
        skip_first_trace_seeds(net)
    if config.augment:  # a fresh, seeded pipeline per phase
        batches = augmented_batches(fitting.x, fitting.y, config, derive_seed(fitting.seed, "augment", phase))
        history = net.fit(batches, epochs=epochs, callbacks=list(callbacks), verbose=0)
    else:
        history = net.fit(
            fitting.x,
            fitting.y,
            epochs=epochs,
            batch_size=config.batch_size,
            shuffle=config.shuffle,
            callbacks=list(callbacks),
            verbose=0,
        )
    return PhaseRun(
        history={key: [float(v) for v in values] for key, values in history.history.items()},
        epochs_run=len(history.epoch),
        eigenvalue_sums=None if regularizer is None else regularizer.eigenvalue_sums,
        output_scales=None if regularizer is None else regularizer.output_scales,
    )


def prune_phase(fitting: FitInputs, tfmot: Any, model: Any, end_step: int, regression: bool) -> tuple[Any, PhaseRun]:
    """Prune the trained ``model`` for ``config.prune_epochs`` epochs (Zhu & Gupta 2017; P1 A.2).

    Every dense and conv kernel is wrapped in tfmot's ``prune_low_magnitude`` on
    the polynomial-decay schedule that reaches ``final_sparsity`` at ``end_step``
    (:func:`pruning_end_step`). Returns the stripped network, compiled for
    evaluation, and the phase; without pruning epochs, ``model`` itself and a
    phase that did not run.
    """
    config, keras = fitting.config, fitting.keras
    if not config.prune_epochs:
        return model, PhaseRun()
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
    _compile(pruning, keras, config, regression)
    run = fit_phase(fitting, pruning, "prune", config.prune_epochs, [tfmot.sparsity.keras.UpdatePruningStep()])
    final_model = tfmot.sparsity.keras.strip_pruning(pruning)
    _compile(final_model, keras, config, regression, trains=False)  # for evaluation and saving: no moments
    return final_model, run


def finish_stage(
    model: Any,
    stage: str,
    evaluated_splits: dict[str, tuple[np.ndarray, np.ndarray]],
    regression: bool,
    out_weights: str | os.PathLike[str] | None,
) -> tuple[dict[str, float | None], NetworkWeights]:
    """Evaluate ``model`` at the end of a stage (``unpruned`` or ``pruned``) and keep its weights.

    Returns :func:`_evaluate` on ``evaluated_splits`` and the weights (their
    ``source`` is ``stage``), written to ``out_weights`` unless it is ``None``.
    """
    evaluated = _evaluate(model, evaluated_splits, regression)
    weights = network_weights(model, source=stage)
    if out_weights is not None:
        save_weights(out_weights, weights)
    return evaluated, weights


def pruning_summary(n_train: int, config: TrainConfig) -> dict[str, Any]:
    """The metrics' ``pruning`` object: the schedule's steps and its target at the last mask update."""
    end_step = pruning_end_step(n_train, config)
    # Masks are updated at pruning steps 1..end_step that are multiples of the frequency.
    last_update: int | None = (end_step // config.pruning_frequency) * config.pruning_frequency
    if not config.prune_epochs or last_update < 1:
        last_update = None
    return {
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
    }


def sparsity_summary(unpruned: NetworkWeights, pruned: NetworkWeights) -> dict[str, Any]:
    """The metrics' ``sparsity`` object: per-kernel fractions of zeros of both weight sets, and the pruned total."""
    return {
        "unpruned": kernel_sparsity(unpruned),
        "pruned": kernel_sparsity(pruned),
        "pruned_total": float(sum(int(np.sum(k == 0)) for k in pruned.kernels) / sum(k.size for k in pruned.kernels)),
    }


def promotion_summary(
    config: TrainConfig, tags: list[np.ndarray] | None, phases: dict[str, PhaseRun]
) -> dict[str, Any]:
    """The metrics of P2 section 4's clusterability promotion; empty when the run used none.

    ``clusterable_init_tag_counts`` (clusterable initialization) and
    ``regularizer_eigenvalue_sums``/``regularizer_output_scales`` per phase that
    ran (the clusterability regularizer).
    """
    out: dict[str, Any] = {}
    if config.init_tags:
        out["clusterable_init_tag_counts"] = [np.bincount(t, minlength=config.init_tags).tolist() for t in tags]
    if config.regularizer_weight:
        # lambda_2 + ... + lambda_k at each epoch's first batch and at the end of each phase.
        out["regularizer_eigenvalue_sums"] = {
            phase: run.eigenvalue_sums for phase, run in phases.items() if run.eigenvalue_sums is not None
        }
        out["regularizer_output_scales"] = {
            phase: run.output_scales for phase, run in phases.items() if run.output_scales is not None
        }
    return out


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
    images, integer labels); the network trains on the training and validation
    images together (:func:`training_images`). ``seed`` determines initialization, dropout masks
    and shuffling. Outputs left as ``None`` are not written. The metrics
    (returned and written as JSON) are described in the module docstring.
    """
    from clusterability.train.runtime import device_summary, import_tf, library_versions, numerics_fingerprint

    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    regression = is_regression(data)
    splits = _check_data(data, config.n_classes, regression)
    x_train, y_train = training_images(splits)
    n_train = len(x_train)

    clock = _Clock()
    seeds = {"tensorflow": derive_seed(seed, "tensorflow"), "model": derive_seed(seed, "model")}
    tf, keras, tfmot = import_tf(threads=threads, seed=seeds["tensorflow"])
    model, tags = build_network(
        keras,
        config,
        x_train.shape[1:],
        y_train.shape[1] if regression else config.n_classes,
        regression,
        model_seed=seeds["model"],
        init_seed=derive_seed(seed, "clusterable_init"),
    )
    # Keras copies NumPy arrays into new tensors at every fit and evaluate (MNIST's: 175 MB of fresh
    # memory each time, up to half a second); tensors it takes as they are.
    x_fit, y_fit = tf.convert_to_tensor(x_train), tf.convert_to_tensor(y_train)
    evaluated_splits = {
        "train": (x_fit, y_fit),
        "test": (tf.convert_to_tensor(splits["test"][0]), tf.convert_to_tensor(splits["test"][1])),
    }
    fitting = FitInputs(tf=tf, keras=keras, x=x_fit, y=y_fit, config=config, seed=seed)
    clock.lap("setup")

    phases = {"train": fit_phase(fitting, model, "train", config.epochs)}
    clock.lap("train")
    unpruned_eval, unpruned = finish_stage(model, "unpruned", evaluated_splits, regression, out_weights_unpruned)
    clock.lap("evaluate")
    final_model, phases["prune"] = prune_phase(fitting, tfmot, model, pruning_end_step(n_train, config), regression)
    clock.lap("prune")
    pruned_eval, pruned = finish_stage(final_model, "pruned", evaluated_splits, regression, out_weights_pruned)
    if out_model is not None:
        save_keras_model(final_model, out_model)
    clock.lap("evaluate")

    history = {phase: run.history for phase, run in phases.items()}
    # Without a pruning phase the pruned network is the trained one, and so is its last epoch.
    pruned_history = history["prune"] if config.prune_epochs else history["train"]
    metrics: dict[str, Any] = {
        "seed": int(seed),
        "derived_seeds": seeds,
        "threads": threads,
        "config": config.to_dict(),
        "task": "regression" if regression else "classification",
        "input_shape": [int(d) for d in x_train.shape[1:]],
        "n_train": n_train,
        "n_val": len(splits["val"][0]),
        "n_test": len(splits["test"][0]),
        "unpruned": stage_metrics(history["train"], unpruned_eval, regression),
        "pruned": stage_metrics(pruned_history, pruned_eval, regression),
        "sparsity": sparsity_summary(unpruned, pruned),
        "pruning": pruning_summary(n_train, config),
        "epochs_run": {phase: run.epochs_run for phase, run in phases.items()},
        **promotion_summary(config, tags, phases),
        "history": history,
        "wall_seconds": clock.laps(),
        "device": device_summary(),
        "numerics_fingerprint": numerics_fingerprint(),
        "versions": library_versions(),
        "weight_shapes": [list(k.shape) for k in pruned.kernels],
    }
    if out_metrics is not None:
        write_json(out_metrics, metrics)
    return metrics
