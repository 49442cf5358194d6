"""Table analyses on hand-made result files: summary rows per family and stage, network rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clusterability.statistics import cohens_d, summarize
from clusterability.tables import build_table

SHUFFLES = {
    ("a", 0, "layer"): [2.0, 2.2, 2.4],
    ("a", 0, "layer_nonzero"): [1.9, 2.0, 2.1],
    ("a", 1, "layer"): [2.1, 2.3, 2.5],
    ("a", 1, "layer_nonzero"): [2.0, 2.0, 2.3],
    ("b", 0, "layer"): [3.0, 3.1, 3.2],
    ("b", 0, "layer_nonzero"): [3.0, 3.3, 3.6],
}
NCUTS = {("a", 0): 1.8, ("a", 1): 2.2, ("b", 0): 3.05}


def _write(path: Path, obj: dict) -> str:
    path.write_text(json.dumps(obj))
    return str(path)


@pytest.fixture
def records(tmp_path: Path) -> list[dict]:
    out = []
    for (family, run), ncut in NCUTS.items():
        metrics = {
            stage: {"train_acc": 0.9 + run / 100, "val_acc": 0.8, "test_acc": 0.85 + run / 100}
            for stage in ("unpruned", "pruned")
        }
        metrics["sparsity"] = {"unpruned": [0.0, 0.0], "pruned": [0.9, 0.9]}
        net = _write(tmp_path / f"{family}{run}_net.json", {"k": 4, "ncut": ncut, "degenerate": False, "seed": 1})
        shuffles = {}
        for method in ("layer", "layer_nonzero"):
            s = np.array(SHUFFLES[(family, run, method)])
            gathered = {"shuffle_ncuts": s.tolist(), **summarize(ncut, s)}
            shuffles[method] = _write(tmp_path / f"{family}{run}_{method}.json", gathered)
        out.append(
            {
                "family": family,
                "dataset": "mnist",
                "architecture": "mlp",
                "regime": "dropout" if family == "b" else "plain",
                "dropout": family == "b",
                "run": run,
                "seed": 10 + run,
                "metrics": _write(tmp_path / f"{family}{run}_metrics.json", metrics),
                "stages": {"pruned": {"network": net, "shuffles": shuffles}},
            }
        )
    return out


def test_summary_rows_and_columns(records: list[dict]) -> None:
    spec = {
        "analysis": "summary",
        "families": ["b", "a"],
        "stages": ["pruned"],
        "k": 4,
        "shuffles": 3,
        "columns": [
            "family",
            "dropout",
            "n_networks",
            "prop_sig",
            "test_acc",
            "ncut_mean",
            "ncut_std",
            "dist_ncut_mean",
            "dist_ncut_std",
            "mean_dist_mean",
            "mean_dist_std",
            "layer_nonzero_prop_sig",
            "cohens_d_mean",
            "k",
        ],
    }
    table = build_table(records, spec)
    assert list(table.columns) == spec["columns"] and list(table["family"]) == ["b", "a"]
    a = table.iloc[1]
    assert a["n_networks"] == 2 and a["prop_sig"] == 0.5  # run 0 beats all its shuffles, run 1 does not
    assert a["layer_nonzero_prop_sig"] == 0.5
    assert a["test_acc"] == pytest.approx(0.855) and a["ncut_mean"] == pytest.approx(2.0)
    assert a["ncut_std"] == pytest.approx(np.std([1.8, 2.2], ddof=1))
    pooled = SHUFFLES[("a", 0, "layer")] + SHUFFLES[("a", 1, "layer")]
    assert a["dist_ncut_mean"] == pytest.approx(np.mean(pooled))
    assert a["dist_ncut_std"] == pytest.approx(np.std(pooled, ddof=1))
    assert a["mean_dist_mean"] == pytest.approx(2.25) and a["mean_dist_std"] == pytest.approx(0.2)
    d = [cohens_d(SHUFFLES[("a", r, "layer")], SHUFFLES[("a", r, "layer_nonzero")]) for r in (0, 1)]
    assert a["cohens_d_mean"] == pytest.approx(np.mean(d))
    assert np.isnan(table.iloc[0]["ncut_std"])  # one network


def test_network_rows_in_family_order(records: list[dict]) -> None:
    spec = {
        "analysis": "networks",
        "families": ["b", "a"],
        "stages": ["pruned"],
        "k": 4,
        "shuffles": 3,
        "columns": ["family", "run", "ncut", "p_value", "layer_nonzero_p_value", "cohens_d"],
    }
    table = build_table(records, spec)
    assert list(zip(table["family"], table["run"])) == [("b", 0), ("a", 0), ("a", 1)]
    assert list(table["p_value"]) == [0.5, 0.25, 0.5]
    assert table["cohens_d"].iloc[1] == pytest.approx(
        cohens_d(SHUFFLES[("a", 0, "layer")], SHUFFLES[("a", 0, "layer_nonzero")])
    )


def test_p2_order_goes_stage_by_stage_with_losses(records: list[dict]) -> None:
    """P2's tables list every family before pruning, then every family after (``order: stage``)."""
    for rec in records:  # both weight sets clustered; regression-style losses in the metrics
        rec["stages"]["unpruned"] = rec["stages"]["pruned"]
        metrics = json.loads(Path(rec["metrics"]).read_text())
        for stage in ("unpruned", "pruned"):
            metrics[stage].update(train_loss=0.5 + rec["run"], test_loss=0.25, train_mse=0.4, test_mse=0.2)
        Path(rec["metrics"]).write_text(json.dumps(metrics))
    spec = {
        "analysis": "summary",
        "families": ["a", "b"],
        "stages": ["unpruned", "pruned"],
        "k": 4,
        "shuffles": 3,
        "order": "stage",
        "columns": ["family", "pruned", "n_networks", "train_loss", "test_loss", "train_mse", "test_mse"],
    }
    table = build_table(records, spec)
    assert list(zip(table["family"], table["pruned"])) == [("a", False), ("b", False), ("a", True), ("b", True)]
    a = table.iloc[0]
    assert a["train_loss"] == pytest.approx(1.0) and a["test_mse"] == pytest.approx(0.2)  # means over runs 0, 1
    default = build_table(records, {**spec, "order": "family"})
    assert list(zip(default["family"], default["pruned"])) == [("a", False), ("a", True), ("b", False), ("b", True)]
