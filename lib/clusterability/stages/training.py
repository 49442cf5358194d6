"""Jobs of the training stage: train and prune one network."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("clusterability")


def train_network(
    data_path: str,
    settings: dict[str, Any],
    seed: int,
    threads: int,
    out_model: str,
    out_weights_unpruned: str,
    out_weights_pruned: str,
    out_metrics: str,
) -> None:
    """Train one MLP, prune it, and save the model, both weight sets and the metrics."""
    from ..data.prepare import load_prepared
    from ..training import TrainConfig, train_and_prune

    data = load_prepared(data_path)
    config = TrainConfig.from_dict(settings)
    metrics = train_and_prune(
        data,
        config,
        seed=seed,
        threads=threads,
        out_model=out_model,
        out_weights_unpruned=out_weights_unpruned,
        out_weights_pruned=out_weights_pruned,
        out_metrics=out_metrics,
    )
    log.info(
        "trained seed %d: test accuracy %.4f before pruning, %.4f after",
        seed,
        metrics["unpruned"]["test_acc"],
        metrics["pruned"]["test_acc"],
    )
