"""Jobs of the datasets stage: fetch raw files, prepare the `.npz` datasets."""

from __future__ import annotations

import logging

log = logging.getLogger("clusterability")


def fetch_dataset(name: str, dest_dir: str, mirror: str | None) -> None:
    """Raw files of dataset ``name`` into ``dest_dir``, from ``mirror`` or the canonical URLs, md5-verified."""
    from ..data.fetch import fetch_raw

    files = fetch_raw(name, dest_dir, mirror=mirror)
    log.info("%s: %d files verified in %s", name, len(files), dest_dir)

def prepare_dataset(
    name: str, raw_dir: str, out_path: str, validation_size: int, seed: int, n_train: int | None, n_test: int | None
) -> None:
    """The prepared ``.npz`` (28x28 uint8, train/validation/test) of dataset ``name``."""
    from ..data.prepare import prepare_dataset as prepare

    prepare(name, raw_dir, out_path, val_size=validation_size, seed=seed, n_train=n_train, n_test=n_test)
    log.info("%s prepared at %s", name, out_path)
