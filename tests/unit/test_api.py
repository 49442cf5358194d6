"""The public API (:mod:`clusterability.api`): the README's example runs, and it gives the CLI's numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from planted import build_planted_mlp, same_partition

from clusterability import api
from clusterability.cli import main
from clusterability.core.network import NetworkWeights

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, np.ndarray]:
    kernels, modules = build_planted_mlp((12, 12, 12), 3, seed=2)
    path = tmp_path / "weights.npz"
    api.save_weights(path, NetworkWeights(tuple(kernels)))
    return path, modules


def test_every_public_name_resolves() -> None:
    assert all(getattr(api, name) is not None for name in api.__all__)


def test_measure_is_the_clis_result(planted: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, modules = planted
    result = api.measure(path, k=3, shuffles=6, seed=4)
    assert (
        main(["ncut", str(path), "--k", "3", "--shuffles", "6", "--seed", "4", "--json", str(tmp_path / "r.json")]) == 0
    )
    cli = json.loads((tmp_path / "r.json").read_text())
    assert {key: cli[key] for key in result} == result
    assert result["significant"] and same_partition(np.array(result["labels"]), modules)
    assert api.measure(api.read_network(path), k=3, shuffles=6, seed=4) == result  # weights in memory


def test_the_readme_example_runs(planted: tuple[Path, np.ndarray], tmp_path: Path, monkeypatch) -> None:
    """The README's Python block, as written, on a planted network saved as weights.npz."""
    block = re.search(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    assert "from clusterability import api" in block and "clusterability." not in block.replace(
        "from clusterability import api", ""
    )
    monkeypatch.chdir(planted[0].parent)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert Path("network.png").stat().st_size > 0 and namespace["result"]["significant"]


def test_draw_refuses_what_it_cannot_draw(planted: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    graph = api.network_graph(api.read_network(planted[0]))
    clustering = api.cluster_network(graph, 3, seed=0)
    with pytest.raises(api.InputError, match=r"\.png, \.pdf or \.svg"):
        api.draw(graph, clustering, tmp_path / "network.txt")
    assert api.draw(graph, clustering, tmp_path / "n.svg").read_text().startswith("<?xml")
