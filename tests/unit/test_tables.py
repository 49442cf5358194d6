"""Table analyses on hand-made result files: summary rows per family and stage, network rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clusterability.core.statistics import cohens_d, summarize
from clusterability.report.tables import build_table

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
            stage: {"train_acc": 0.9 + run / 100, "train_acc_eval": 0.95 + run / 100, "test_acc": 0.85 + run / 100}
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


def test_summary_counts_degenerate_clusterings(records: list[dict]) -> None:
    """``n_degenerate``: how many of a row's networks have a degenerate clustering (counted, not dropped)."""
    from clusterability.report.columns import COLUMNS, SUMMARY_COLUMNS

    assert "n_degenerate" in SUMMARY_COLUMNS and COLUMNS["summary"] is SUMMARY_COLUMNS
    net = Path(records[1]["stages"]["pruned"]["network"])  # family a, run 1
    net.write_text(json.dumps({**json.loads(net.read_text()), "degenerate": True}))
    spec = {
        "analysis": "summary",
        "families": ["a", "b"],
        "stages": ["pruned"],
        "k": 4,
        "shuffles": 3,
        "columns": ["family", "n_networks", "n_degenerate", "ncut_mean"],
    }
    table = build_table(records, spec)
    assert list(table.columns) == spec["columns"]
    assert table[["family", "n_networks", "n_degenerate"]].values.tolist() == [["a", 2, 1], ["b", 1, 0]]
    assert table["ncut_mean"].iloc[0] == pytest.approx(2.0)  # the degenerate network's n-cut still counts
    assert table["n_degenerate"].dtype.kind == "i"


def test_train_acc_is_the_papers_and_the_evaluation_is_apart(records: list[dict]) -> None:
    """``train_acc``: the papers' "Train acc." (training mode, dropout on); ``train_acc_eval``: dropout off.
    No ``val_acc``: the validation images are trained on."""
    from clusterability.report.columns import NETWORK_COLUMNS, SUMMARY_COLUMNS

    for columns in (SUMMARY_COLUMNS, NETWORK_COLUMNS):
        assert {"train_acc", "train_acc_eval", "train_loss", "train_loss_eval"} <= set(columns)
        assert "val_acc" not in columns
    spec = {
        "analysis": "summary",
        "families": ["a", "b"],
        "stages": ["pruned"],
        "k": 4,
        "shuffles": 3,
        "columns": ["family", "train_acc", "train_acc_eval", "test_acc"],
    }
    table = build_table(records, spec)
    assert table["train_acc"].tolist() == pytest.approx([0.905, 0.9])  # means over each family's runs
    assert table["train_acc_eval"].tolist() == pytest.approx([0.955, 0.95])
    # Hostile: a metrics file written before train_acc_eval existed gives an empty cell, not a crash.
    metrics = json.loads(Path(records[2]["metrics"]).read_text())
    del metrics["pruned"]["train_acc_eval"]
    Path(records[2]["metrics"]).write_text(json.dumps(metrics))
    table = build_table(records, {**spec, "analysis": "networks", "columns": ["family", "run", "train_acc_eval"]})
    assert table["train_acc_eval"].iloc[:2].tolist() == pytest.approx([0.95, 0.96]) and np.isnan(table.iloc[2, 2])
