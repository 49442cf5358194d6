"""Figures of the papers, drawn with seaborn from the tidy result tables.

Each plot takes a table's CSV (a ``networks`` table: one row per network and
stage) and writes a PNG and a PDF; :data:`PLOTS` names them for the
``figures:`` entries of ``config.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .atomic import atomic_path
from .tables import DATASET_LABELS


def plot_ncut_vs_accuracy(networks_csv: str | Path, out_png: str | Path, out_pdf: str | Path, title: str = "") -> None:
    """P1 figure 2: each network's n-cut against its test accuracy, before and after pruning.

    One panel per dataset; colour = dropout or not x before or after pruning.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    frame = pd.read_csv(networks_csv)
    frame["training"] = frame.apply(
        lambda r: (
            f"{'dropout' if r['dropout'] else 'no dropout'}, {'pruned' if r['stage'] == 'pruned' else 'before pruning'}"
        ),
        axis=1,
    )
    frame["dataset"] = frame["dataset"].map(lambda d: DATASET_LABELS.get(d, d))
    hue_order = ["no dropout, before pruning", "no dropout, pruned", "dropout, before pruning", "dropout, pruned"]
    palette = dict(zip(hue_order, ["#1f3b73", "#7fb2e5", "#1b7a3e", "#f29bc4"]))
    grid = sns.relplot(
        data=frame,
        x="test_acc",
        y="ncut",
        hue="training",
        hue_order=[h for h in hue_order if h in set(frame["training"])],
        palette=palette,
        col="dataset",
        col_order=[label for label in DATASET_LABELS.values() if label in set(frame["dataset"])],
        kind="scatter",
        facet_kws={"sharex": False, "sharey": True},
        height=3.2,
        aspect=1.0,
    )
    grid.set_axis_labels("test accuracy", "n-cut")
    grid.set_titles("{col_name}")
    if title:
        grid.figure.suptitle(title, y=1.04, fontsize=9)
    for out in (out_png, out_pdf):
        with atomic_path(out) as tmp:
            grid.figure.savefig(tmp, dpi=150, bbox_inches="tight", metadata=_fixed_metadata(out))
    plt.close(grid.figure)


def _fixed_metadata(path: str | Path) -> dict[str, object]:
    """Metadata without creation dates, so the same data gives the same file."""
    if str(path).endswith(".pdf"):
        return {"CreationDate": None, "Creator": None, "Producer": None}
    return {"Software": None}


#: Plots by the name a ``figures:`` entry gives as ``plot``.
PLOTS = {"ncut_vs_accuracy": plot_ncut_vs_accuracy}


def plot_figure(plot: str, table_csv: str | Path, out_png: str | Path, out_pdf: str | Path, title: str = "") -> None:
    """Draw the plot named ``plot`` from ``table_csv``."""
    PLOTS[plot](table_csv, out_png, out_pdf, title=title)
