"""make install's precompile: the network kinds the clustering jobs meet, each clustered and shuffled every way."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

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


def test_bytecode_of_every_module_and_again_after_an_edit(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    modules = [package / "__init__.py", package / "a.py", package / "sub" / "__init__.py", package / "sub" / "b.py"]
    for module in modules:
        module.write_text("X = 1\n")
    assert precompile.compile_bytecode(package)
    cached = [Path(importlib.util.cache_from_source(str(m))) for m in modules]
    assert all(c.is_file() for c in cached)
    # An edited module (other size and time) is compiled again; an untouched one is left as it is.
    before = cached[3].stat().st_mtime_ns, cached[1].stat().st_mtime_ns
    modules[3].write_text("X = 22\n")
    os.utime(modules[3], ns=(before[0] + 10**9, before[0] + 10**9))
    assert precompile.compile_bytecode(package)
    assert cached[3].stat().st_mtime_ns != before[0] and cached[1].stat().st_mtime_ns == before[1]


def test_bytecode_is_written_for_the_library_itself() -> None:
    import clusterability

    assert Path(clusterability.__file__).resolve().parent == precompile.PACKAGE


def test_a_module_that_does_not_compile_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def broken(:\n")
    assert not precompile.compile_bytecode(tmp_path)


def test_bytecode_that_cannot_be_written_does_not_stop_the_numba_step(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    compiled: list[Path] = []

    def compile_bytecode(root: Path = precompile.PACKAGE, workers: int = 1, quiet: int = 1) -> bool:
        compiled.append(root)
        return False

    monkeypatch.setattr(precompile, "compile_bytecode", compile_bytecode)
    monkeypatch.setattr(precompile, "precompile", lambda workers: {"mlp": 0.5})
    precompile.main()
    out = capsys.readouterr().out
    assert "could not be compiled or written" in out and "numba functions compiled and cached in" in out
    # The environment's packages first (their failures unnamed, as pip leaves them), then the library.
    assert compiled == [*precompile.environment_packages(), precompile.PACKAGE]
    assert out.count("could not be compiled") == 1


def test_the_environment_is_where_numpy_is_installed() -> None:
    assert any(Path(np.__file__).resolve().is_relative_to(p.resolve()) for p in precompile.environment_packages())


def test_kmeans_is_left_to_the_other_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """While k-means compiles in the second process, this one clusters with round-robin labels and never
    calls k-means (two processes never compile the same function)."""
    from clusterability.core import kmeans as kmeans_module
    from clusterability.core import spectral

    graph = network_graph(precompile.example_networks()["pruned mlp"])
    expected = spectral.spectral_clusters(graph, 4, seed=0)
    with precompile._without_kmeans():
        monkeypatch.setattr(kmeans_module, "_kmeans_restarts", lambda *args: pytest.fail("k-means called"))
        labels = spectral.spectral_clusters(graph, 4, seed=0)
    monkeypatch.undo()
    kept = labels >= 0
    np.testing.assert_array_equal(labels[kept], np.arange(kept.sum()) % 4)
    np.testing.assert_array_equal(spectral.spectral_clusters(graph, 4, seed=0), expected)  # k-means is back


def test_kmeans_is_compiled_for_the_columns_of_each_number_of_clusters(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[tuple[int, ...], int]] = []
    monkeypatch.setattr(precompile, "kmeans", lambda X, k, **_: calls.append((X.shape, k)))
    precompile.compile_kmeans((2, 7, 12))
    assert calls == [((64, 2), 2), ((64, 7), 7), ((64, 12), 12)]


def test_two_processes_then_every_network_in_this_one() -> None:
    """With two workers: k-means compiled in a spawned process, the rest here without it, then the usual pass
    (on the warm cache of the repository's library: seconds), with k-means back in place."""
    from clusterability.core import kmeans as kmeans_module
    from clusterability.core import spectral

    seconds = precompile.precompile(ks=(4, 7), n_shuffles=1, workers=2)
    assert set(seconds) == set(precompile.example_networks())
    assert spectral.kmeans is kmeans_module.kmeans


def test_usable_cores_without_an_affinity_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the system has no ``sched_getaffinity`` (macOS), the cores it counts."""
    assert 1 <= precompile.usable_cores() <= (os.cpu_count() or 1)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert precompile.usable_cores() == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert precompile.usable_cores() == 1
