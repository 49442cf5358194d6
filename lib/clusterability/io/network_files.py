"""Reading a user's network from any of the files it may come in, by suffix.

=====================  ==========================================================
``.npz``               the pipeline's own format (:mod:`clusterability.io.npz`)
``.keras``, ``.h5``    a saved Keras model, read as data (h5py; no Keras: :mod:`clusterability.io.keras_files`)
``.safetensors``       a PyTorch state dict (:mod:`clusterability.io.state_dict`; no torch);
                       torchvision ResNets and Inception-V3 are wired by their names
                       (:mod:`clusterability.io.torchvision`)
``.pt``, ``.pth``      ``torch.save(model.state_dict())`` (restricted unpickler; no torch)
``.onnx``              an ONNX model (:mod:`clusterability.io.onnx_io`; no runtime)
=====================  ==========================================================

Every reader returns :class:`~clusterability.core.network.NetworkWeights` or raises
a one-line :class:`~clusterability.errors.InputError` naming the file (and the
layer it cannot map).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from clusterability.core.network import NetworkWeights
from clusterability.errors import InputError
from clusterability.io.npz import load_weights

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
TORCH_SUFFIXES = (".pt", ".pth")
#: Every suffix :func:`read_network` reads.
SUFFIXES = (".npz", *KERAS_SUFFIXES, ".safetensors", *TORCH_SUFFIXES, ".onnx")


def read_network(path: str | os.PathLike[str], layers: Sequence[str] | None = None) -> NetworkWeights:
    """The weights of the network in ``path`` (format by suffix; see the module docstring).

    ``layers`` gives a PyTorch state dict's layer modules in forward order
    (needed for ``.safetensors`` files whose module names do not sort that way).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if layers is not None and suffix not in (".safetensors", *TORCH_SUFFIXES):
        raise InputError(f"{path}: a layer order (--layers) is for PyTorch state dicts (.safetensors, .pt) only")
    if suffix in (".npz", "") or suffix not in SUFFIXES:
        return load_weights(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    if suffix in KERAS_SUFFIXES:
        from clusterability.io.keras_files import load_keras_model_weights

        return load_keras_model_weights(path)
    if suffix == ".onnx":
        from clusterability.io.onnx_io import weights_from_onnx

        return weights_from_onnx(path)
    from clusterability.io.state_dict import read_safetensors, read_torch_zip, weights_from_state_dict
    from clusterability.io.torchvision import detect_torchvision, torchvision_weights

    ordered = suffix != ".safetensors"
    state = read_torch_zip(path) if ordered else read_safetensors(path)
    architecture = detect_torchvision(state) if layers is None else None
    if architecture is not None:  # a torchvision ResNet or Inception-V3: wired by its names
        return torchvision_weights(state, architecture, str(path))
    return weights_from_state_dict(state, str(path), layers, ordered=ordered)
