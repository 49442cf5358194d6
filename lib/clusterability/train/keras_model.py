"""Keras models in memory: their kernels as :class:`~clusterability.core.network.NetworkWeights`, and saving.

:func:`network_weights` reads the Dense and Conv2D kernels (with biases and the
batch normalization that follows a layer) of an in-memory ``tf_keras`` model in
layer order; :func:`save_keras_model` writes a model atomically. TensorFlow is
imported through :mod:`clusterability.train.runtime` when one of these is called.
A *saved* model file is read without Keras by :mod:`clusterability.io.keras_files`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from clusterability.atomic import atomic_path
from clusterability.core.network import BatchNorm, NetworkWeights
from clusterability.errors import InputError
from clusterability.io.wiring import DagBuilder

_MODEL_SUFFIXES = (".keras", ".h5")


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

    A functional model with residual sums or concatenations (ResNet, Inception:
    ``keras.applications``, ``image-classifiers``) is wired instead
    (:func:`dag_network_weights`).

    A BatchNormalization layer that follows a kernel layer is stored as that
    layer's batch norm (gamma, moving variance, epsilon; beta and moving mean
    too). Layers without weights (Flatten, Dropout, pooling, activations) are
    skipped; other layers with weights are an :class:`InputError`. Pruning
    wrappers must be stripped first.
    """
    from clusterability.train.runtime import import_tf

    _, keras, _ = import_tf()
    if any(isinstance(layer, _MERGE_TYPES(keras)) for layer in _iter_layers(model)):
        return dag_network_weights(model, source)
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
            norms[-1] = _batch_norm(layer, n_out)
        elif layer.weights:
            raise InputError(
                f"{source}: layer {layer.name!r} ({type(layer).__name__}) has weights but is not "
                "Dense, Conv2D or BatchNormalization; only those are supported"
            )
    if not kernels:
        raise InputError(f"{source}: the model has no Dense or Conv2D layer")
    return NetworkWeights(tuple(kernels), tuple(biases), tuple(norms), source)


def _MERGE_TYPES(keras: Any) -> tuple[type, ...]:  # noqa: N802 - a constant that needs keras
    layers = keras.layers
    return (layers.Add, layers.Concatenate, layers.Average, layers.Maximum, layers.Minimum, layers.Multiply)


def _inbound(layer: Any) -> list[Any]:
    nodes = getattr(layer, "_inbound_nodes", [])
    if not nodes:
        return []
    inbound = nodes[0].inbound_layers
    return list(inbound) if isinstance(inbound, (list, tuple)) else [inbound]


def _batch_norm(layer: Any, n_out: int) -> BatchNorm:
    gamma = np.ones(n_out) if layer.gamma is None else np.asarray(layer.gamma.numpy())
    return BatchNorm(
        gamma=gamma,
        moving_variance=np.asarray(layer.moving_variance.numpy()),
        epsilon=float(layer.epsilon),
        beta=None if layer.beta is None else np.asarray(layer.beta.numpy()),
        moving_mean=np.asarray(layer.moving_mean.numpy()),
    )


def dag_network_weights(model: Any, source: str = "<keras model>") -> NetworkWeights:
    """The wired convolutions of a functional model with residual sums or concatenations.

    Layers are followed in the model's (topological) order: ``Conv2D`` layers
    become kernels reading the sum/concatenation of earlier ones
    (:mod:`clusterability.core.dag_graph`), a ``BatchNormalization`` right after a
    convolution is folded into it, ``Add`` and ``Concatenate`` (on channels)
    wire, layers without weights pass their input on, and the head after the
    first ``Flatten``/global pooling/``Dense`` is left out. Anything else with
    weights, another merge (``Multiply``, ...) or a batch norm after a merge is
    an :class:`InputError` naming the layer.
    """
    from clusterability.train.runtime import import_tf

    _, keras, _ = import_tf()
    layers = keras.layers
    builder = DagBuilder(source)
    produced: dict[str, Any] = {}
    head = (layers.Flatten, layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D, layers.Dense)
    for layer in model.layers:
        inputs = [produced[l.name] for l in _inbound(layer)]
        label = f"{source}: layer {layer.name!r} ({type(layer).__name__})"
        if isinstance(layer, layers.InputLayer):
            builder.input_channels = int(
                layer.output_shape[0][-1] if isinstance(layer.output_shape, list) else layer.output_shape[-1]
            )
            produced[layer.name] = ()
        elif any(x is None for x in inputs) or isinstance(layer, head):
            if isinstance(layer, layers.Conv2D):
                raise InputError(f"{label} follows the dense head; not supported")
            produced[layer.name] = None
        elif isinstance(layer, layers.Conv2D) and not isinstance(
            layer, (layers.Conv2DTranspose, layers.DepthwiseConv2D, layers.SeparableConv2D)
        ):
            if getattr(layer, "groups", 1) != 1:
                raise InputError(f"{label} is a grouped convolution; not supported")
            produced[layer.name] = builder.conv(layer.name, np.asarray(layer.kernel.numpy()), inputs[0])
        elif isinstance(layer, layers.BatchNormalization):
            n_out = builder.width(inputs[0])
            produced[layer.name] = builder.norm(inputs[0], _batch_norm(layer, n_out), layer.name)
        elif isinstance(layer, layers.Add):
            produced[layer.name] = builder.add(*inputs, name=layer.name)
        elif isinstance(layer, layers.Concatenate):
            if layer.axis not in (-1, 3):
                raise InputError(f"{label} concatenates along axis {layer.axis}, not the channels")
            produced[layer.name] = builder.concat(*inputs, name=layer.name)
        elif layer.weights or isinstance(layer, _MERGE_TYPES(keras)) or len(inputs) != 1:
            raise InputError(
                f"{label} cannot be mapped to the channel graph (only Conv2D, batch norm, Add, Concatenate)"
            )
        else:
            produced[layer.name] = inputs[0]
    return builder.weights()


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


def keras_application(name: str, weights: str | None = None) -> Any:
    """A ``keras.applications`` ImageNet model (VGG16, VGG19, ResNet50, InceptionV3) without its head.

    ``weights="imagenet"`` downloads Keras' pretrained weights (cached in
    ``~/.keras/models``); ``None`` initializes at random. ResNet-18/34 are not in
    ``keras.applications``: use torchvision checkpoints or the ``image-classifiers`` package.
    """
    from clusterability.train.runtime import import_tf

    _, keras, _ = import_tf()
    builders = {
        "vgg16": keras.applications.VGG16,
        "vgg19": keras.applications.VGG19,
        "resnet50": keras.applications.ResNet50,
        "inception_v3": keras.applications.InceptionV3,
    }
    if name not in builders:
        raise InputError(f"keras.applications has no {name!r}; choose one of {', '.join(builders)}")
    return builders[name](weights=weights, include_top=False)
