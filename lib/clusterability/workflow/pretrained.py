"""The pipeline's jobs for P2 section 3.1's ImageNet models: fetch a torchvision checkpoint, import it as a network."""

from __future__ import annotations

import hashlib
import os
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from clusterability.atomic import atomic_path, write_json
from clusterability.core.network import NetworkWeights
from clusterability.errors import InputError
from clusterability.io.npz import save_weights
from clusterability.io.torchvision import random_torchvision_state, torchvision_weights

# ---------------------------------------------------------------------------- checkpoints

#: torchvision's ImageNet checkpoints (the ``IMAGENET1K_V1`` weights); the hex part of each file name
#: is the start of the file's sha256 (torch.hub's convention).
CHECKPOINTS = {
    "vgg16": "vgg16-397923af.pth",
    "vgg19": "vgg19-dcbb9e9d.pth",
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth",
    "inception_v3": "inception_v3_google-0cc3c7bd.pth",
}
CHECKPOINT_URL = "https://download.pytorch.org/models/"
_HASH = re.compile(r"-([a-f0-9]{8,})\.")


def fetch_checkpoint(
    architecture: str,
    dest: str | os.PathLike[str],
    mirror: str | os.PathLike[str] | None = None,
    opener: Callable[[str], Any] | None = None,
) -> Path:
    """torchvision's checkpoint of ``architecture`` at ``dest``: copied from ``mirror`` (a folder holding
    it under its torchvision file name or ``<architecture>.pth``) or downloaded from
    :data:`CHECKPOINT_URL`, and verified against the sha256 prefix in its file name."""
    if architecture not in CHECKPOINTS:
        raise InputError(f"no torchvision checkpoint for {architecture!r}; choose one of {', '.join(CHECKPOINTS)}")
    name = CHECKPOINTS[architecture]
    prefix = _HASH.search(name).group(1)
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        digest = hashlib.sha256()
        if mirror is not None:
            candidates = [Path(mirror) / name, Path(mirror) / f"{architecture}.pth"]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise InputError(f"{mirror}: holds neither {name} nor {architecture}.pth; put the checkpoint there")
            src: Any = open(found, "rb")  # noqa: SIM115 - closed below
            where = str(found)
        else:
            where = CHECKPOINT_URL + name
            try:
                src = (opener or (lambda url: urllib.request.urlopen(url, timeout=60)))(where)  # noqa: S310
            except OSError as exc:
                raise InputError(
                    f"could not download {where} ({exc}); put the checkpoint into imagenet.checkpoints"
                ) from None
        try:
            with open(tmp, "wb") as out:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        finally:
            src.close()
        if not digest.hexdigest().startswith(prefix):
            raise InputError(f"{where}: sha256 {digest.hexdigest()[:16]}... does not start with {prefix} ({name})")
    return dest


def import_pretrained(
    architecture: str,
    checkpoint: str | os.PathLike[str] | None,
    seed: int,
    out_weights: str | os.PathLike[str],
    out_metrics: str | os.PathLike[str],
) -> dict[str, Any]:
    """Write the wired weights of a pretrained ImageNet model (or, ``checkpoint=None``, a randomly
    initialized one from ``seed``) and a metrics JSON in the shape of a trained network's
    (accuracies ``null``: ImageNet itself is not evaluated here)."""
    from clusterability.io.network_files import read_network

    if checkpoint is None:
        state = random_torchvision_state(architecture, seed)
        weights = torchvision_weights(state, architecture, f"random {architecture} (seed {seed})")
    else:
        weights = read_network(checkpoint)
        if not weights.is_dag:  # a VGG: its convolutions (the graph), not the 100M-weight dense head
            n = next((i for i, k in enumerate(weights.kernels) if k.ndim != 4), weights.n_layers)
            weights = NetworkWeights(weights.kernels[:n], weights.biases[:n], weights.batch_norms[:n], weights.source)
    save_weights(out_weights, weights)
    sparsity = [float(np.mean(k == 0)) for k in weights.kernels]
    empty = {f"{split}_{m}": None for split in ("train", "val", "test") for m in ("acc", "loss")}
    metrics = {
        "pretrained": architecture,
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "seed": int(seed) if checkpoint is None else None,
        "task": "classification",
        "unpruned": empty,
        "pruned": empty,
        "sparsity": {"unpruned": sparsity, "pruned": sparsity},
        "weight_shapes": [list(k.shape) for k in weights.kernels],
    }
    write_json(out_metrics, metrics)
    return metrics
