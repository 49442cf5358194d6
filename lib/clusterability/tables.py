"""Tidy result tables: one row per network, and P1 Table 1 (one row per dataset x dropout).

Table 1 columns (P1 section 3): ``prop_sig`` = fraction of networks lower than
all their shuffles; ``train_acc``/``test_acc`` = means over networks;
``ncut_mean``/``ncut_std`` = sample mean and sd of the networks' n-cuts;
``dist_ncut_mean``/``dist_ncut_std`` = mean and sd over all shuffles of all the
row's networks. Table 1 is computed on the pruned networks (end of training).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .statistics import cohens_d

STAGES = ("unpruned", "pruned")
DATASET_LABELS = {"mnist": "MNIST", "fashion_mnist": "Fashion", "cifar10": "CIFAR-10"}
TABLE1_COLUMNS = [
    "dataset",
    "dropout",
    "n_networks",
    "prop_sig",
    "train_acc",
    "test_acc",
    "ncut_mean",
    "ncut_std",
    "dist_ncut_mean",
    "dist_ncut_std",
    "k",
    "n_shuffles",
]


def _read(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def network_rows(records: list[dict[str, Any]]) -> tuple[pd.DataFrame, dict[tuple[str, bool], np.ndarray]]:
    """One row per (network, weight set) and the pooled `layer` shuffles per Table 1 row.

    Each record holds ``dataset``, ``regime``, ``run``, ``seed``, ``metrics``
    (path) and ``stages``: ``{stage: {"network": path, "shuffles": {method: path}}}``.
    """
    rows = []
    pooled: dict[tuple[str, bool], list[np.ndarray]] = {}
    for rec in records:
        metrics = _read(rec["metrics"])
        dropout = rec["regime"] == "dropout"
        for stage, paths in rec["stages"].items():
            network = _read(paths["network"])
            row: dict[str, Any] = {
                "dataset": rec["dataset"],
                "regime": rec["regime"],
                "dropout": dropout,
                "run": rec["run"],
                "seed": rec["seed"],
                "stage": stage,
                "train_acc": metrics[stage]["train_acc"],
                "val_acc": metrics[stage]["val_acc"],
                "test_acc": metrics[stage]["test_acc"],
                "sparsity": float(np.mean(metrics["sparsity"][stage])),
                "k": network["k"],
                "ncut": network["ncut"],
                "degenerate": network["degenerate"],
                "clustering_seed": network["seed"],
            }
            dists = {}
            for method, path in sorted(paths["shuffles"].items()):
                g = _read(path)
                dists[method] = np.asarray(g["shuffle_ncuts"], dtype=np.float64)
                prefix = "" if method == "layer" else f"{method}_"
                row[f"{prefix}n_shuffles"] = g["n_shuffles"]
                row[f"{prefix}shuffle_mean"] = g["shuffle_mean"]
                row[f"{prefix}shuffle_std"] = g["shuffle_std"]
                row[f"{prefix}p_value"] = g["p_value"]
                row[f"{prefix}z_score"] = g["z_score"]
                row[f"{prefix}significant"] = g["significant"]
            if "layer" in dists and "layer_nonzero" in dists:
                row["cohens_d"] = cohens_d(dists["layer"], dists["layer_nonzero"])
            if stage == "pruned" and "layer" in dists:
                pooled.setdefault((rec["dataset"], dropout), []).append(dists["layer"])
            rows.append(row)
    frame = pd.DataFrame(rows).sort_values(["dataset", "dropout", "run", "stage"], kind="stable")
    frame = frame.reset_index(drop=True)
    return frame, {key: np.concatenate(v) for key, v in pooled.items()}


def table1(
    networks: pd.DataFrame, pooled: dict[tuple[str, bool], np.ndarray], *, k: int, n_shuffles: int
) -> pd.DataFrame:
    """P1 Table 1 from the per-network rows of the pruned networks."""
    rows = []
    pruned = networks[networks["stage"] == "pruned"]
    order = {name: i for i, name in enumerate(DATASET_LABELS)}
    for (dataset, dropout), group in sorted(
        pruned.groupby(["dataset", "dropout"]), key=lambda item: (order.get(item[0][0], 99), item[0][1])
    ):
        dist = pooled.get((dataset, dropout), np.array([]))
        rows.append(
            {
                "dataset": dataset,
                "dropout": bool(dropout),
                "n_networks": int(len(group)),
                "prop_sig": float(group["significant"].astype(bool).mean()),
                "train_acc": float(group["train_acc"].mean()),
                "test_acc": float(group["test_acc"].mean()),
                "ncut_mean": float(group["ncut"].mean()),
                "ncut_std": float(group["ncut"].std(ddof=1)) if len(group) > 1 else float("nan"),
                "dist_ncut_mean": float(dist.mean()) if dist.size else float("nan"),
                "dist_ncut_std": float(dist.std(ddof=1)) if dist.size > 1 else float("nan"),
                "k": k,
                "n_shuffles": n_shuffles,
            }
        )
    return pd.DataFrame(rows, columns=TABLE1_COLUMNS)


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` as CSV atomically, floats with 6 significant digits."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
