"""Several runs of one family trained in one process, one after the other (issue 22 section 3).

Each run is :func:`clusterability.train.training.train_and_prune` with its own
seed, and equals the same run trained alone in a fresh process, bit for bit;
the process start, the TensorFlow import and reading the data are paid once
per job instead of once per network. A module of its own, so that the
one-network training job's code (its code hash) does not depend on it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clusterability.train.config import TrainConfig
from clusterability.train.training import train_and_prune


@dataclass(frozen=True)
class RunFiles:
    """One run of :func:`train_runs`: its seed and where its files go (``None``: not written)."""

    seed: int
    model: str | os.PathLike[str] | None = None
    weights_unpruned: str | os.PathLike[str] | None = None
    weights_pruned: str | os.PathLike[str] | None = None
    metrics: str | os.PathLike[str] | None = None


def train_runs(
    data: dict[str, np.ndarray], config: TrainConfig, runs: Sequence[RunFiles], threads: int | None = None
) -> list[dict[str, Any]]:
    """Train and prune several runs of one family in this process, one after the other (issue 22 section 3).

    Each run is :func:`train_and_prune` with its own seed, so its weights,
    Adam moments, dropout masks, data order and pruning masks (tfmot's, one
    threshold per kernel) are its own: every global seed is set again from each
    run's seed, the layers are named explicitly, and Keras' session is cleared
    between runs (freeing the previous run's graphs), so a run trained here
    equals the same run trained alone in a fresh process, bit for bit (tested).
    Returns the runs' metrics, in order; ``wall_seconds.setup`` of every run
    after the first has no import in it.
    """
    metrics = []
    for index, run in enumerate(runs):
        if index:
            from clusterability.train.runtime import import_tf

            _, keras, _ = import_tf(threads=threads)
            keras.backend.clear_session()
        metrics.append(
            train_and_prune(
                data,
                config,
                run.seed,
                threads=threads,
                out_model=run.model,
                out_weights_unpruned=run.weights_unpruned,
                out_weights_pruned=run.weights_pruned,
                out_metrics=run.metrics,
            )
        )
    return metrics
