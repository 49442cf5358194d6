"""make install's precompile: the network kinds the clustering jobs meet, each clustered and shuffled every way."""

from __future__ import annotations

import numpy as np
import pytest

from clusterability.core.build import network_graph
from clusterability.core.dag_graph import DagGraph
from clusterability.core.shuffles import SHUFFLE_METHODS
from clusterability.workflow import precompile


def test_the_example_networks_are_the_kinds_jobs_cluster() -> None:
    networks = precompile.example_networks()
    assert set(networks) == {"mlp", "pruned mlp", "cnn", "residual"}
    mlp, pruned = networks["mlp"], networks["pruned mlp"]
    assert [k.shape for k in mlp.kernels] == [(784, 256), (256, 256), (256, 256), (256, 256), (256, 10)]
    assert all(k.dtype == np.float32 for k in (*mlp.kernels, *pruned.kernels))
    assert 0.85 < np.mean(np.concatenate([k.ravel() for k in pruned.kernels]) == 0) < 0.95
    assert [k.ndim for k in networks["cnn"].kernels] == [4, 4, 4, 2, 2]
    assert isinstance(network_graph(networks["residual"]), DagGraph)


def test_each_network_is_clustered_and_shuffled_by_every_method(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(precompile, "cluster_network", lambda graph, k, seed: calls.append((f"k={k}", graph)))

    def shuffle_chunk(graph: object, k: int, *, seed: int, method: str, indices: range) -> None:
        calls.append((method, graph))

    monkeypatch.setattr(precompile, "shuffle_chunk", shuffle_chunk)
    seconds = precompile.precompile()
    assert set(seconds) == set(precompile.example_networks())
    assert [name for name, _ in calls] == [*(f"k={k}" for k in (2, 4, 5, 7, 10, 12)), *SHUFFLE_METHODS] * 4
    assert len({id(graph) for _, graph in calls}) == 4
