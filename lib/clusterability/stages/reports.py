"""Jobs of the tables-and-figures stage."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("clusterability")


def tables(records: list[dict[str, Any]], k: int, n_shuffles: int, out_table1: str, out_networks: str) -> None:
    """``table1.csv`` and the per-network CSV from every network's result files.

    ``records`` name, per network, its dataset, regime, run, seed and the paths
    of its metrics JSON and, per weight set, of its clustering and gathered
    shuffle JSONs (see :func:`clusterability.tables.network_rows`).
    """
    from ..tables import network_rows, table1, write_csv

    networks, pooled = network_rows(records)
    write_csv(networks, out_networks)
    write_csv(table1(networks, pooled, k=k, n_shuffles=n_shuffles), out_table1)

def figure_ncut_accuracy(networks_csv: str, out_png: str, out_pdf: str, caption: str) -> None:
    """P1 figure 2: n-cut against test accuracy before and after pruning."""
    from ..figures import plot_ncut_vs_accuracy

    plot_ncut_vs_accuracy(networks_csv, out_png, out_pdf, title=caption)
