"""Tidy result tables: a row per network, or a row per family and weight set.

A table's records (built by the workflow from its entry in ``config.yaml``)
name, per network, its family, run and seed and the paths of its metrics JSON,
of its clusterings (one per stage) and of its gathered shuffles (one per stage
and shuffle method). :func:`network_rows` reads them into one row per network
and stage; :func:`summary` aggregates those into one row per family and stage
(P1 Table 1, its k-sweeps A.1-A.3; P2's tables); :func:`build_table` picks the
analysis and the columns of a table entry.

Summary columns (the names of :data:`clusterability.report.columns.SUMMARY_COLUMNS`):
``regularizer_weight``/``init_beta`` = how the family was trained (P2 section 4; see
:func:`promotion_settings`);
``n_degenerate`` = how many of the row's ``n_networks`` clusterings are degenerate (a cluster of
at most 10 near-isolated neurons, or of neurons with negligible weights,
:func:`clusterability.core.ncut.degeneracy_of`; counted, not
dropped: their n-cuts are in ``ncut_mean``);
``prop_sig`` = fraction of the row's networks lower than all their shuffles;
``train_acc``/``test_acc`` = means over networks (``train_acc``: the papers' "Train acc.", Keras' accuracy
of the last epoch, dropout on; ``train_acc_eval``: the network evaluated on its training images, dropout
off; likewise ``train_loss``/``train_loss_eval``, :mod:`clusterability.train.training`); ``ncut_mean``/``ncut_std``
= sample mean and sd of the networks' n-cuts; ``dist_ncut_mean``/``dist_ncut_std``
= mean and sd over all shuffles of all the row's networks (P1's "Dist. n-cuts");
``mean_dist_mean``/``mean_dist_std`` = the per-network shuffle means and sds,
averaged over networks (P2's "Dist. n-cuts"); ``layer_nonzero_*`` = the same for
the topology-preserving shuffles; ``cohens_d_mean`` = mean Cohen's d between the
two shuffle distributions; ``unpruned_ncut_mean``/``unpruned_ncut_std`` = the
same networks' n-cuts just before pruning (P1's "Unp. n-cuts", Tables 2-4);
``init_ncut_mean``/``init_ncut_std`` = the n-cuts of the table's freshly
initialized networks (its ``init_family``, P1 figure 3) and
``unpruned_init_prop_sig`` = the fraction of the row's networks whose unpruned
n-cut is below all of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterability.atomic import atomic_path
from clusterability.core.statistics import cohens_d
from clusterability.report.columns import COLUMNS, LESION_ANALYSES, METRIC_COLUMNS, PROMOTION_COLUMNS

DATASET_LABELS = {
    "mnist": "MNIST",
    "fashion_mnist": "Fashion",
    "cifar10": "CIFAR-10",
    "lines": "LINES",
    "random": "Random",
    "memorization": "Random (3,000)",
    "lines_mnist": "LINES-MNIST",
    "lines_cifar10": "LINES-CIFAR-10",
    "mnist_cifar10": "MNIST-CIFAR-10",
    "lines_mnist_sep": "LINES-MNIST-SEP",
    "lines_cifar10_sep": "LINES-CIFAR-10-SEP",
    "mnist_cifar10_sep": "MNIST-CIFAR-10-SEP",
    "mnist_halves_same": "MNIST-halves-same",
    "mnist_halves_diff": "MNIST-halves-diff",
    "fashion_halves_same": "Fashion-halves-same",
    "fashion_halves_diff": "Fashion-halves-diff",
    "polynomial": "Polynomial regression",
    "mnist_7x7": "MNIST 7x7",
}
_LABELS = ("family", "dataset", "architecture", "regime", "dropout")


def _read(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _prefix(method: str) -> str:
    return "" if method == "layer" else f"{method}_"


def network_rows(
    records: Sequence[Mapping[str, Any]],
) -> tuple[pd.DataFrame, dict[tuple[str, str, str], list[np.ndarray]]]:
    """One row per (network, stage), and the shuffle n-cuts per (family, stage, method).

    Each record holds ``family``, ``dataset``, ``architecture``, ``regime``,
    ``dropout``, ``run``, ``seed``, ``metrics`` (path) and ``stages``:
    ``{stage: {"network": path, "shuffles": {method: path}}}``.
    """
    rows = []
    dists: dict[tuple[str, str, str], list[np.ndarray]] = {}
    for rec in records:
        metrics = _read(rec["metrics"])  # (records with role "init" come in as rows too; see build_table)
        promotion = promotion_settings(metrics.get("config", {}))
        for stage, paths in rec["stages"].items():
            network = _read(paths["network"])
            row: dict[str, Any] = {key: rec[key] for key in _LABELS}
            row.update(
                **promotion,
                role=rec.get("role", "row"),
                stage=stage,
                pruned=stage == "pruned",
                run=rec["run"],
                seed=rec["seed"],
                **{key: metrics[stage].get(key) for key in METRIC_COLUMNS},
                sparsity=float(np.mean(metrics["sparsity"][stage])),
                k=network["k"],
                ncut=network["ncut"],
                degenerate=network["degenerate"],
                clustering_seed=network["seed"],
            )
            by_method = {}
            for method, path in sorted(paths["shuffles"].items()):
                gathered = _read(path)
                by_method[method] = np.asarray(gathered["shuffle_ncuts"], dtype=np.float64)
                prefix = _prefix(method)
                for key in ("n_shuffles", "shuffle_mean", "shuffle_std", "p_value", "z_score", "significant"):
                    row[f"{prefix}{key}"] = gathered[key]
                dists.setdefault((rec["family"], stage, method), []).append(by_method[method])
            if "layer" in by_method and "layer_nonzero" in by_method:
                row["cohens_d"] = cohens_d(by_method["layer"], by_method["layer_nonzero"])
            rows.append(row)
    return pd.DataFrame(rows), dists


def promotion_settings(config: Mapping[str, Any]) -> dict[str, float]:
    """The :data:`~clusterability.report.columns.PROMOTION_COLUMNS` of a network's training config (metrics.json).

    ``regularizer_weight`` is 0 without the regularizer and ``init_beta`` 1
    without clusterable initialization (the factor of every weight).
    """
    return {
        "regularizer_weight": float(config.get("regularizer_weight", 0.0)),
        "init_beta": float(config.get("init_beta", 1.0)) if config.get("init_tags") else 1.0,
    }


def _mean(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.astype(float).mean()) if len(values) else float("nan")


def _sd(values: np.ndarray | pd.Series) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(values.std(ddof=1)) if values.size > 1 else float("nan")


def summary(
    networks: pd.DataFrame,
    dists: Mapping[tuple[str, str, str], list[np.ndarray]],
    *,
    families: Sequence[str],
    stages: Sequence[str],
    k: int,
    n_shuffles: int,
    init_ncuts: np.ndarray | None = None,
    order: str = "family",
) -> pd.DataFrame:
    """One row per family and stage, in the order given (see the module docstring).

    ``init_ncuts``: the n-cuts of freshly initialized networks, the reference of
    the ``init_*`` and ``unpruned_init_*`` columns. ``order``: ``family`` (each
    family's stages together, P1) or ``stage`` (every family before pruning,
    then every family after: P2's tables).
    """
    rows = []
    pairs = [(f, s) for f in families for s in stages]
    if order == "stage":
        pairs = [(f, s) for s in stages for f in families]
    for family, stage in pairs:
        unpruned = networks[(networks["family"] == family) & (networks["stage"] == "unpruned")]
        group = networks[(networks["family"] == family) & (networks["stage"] == stage)]
        row: dict[str, Any] = {key: group[key].iloc[0] for key in (*_LABELS, *PROMOTION_COLUMNS)}
        row.update(
            stage=stage,
            pruned=stage == "pruned",
            n_networks=int(len(group)),
            n_degenerate=int(np.count_nonzero(group["degenerate"].to_numpy(dtype=bool))),
            **{key: _mean(group[key]) for key in METRIC_COLUMNS},
            ncut_mean=_mean(group["ncut"]),
            ncut_std=_sd(group["ncut"]),
            k=k,
            n_shuffles=n_shuffles,
        )
        for method in ("layer", "layer_nonzero"):
            pooled = dists.get((family, stage, method))
            if not pooled:
                continue
            prefix = _prefix(method)
            flat = np.concatenate(pooled)
            row[f"{prefix}prop_sig"] = _mean(group[f"{prefix}significant"])
            row[f"{prefix}dist_ncut_mean"] = float(flat.mean()) if flat.size else float("nan")
            row[f"{prefix}dist_ncut_std"] = _sd(flat)
            if method == "layer":
                row["mean_dist_mean"] = _mean(group["shuffle_mean"])
                row["mean_dist_std"] = _mean(group["shuffle_std"])
        if "cohens_d" in group:
            row["cohens_d_mean"] = _mean(group["cohens_d"])
        if len(unpruned):
            row["unpruned_ncut_mean"] = _mean(unpruned["ncut"])
            row["unpruned_ncut_std"] = _sd(unpruned["ncut"])
        if init_ncuts is not None and init_ncuts.size:
            row["init_ncut_mean"] = float(init_ncuts.mean())
            row["init_ncut_std"] = _sd(init_ncuts)
            if len(unpruned):
                # Like prop_sig: the fraction of networks whose unpruned n-cut is below every initial one.
                below = unpruned["ncut"].astype(float).to_numpy() < init_ncuts.min()
                row["unpruned_init_prop_sig"] = float(below.mean())
        rows.append(row)
    return pd.DataFrame(rows)


def lesion_rows(records: Sequence[Mapping[str, Any]], table: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of a lesion table: each network's lesion CSV, labelled with the network (P1 section 4).

    ``single_lesions``: a row per sub-module (``single.csv``); ``double_lesions``:
    a row per pair (``pairs.csv``), only pairs of important sub-modules in
    different layers unless ``pairs`` is ``all``; ``lesion_dependencies``: the
    edges of the dependency graph among those pairs.
    """
    from clusterability.lesions import dependency_edges, important_pair

    analysis = table["analysis"]
    frames = []
    for rec in records:
        for stage, files in rec["stages"].items():
            if analysis == "single_lesions":
                frame = pd.read_csv(files["lesions"]["single"])
            else:
                pairs = pd.read_csv(files["lesions"]["pairs"])
                if analysis == "lesion_dependencies":
                    frame = pd.DataFrame(
                        dependency_edges(pairs.to_dict("records")), columns=["source", "target", "why"]
                    )
                elif table.get("pairs", "important") == "important":
                    keep = [
                        important_pair(*r)
                        for r in pairs[["x_type", "y_type", "x_layer", "y_layer"]].itertuples(index=False)
                    ]
                    frame = pairs[np.array(keep, dtype=bool)]
                else:
                    frame = pairs
            labels = {key: rec[key] for key in _LABELS}
            labels.update(stage=stage, pruned=stage == "pruned", run=rec["run"], k=table["k"])
            frames.append(frame.assign(**labels))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def build_table(records: Sequence[Mapping[str, Any]], table: Mapping[str, Any]) -> pd.DataFrame:
    """The rows and columns of one table entry (:class:`clusterability.workflow.experiments.Table` as a dict)."""
    columns = [c for c in table["columns"] if c in COLUMNS[table["analysis"]]]
    if table["analysis"] in LESION_ANALYSES:
        return lesion_rows(records, table).reindex(columns=columns).reset_index(drop=True)
    networks, dists = network_rows(records)
    init = networks[networks["role"] == "init"]
    networks = networks[networks["role"] == "row"]
    if table["analysis"] == "summary":
        frame = summary(
            networks,
            dists,
            families=table["families"],
            stages=table["stages"],
            k=table["k"],
            n_shuffles=table["shuffles"],
            init_ncuts=init["ncut"].astype(float).to_numpy() if len(init) else None,
            order=table.get("order", "family"),
        )
    else:
        order = {f: i for i, f in enumerate(table["families"])}
        networks = networks[networks["stage"].isin(table["stages"])]
        frame = networks.assign(_order=networks["family"].map(order))
        frame = frame.sort_values(["_order", "run", "stage"], kind="stable").drop(columns="_order")
    return frame.reindex(columns=columns).reset_index(drop=True)


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` as CSV atomically, floats with 6 significant digits."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
