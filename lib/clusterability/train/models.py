"""The networks the papers train, built with Keras 2 (``tf_keras``): the MLP, P2's small CNN and VGG-16.

Every layer that draws random numbers (kernel initializers, dropout masks) gets
its own seed derived from the network's seed (:func:`clusterability.seeds.derive_seed`),
so the same seed builds the same network whatever else the process has drawn.

Models take inputs scaled to [0, 1] (``float32``) and output class
probabilities (softmax), or one linear output per target for regression. TensorFlow is imported through
:mod:`clusterability.train.runtime` when a model is built, never at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from clusterability.errors import InputError
from clusterability.seeds import derive_seed

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


def _weights(keras: Any, name: str, seed: int, regularizer: Any) -> dict[str, Any]:
    """A layer's name and its weights' settings: Glorot-uniform kernel from ``seed``, zero bias, ``regularizer``."""
    return {
        "kernel_initializer": keras.initializers.GlorotUniform(seed=seed),
        "bias_initializer": "zeros",
        "kernel_regularizer": regularizer,
        "name": name,
    }


def _dense(keras: Any, units: int, activation: str, name: str, seed: int, regularizer: Any) -> Any:
    return keras.layers.Dense(units, activation=activation, **_weights(keras, name, seed, regularizer))


def build_mlp(
    *,
    input_shape: Sequence[int] = (28, 28),
    widths: Sequence[int] = (256, 256, 256, 256),
    n_classes: int = 10,
    dropout: float = 0.0,
    l1: float = 0.0,
    l2: float = 0.0,
    first_layer_l1: bool = False,
    output_activation: str = "softmax",
    seed: int,
) -> Any:
    """The papers' multi-layer perceptron as an uncompiled ``tf_keras`` model.

    ``Flatten`` -> for each width: ``Dense(width, relu)`` (named ``dense_{i}``)
    followed by ``Dropout(dropout)`` when ``dropout > 0`` -> ``Dense(n_classes,
    output_activation)`` (named ``output``; ``linear`` for regression, with
    ``n_classes`` the number of targets). Kernels start Glorot-uniform (Keras' default)
    with per-layer seeds from ``seed``, biases at zero; ``l1``/``l2`` add a kernel
    regularizer to every dense layer (P2: 5e-5). ``first_layer_l1`` (an L2 network:
    ``l2 > 0``, ``l1 = 0``) gives the first dense layer L1 at weight ``l2`` instead, as the
    authors' code trained P2's "L2" MLPs (docs/reproducibility.md, "First layer of L2 MLPs").
    """
    from clusterability.train.runtime import import_tf

    _, keras, _ = import_tf()
    input_shape = tuple(int(d) for d in input_shape)
    widths = tuple(int(w) for w in widths)
    if any(w < 1 for w in widths) or int(n_classes) < 1:
        raise InputError(f"widths and n_classes must be positive, got {widths} and {n_classes}")
    if not 0.0 <= dropout < 1.0:
        raise InputError(f"dropout must be in [0, 1), got {dropout}")
    regularizer = _regularizer(keras, l1, l2)
    if first_layer_l1 and not (l2 > 0 and l1 == 0):
        raise InputError(f"first_layer_l1 is for L2 networks (l2 > 0, l1 = 0), got l1={l1}, l2={l2}")
    first_regularizer = _regularizer(keras, l2, 0.0) if first_layer_l1 else regularizer

    layers: list[Any] = [keras.Input(shape=input_shape, name="image"), keras.layers.Flatten(name="flatten")]
    for i, width in enumerate(widths):
        layer_regularizer = first_regularizer if i == 0 else regularizer
        layers.append(_dense(keras, width, "relu", f"dense_{i}", _layer_seed(seed, "kernel", i), layer_regularizer))
        if dropout > 0:
            layers.append(keras.layers.Dropout(dropout, seed=_layer_seed(seed, "dropout", i), name=f"dropout_{i}"))
    layers.append(
        _dense(
            keras, int(n_classes), output_activation, "output", _layer_seed(seed, "kernel", len(widths)), regularizer
        )
    )
    return keras.Sequential(layers, name="mlp")


def _conv(keras: Any, channels: int, name: str, seed: int, regularizer: Any, activation: str | None) -> Any:
    return keras.layers.Conv2D(
        channels, 3, padding="same", activation=activation, **_weights(keras, name, seed, regularizer)
    )


def _cnn(
    *,
    name: str,
    input_shape: Sequence[int],
    widths: Sequence[int],
    pools: Sequence[int],
    dense_widths: Sequence[int],
    n_classes: int,
    dropout: float,
    conv_dropout: Sequence[float],
    l1: float,
    l2: float,
    output_activation: str,
    batch_norm: bool,
    seed: int,
) -> Any:
    """A plain convolutional network: 3x3 ``same`` convolutions, max-pooling after those in ``pools``.

    Keyword arguments only: :func:`build_small_cnn` and :func:`build_vgg` name every setting.

    The authors' layer order (``create_cnn_layers``, CL ``src/train_nn.py``): each convolution is
    ``Conv2D(relu)``, its pooling if any, ``BatchNormalization`` with ``batch_norm`` (VGG), then
    ``Dropout`` at its rate in ``conv_dropout`` (0: none). Without batch norm (the small CNN) every
    convolution's rate applies; with it (VGG) the pooled convolutions get none but the last, which
    gets ``Dropout(dropout)``. Then ``Flatten`` -> per dense width ``Dense(relu)``; without batch norm
    each followed by ``Dropout(dropout)``, with it each but the last followed by ``BatchNormalization``
    and ``Dropout(dropout)`` -> the output layer. Every kernel carries the regularizer. Kernels are
    named ``conv_{i}``, ``dense_{j}`` and ``output``.
    """
    from clusterability.train.runtime import import_tf

    _, keras, _ = import_tf()
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) not in (2, 3):
        raise InputError(f"{name}: inputs must be images (h, w) or (h, w, channels), got {input_shape}")
    widths, dense_widths = tuple(int(w) for w in widths), tuple(int(w) for w in dense_widths)
    if not widths or min(widths + dense_widths + (int(n_classes),)) < 1:
        raise InputError(f"{name}: widths, dense widths and n_classes must be positive, got {widths}, {dense_widths}")
    conv_dropout = tuple(float(r) for r in conv_dropout)
    if len(conv_dropout) != len(widths):
        raise InputError(f"{name}: {len(conv_dropout)} convolution dropout rates for {len(widths)} convolutions")
    for rate, what in ((dropout, "dropout"), *((r, "conv_dropout") for r in conv_dropout)):
        if not 0.0 <= rate < 1.0:
            raise InputError(f"{what} must be in [0, 1), got {rate}")
    regularizer = _regularizer(keras, l1, l2)
    layers: list[Any] = [keras.Input(shape=input_shape, name="image")]
    if len(input_shape) == 2:
        layers.append(keras.layers.Reshape((*input_shape, 1), name="channel"))
    for i, channels in enumerate(widths):
        layers.append(_conv(keras, channels, f"conv_{i}", _layer_seed(seed, "kernel", i), regularizer, "relu"))
        pooled = i in pools
        if pooled:
            layers.append(keras.layers.MaxPooling2D(2, name=f"pool_{i}"))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"conv_bn_{i}"))
        # Dropout after every convolution, after its pooling (small CNN: P2 "0.25 for convolutional layers"),
        # or after the convolutions not pooled, after their batch norm (VGG: CNN_VGG_MODEL_PARAMS).
        if conv_dropout[i] > 0 and not (batch_norm and pooled):
            layers.append(
                keras.layers.Dropout(
                    conv_dropout[i], seed=_layer_seed(seed, "conv_dropout", i), name=f"conv_dropout_{i}"
                )
            )
    if batch_norm and dropout > 0:  # VGG: after the last block's batch norm (the code's 0.5 on the 13th)
        layers.append(keras.layers.Dropout(dropout, seed=_layer_seed(seed, "dropout", "conv"), name="dropout_conv"))
    layers.append(keras.layers.Flatten(name="flatten"))
    for j, units in enumerate(dense_widths):
        kernel_seed = _layer_seed(seed, "kernel", len(widths) + j)
        layers.append(_dense(keras, units, "relu", f"dense_{j}", kernel_seed, regularizer))
        head = not batch_norm or j < len(dense_widths) - 1  # VGG's last dense layer: neither (the code's rate 0)
        if batch_norm and head:
            layers.append(keras.layers.BatchNormalization(name=f"dense_bn_{j}"))
        if dropout > 0 and head:
            layers.append(keras.layers.Dropout(dropout, seed=_layer_seed(seed, "dropout", j), name=f"dropout_{j}"))
    out_seed = _layer_seed(seed, "kernel", len(widths) + len(dense_widths))
    layers.append(_dense(keras, int(n_classes), output_activation, "output", out_seed, regularizer))
    return keras.Sequential(layers, name=name)


def build_small_cnn(
    *,
    input_shape: Sequence[int] = (28, 28),
    widths: Sequence[int] = (64, 64, 64),
    dense_widths: Sequence[int] = (128,),
    n_classes: int = 10,
    dropout: float = 0.0,
    conv_dropout: float = 0.0,
    l1: float = 0.0,
    l2: float = 0.0,
    output_activation: str = "softmax",
    seed: int,
) -> Any:
    """P2's small CNN (section 3, A.2): 3x3 convolutions of 64 channels, max-pooling 2x2 after every
    one but the first, a dense layer of 128 and the output; dropout ``conv_dropout`` after each convolution
    (after its pooling) and ``dropout`` after the dense layer (P2: 0.25 and 0.5). See :func:`_cnn`."""
    widths = tuple(widths)
    pools = tuple(range(1, len(widths)))
    return _cnn(
        name="small_cnn",
        input_shape=input_shape,
        widths=widths,
        pools=pools,
        dense_widths=dense_widths,
        n_classes=n_classes,
        dropout=dropout,
        conv_dropout=(conv_dropout,) * len(widths),
        l1=l1,
        l2=l2,
        output_activation=output_activation,
        batch_norm=False,
        seed=seed,
    )


#: VGG-16's convolutions per block; each block ends with a 2x2 max-pooling.
VGG16_BLOCKS = (2, 2, 3, 3, 3)
#: Liu & Deng's (and the authors' code's) dropout after VGG's first convolution: 0.3, the others 0.4.
VGG_FIRST_CONV_DROPOUT = 0.3


def vgg_conv_dropout(conv_dropout: float, n_convs: int) -> tuple[float, ...]:
    """Dropout rate of each of VGG's ``n_convs`` convolutions (used after those not followed by pooling).

    Liu & Deng (2015): 0.3 after the first convolution and 0.4 after the others,
    i.e. ``conv_dropout`` after all but the first, which gets
    ``min(conv_dropout, 0.3)`` (0 when ``conv_dropout`` is 0: no dropout).
    """
    if n_convs < 1:
        return ()
    return (min(float(conv_dropout), VGG_FIRST_CONV_DROPOUT),) + (float(conv_dropout),) * (n_convs - 1)


def vgg_pools(n_convs: int) -> tuple[int, ...]:
    """The convolutions (0-based) after which VGG-16 pools, for its 13 convolutions (or fewer: a prefix)."""
    ends = [sum(VGG16_BLOCKS[: b + 1]) - 1 for b in range(len(VGG16_BLOCKS))]
    pools = tuple(e for e in ends if e < n_convs)
    return pools if n_convs - 1 in pools else (*pools, n_convs - 1)


def build_vgg(
    *,
    input_shape: Sequence[int] = (32, 32, 3),
    widths: Sequence[int] = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512),
    dense_widths: Sequence[int] = (512, 512),
    n_classes: int = 10,
    dropout: float = 0.0,
    conv_dropout: float = 0.0,
    l1: float = 0.0,
    l2: float = 0.0,
    output_activation: str = "softmax",
    seed: int,
) -> Any:
    """VGG-16 for CIFAR-10 as Liu & Deng (2015), built as the authors' code (``CNN_VGG_MODEL_PARAMS``,
    ``create_cnn_layers``): VGG-16's 13 convolutions in blocks of 2, 2, 3, 3, 3 (``widths``: their
    channels; narrower for quick runs), each ``Conv2D(relu)`` -> its pooling -> ``BatchNormalization``;
    dropout after every convolution not followed by pooling (0.3 after the first, ``conv_dropout`` = 0.4
    after the others: :func:`vgg_conv_dropout`) and ``dropout`` (0.5) after the last block; then
    ``Dense(512, relu)`` -> batch norm -> ``Dropout(dropout)`` -> ``Dense(512, relu)`` -> the output
    (``dense_widths``: each dense layer but the last gets the batch norm and dropout). See :func:`_cnn`."""
    widths = tuple(widths)
    return _cnn(
        name="vgg",
        input_shape=input_shape,
        widths=widths,
        pools=vgg_pools(len(widths)),
        dense_widths=dense_widths,
        n_classes=n_classes,
        dropout=dropout,
        conv_dropout=vgg_conv_dropout(conv_dropout, len(widths)),
        l1=l1,
        l2=l2,
        output_activation=output_activation,
        batch_norm=True,
        seed=seed,
    )


#: Builders by architecture name; each takes keyword arguments only: ``input_shape``, ``widths``,
#: ``n_classes``, ``dropout``, ``l1``, ``l2``, ``output_activation`` and ``seed`` (required); the CNNs
#: also ``dense_widths`` and ``conv_dropout``, the MLP ``first_layer_l1``.
ARCHITECTURES: dict[str, Callable[..., Any]] = {"mlp": build_mlp, "small_cnn": build_small_cnn, "vgg": build_vgg}
#: Architectures whose graph is the channel graph of their convolutions (P2 section 1.1).
CONV_ARCHITECTURES = ("small_cnn", "vgg")


def build_model(architecture: str, **kwargs: Any) -> Any:
    """Build the named architecture (:data:`ARCHITECTURES`) with ``kwargs`` (see its builder)."""
    try:
        builder = ARCHITECTURES[architecture]
    except KeyError:
        raise InputError(f"unknown architecture {architecture!r}; expected one of {sorted(ARCHITECTURES)}") from None
    return builder(**kwargs)
