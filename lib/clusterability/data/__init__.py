"""Real datasets (MNIST, Fashion-MNIST, CIFAR-10): fetch with md5 checks, parse, prepare.

``fetch_raw`` puts a dataset's official raw files in a folder (from a mirror or
the official URLs); ``prepare_dataset`` turns them into a uint8 28x28 grayscale
``.npz`` with train/val/test splits; ``load_prepared`` reads that back.

The names below are loaded on first use (PEP 562), so importing one submodule
(``clusterability.data.prepare`` in a training job) does not import the others
(the downloader ``fetch``): a job's code is the modules it imports
(:mod:`clusterability.provenance`).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Each public name and the submodule that defines it.
_EXPORTS = {
    "fetch": ("fetch_raw", "md5_file", "verify_md5"),
    "formats": ("read_cifar10_bin", "read_idx"),
    "prepare": (
        "Prepared",
        "antialias_matrix",
        "cifar_to_gray28",
        "load_prepared",
        "load_raw",
        "prepare_dataset",
        "resize_antialiased",
        "resize_prepared",
        "split_indices",
    ),
    "sources": ("SOURCES", "DatasetSource", "canonical_name", "dataset_names", "get_source"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
