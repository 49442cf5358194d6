"""The networks the papers train, built with Keras 2 (``tf_keras``).

Every layer that draws random numbers (kernel initializers, dropout masks) gets
its own seed derived from the network's seed (:func:`clusterability.seeds.derive_seed`),
so the same seed builds the same network whatever else the process has drawn.

Models take inputs scaled to [0, 1] (``float32``) and output class
probabilities (softmax), or one linear output per target for regression. TensorFlow is imported through
:mod:`clusterability.tf_runtime` when a model is built, never at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .errors import InputError
from .seeds import derive_seed

_TF_SEED_MODULUS = 2**31 - 1  # Keras layer seeds must fit a 32-bit int on every backend op


def _layer_seed(seed: int, *names: str | int) -> int:
    return derive_seed(seed, *names) % _TF_SEED_MODULUS


def _regularizer(keras: Any, l1: float, l2: float) -> Any:
    """An L1, L2 or L1+L2 kernel regularizer, or ``None`` when both are zero."""
    if l1 < 0 or l2 < 0:
        raise InputError(f"l1 and l2 must be non-negative, got l1={l1}, l2={l2}")
    if l1 and l2:
        return keras.regularizers.L1L2(l1=l1, l2=l2)
    if l1:
        return keras.regularizers.L1(l1)
    if l2:
        return keras.regularizers.L2(l2)
    return None


def _dense(keras: Any, units: int, activation: str, name: str, seed: int, regularizer: Any) -> Any:
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        bias_initializer="zeros",
        kernel_regularizer=regularizer,
        name=name,
    )


def build_mlp(
    input_shape: Sequence[int] = (28, 28),
    widths: Sequence[int] = (256, 256, 256, 256),
    n_classes: int = 10,
    dropout: float = 0.0,
    l1: float = 0.0,
    l2: float = 0.0,
    output_activation: str = "softmax",
    *,
    seed: int,
) -> Any:
    """The papers' multi-layer perceptron as an uncompiled ``tf_keras`` model.

    ``Flatten`` -> for each width: ``Dense(width, relu)`` (named ``dense_{i}``)
    followed by ``Dropout(dropout)`` when ``dropout > 0`` -> ``Dense(n_classes,
    output_activation)`` (named ``output``; ``linear`` for regression, with
    ``n_classes`` the number of targets). Kernels start Glorot-uniform (Keras' default)
    with per-layer seeds from ``seed``, biases at zero; ``l1``/``l2`` add a kernel
    regularizer to every dense layer (P2: 5e-5).
    """
    from .tf_runtime import import_tf

    _, keras, _ = import_tf()
    input_shape = tuple(int(d) for d in input_shape)
    widths = tuple(int(w) for w in widths)
    if any(w < 1 for w in widths) or int(n_classes) < 1:
        raise InputError(f"widths and n_classes must be positive, got {widths} and {n_classes}")
    if not 0.0 <= dropout < 1.0:
        raise InputError(f"dropout must be in [0, 1), got {dropout}")
    regularizer = _regularizer(keras, l1, l2)

    layers: list[Any] = [keras.Input(shape=input_shape, name="image"), keras.layers.Flatten(name="flatten")]
    for i, width in enumerate(widths):
        layers.append(_dense(keras, width, "relu", f"dense_{i}", _layer_seed(seed, "kernel", i), regularizer))
        if dropout > 0:
            layers.append(keras.layers.Dropout(dropout, seed=_layer_seed(seed, "dropout", i), name=f"dropout_{i}"))
    layers.append(
        _dense(
            keras, int(n_classes), output_activation, "output", _layer_seed(seed, "kernel", len(widths)), regularizer
        )
    )
    return keras.Sequential(layers, name="mlp")


#: Builders by architecture name (a small CNN and VGG join here later); each
#: takes ``input_shape``, ``n_classes``, ``dropout``, ``l1``, ``l2`` and a
#: keyword-only ``seed`` plus its own size arguments.
ARCHITECTURES: dict[str, Callable[..., Any]] = {"mlp": build_mlp}


def build_model(architecture: str, **kwargs: Any) -> Any:
    """Build the named architecture (``"mlp"``) with ``kwargs`` (see its builder)."""
    try:
        builder = ARCHITECTURES[architecture]
    except KeyError:
        raise InputError(f"unknown architecture {architecture!r}; expected one of {sorted(ARCHITECTURES)}") from None
    return builder(**kwargs)
