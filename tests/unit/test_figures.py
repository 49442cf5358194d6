"""P2's figure kinds drawn from small frames: the clusterability scatter and dataset samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clusterability.data.synthetic import make_dataset
from clusterability.report.figures import plot_clusterability, plot_dataset_figure, samples_of_class, save_figure


def _networks() -> pd.DataFrame:
    rows = []
    for regime, shift in (("plain", 0.0), ("l1", -2.0)):
        for dataset in ("mnist", "fashion_mnist"):
            for stage in ("unpruned", "pruned"):
                rows.append(
                    {
                        "regime": regime,
                        "dataset": dataset,
                        "stage": stage,
                        "k": 12,
                        "ncut": 9.5 + shift,
                        "shuffle_mean": 10.0 + shift,
                        "p_value": 1 / 51,
                    }
                )
    return pd.DataFrame(rows)


def test_clusterability_scatter_labels_every_network_with_its_p_value(tmp_path: Path) -> None:
    fig = plot_clusterability(_networks())
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == 8 and set(labels) == {f"{1 / 51:.2g}"}
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"MNIST, None", "Fashion, L1", "pruned", "before pruning"} <= legend  # colour and marker
    assert "k = 12" in ax.get_xlabel()
    outputs = [tmp_path / "f.png", tmp_path / "f.pdf"]
    save_figure(fig, outputs, "t")
    assert all(p.stat().st_size > 1000 for p in outputs)


def test_dataset_samples_show_the_class_asked_for(tmp_path: Path) -> None:
    path = make_dataset("lines", "lines", tmp_path / "l.npz", n_train=10, n_val=2, n_test=200, seed=0)
    from clusterability.data.prepare import load_prepared

    data = load_prepared(path)
    chosen = samples_of_class(data["x_test"], data["y_test"], 3, 10)
    assert len(chosen) == 10 and ((chosen == 255).all(axis=1).sum(axis=1) == 4).all()  # class 3: four lines
    outputs = [tmp_path / "s.png", tmp_path / "s.pdf"]
    plot_dataset_figure("dataset_samples", [path, path], outputs, label=3, samples=10, title="samples")
    assert all(p.stat().st_size > 1000 for p in outputs)
    assert np.asarray(samples_of_class(data["x_test"], data["y_test"], 3, 10000)).shape[0] < 200


def test_cohens_d_figure_of_a_single_dataset(tmp_path: Path) -> None:
    """P1 figure A.1 restricted to one family: seaborn's dodge divides by (datasets - 1), so one dataset has none."""
    from clusterability.report.figures import plot_cohens_d

    frame = pd.DataFrame(
        {"dataset": "mnist", "dropout": [True, True], "regime": "dropout", "stage": ["unpruned", "pruned"]}
        | {"cohens_d": [0.4, 1.2]}
    )
    fig = plot_cohens_d(frame)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["dropout, unpruned", "dropout, pruned"]
    save_figure(fig, [tmp_path / "a1.png"], "t")
    assert (tmp_path / "a1.png").stat().st_size > 1000
