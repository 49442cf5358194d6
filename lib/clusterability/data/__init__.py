"""Real datasets (MNIST, Fashion-MNIST, CIFAR-10): fetch with md5 checks, parse, prepare.

``fetch_raw`` puts a dataset's official raw files in a folder (from a mirror or
the official URLs); ``prepare_dataset`` turns them into a uint8 28x28 grayscale
``.npz`` with train/val/test splits; ``load_prepared`` reads that back.
"""

from .fetch import fetch_raw, md5_file, verify_md5
from .formats import read_cifar10_bin, read_idx
from .prepare import (
    Prepared,
    antialias_matrix,
    cifar_to_gray28,
    load_prepared,
    load_raw,
    prepare_dataset,
    resize_antialiased,
    resize_prepared,
    split_indices,
)
from .sources import SOURCES, DatasetSource, canonical_name, dataset_names, get_source

__all__ = [
    "SOURCES",
    "DatasetSource",
    "Prepared",
    "antialias_matrix",
    "canonical_name",
    "cifar_to_gray28",
    "dataset_names",
    "fetch_raw",
    "get_source",
    "load_prepared",
    "load_raw",
    "md5_file",
    "prepare_dataset",
    "read_cifar10_bin",
    "read_idx",
    "resize_antialiased",
    "resize_prepared",
    "split_indices",
    "verify_md5",
]
