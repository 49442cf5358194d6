"""Projected core-hours (clusterability.workflow.costs): unit costs read from a run, multiplied out per table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from clusterability.errors import InputError
from clusterability.workflow.config import load_config
from clusterability.workflow.costs import (
    FirstSteps,
    TrainingCost,
    UnitCosts,
    architecture,
    makespan,
    measure_unit_costs,
    project_costs,
    project_networks,
    project_total,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def paper():
    """The experiments of config.yaml (its catalogue merged in) at the papers' settings."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    return load_config(config, REPO / "schemas/config.schema.yaml")[1]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _metrics(
    setup: float,
    train: float,
    prune: float,
    evaluate: float,
    epochs: int,
    prune_epochs: int,
    n_train: int = 1280,
    batch_size: int = 128,
) -> str:
    """A trained network's metrics.json: its phases' wall seconds, epochs and images (1,280: 10 steps an epoch)."""
    return json.dumps(
        {
            "wall_seconds": {"setup": setup, "train": train, "prune": prune, "evaluate": evaluate},
            "epochs_run": {"train": epochs, "prune": prune_epochs},
            "n_train": n_train,
            "config": {"batch_size": batch_size, "epochs": epochs, "prune_epochs": prune_epochs},
        }
    )


#: The columns of Snakemake's benchmark TSVs (a rule's ``benchmark:``); :func:`_line` writes a job's line as it does.
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _line(seconds: float) -> str:
    hms = f"{int(seconds) // 3600}:{int(seconds) % 3600 // 60:02d}:{int(seconds) % 60:02d}"
    return f"{seconds:.2f}\t{hms}\t412.30\t1893.52\t398.11\t401.07\t12.85\t0.04\t97.31\t{seconds * 0.97:.2f}\n"


def _benchmark(path: Path, *seconds: float) -> None:
    """A job's benchmark: one line per run (``repeat(path, n)`` runs it n times)."""
    _write(path, HEADER + "".join(_line(s) for s in seconds))


def _chunk(path: Path, indices: range) -> None:
    """A shuffle_chunk job's JSON: the n-cuts of its shuffles."""
    _write(path, json.dumps({"method": "layer", "indices": list(indices), "ncuts": [2.1] * len(indices)}))


def test_unit_costs_from_a_run(tmp_path: Path) -> None:
    nets = tmp_path / "results/networks"
    # Each phase's first step costs 1 s (training) and 2 s (pruning) more than the 30 steps after it.
    _write(nets / "mnist_plain/run0/metrics.json", _metrics(4.0, 7.0, 11.0, 2.0, epochs=3, prune_epochs=3))
    _write(nets / "mnist_plain/run1/metrics.json", _metrics(6.0, 13.0, 17.0, 2.0, epochs=3, prune_epochs=3))
    # No epochs at all (freshly initialized networks): everything is fixed cost.
    _write(nets / "mlp_init/run0/metrics.json", _metrics(4.0, 0.0, 0.5, 1.0, epochs=0, prune_epochs=0))
    bench = tmp_path / "results/benchmarks"
    _benchmark(bench / "cluster_network/mnist_plain/run0/pruned/k4.tsv", 1.5)
    _benchmark(bench / "cluster_network/mnist_plain/run1/pruned/k4.tsv", 2.0, 3.0)  # repeated: the mean, 2.5
    # A job that did not finish has no benchmark (only its log): left out.
    _write(tmp_path / "logs/cluster_network/mnist_plain/run1/pruned/k7.log", "killed before the end\n")
    # Chunks of 3: the first holds shuffles 0-2, the second shuffle 3 (a table with 4 shuffles).
    _benchmark(bench / "shuffle_chunk/mnist_plain/run0/pruned/k4/layer/chunk0.tsv", 6.0)
    _benchmark(bench / "shuffle_chunk/mnist_plain/run0/pruned/k4/layer/chunk1.tsv", 4.0)
    chunks = tmp_path / "results/clustering/mnist_plain/run0/pruned/k4/layer"
    _chunk(chunks / "chunk0.json", range(0, 3))
    _chunk(chunks / "chunk1.json", range(3, 4))
    # A chunk whose JSON is gone: its shuffles are unknown, so it is left out.
    _benchmark(bench / "shuffle_chunk/mnist_plain/run0/pruned/k4/layer_nonzero/chunk0.tsv", 8.0)
    # Shuffles that fit one chunk are made by their gather ("chunks": 0), which clustered the network too: 3 s for
    # 3 clusterings, 1 s each (the clustering's where no cluster_network job measured it); a gather of chunks is
    # not a shuffle's time.
    _benchmark(bench / "gather_shuffles/mnist_plain/run0/unpruned/k4/layer/shuffles2.tsv", 3.0)
    _benchmark(bench / "gather_shuffles/mnist_plain/run0/pruned/k4/layer/shuffles4.tsv", 0.5)
    gathered = tmp_path / "results/clustering/mnist_plain/run0/{}/k4/layer/shuffles{}.json"
    _write(Path(str(gathered).format("unpruned", 2)), json.dumps({"chunks": 0, "shuffle_ncuts": [2.0, 2.1]}))
    _write(Path(str(gathered).format("pruned", 4)), json.dumps({"chunks": 2, "shuffle_ncuts": [2.0] * 4}))
    # Logs no longer time anything: a "done in" line without a benchmark counts for nothing.
    _write(tmp_path / "logs/cluster_network/mnist_plain/run0/unpruned/k4.log", "done in 99.0 s\n")

    units = measure_unit_costs(tmp_path, first_steps=FirstSteps(train=1.0, prune=2.0))
    # Medians of the runs: fixed 6 and 8 s; a step 6/30 and 12/30 s (10 an epoch), a pruning step 9/30 and 15/30 s.
    plain = units.training["mnist_plain"]
    assert (plain.fixed, plain.first_train, plain.first_prune) == (7.0, 1.0, 2.0)
    assert (plain.per_epoch, plain.per_prune_epoch) == (pytest.approx(3.0), pytest.approx(4.0))
    assert units.training["mlp_init"] == TrainingCost(
        fixed=5.5, per_epoch=0.0, per_prune_epoch=0.0, first_train=1.0, first_prune=2.0
    )
    # pruned: runs 0 and 1, 1.5 and 2.5; unpruned: the gather's share
    assert units.clustering == {("mnist_plain", "pruned", 4): 2.0, ("mnist_plain", "unpruned", 4): 1.0}
    assert units.shuffle == {("mnist_plain", "pruned", 4, "layer"): 2.5, ("mnist_plain", "unpruned", 4, "layer"): 1.0}


def test_a_short_run_projects_a_long_one(tmp_path: Path, paper) -> None:
    """Issue 22: the first step of a phase (tracing) is paid once, not once per epoch, so 3 + 3 epochs project
    what 20 + 20 epochs of the same steps take; dividing a phase's seconds by its epochs would not."""
    first = FirstSteps(train=0.5, prune=0.8)

    def phases(epochs: int) -> tuple[float, float]:  # 100 steps an epoch, 10 ms (15 ms pruning) a step
        return first.train + epochs * 1.0, first.prune + epochs * 1.5

    _write(tmp_path / "results/networks/mnist_plain/run0/metrics.json", _metrics(4, *phases(3), 1, 3, 3, 12800))
    cost = measure_unit_costs(tmp_path, first_steps=first).training["mnist_plain"]
    family = paper.families["mnist_plain"]
    assert (family.train.epochs, family.train.prune_epochs) == (20, 20)
    assert cost.seconds(family) == pytest.approx(4 + 1 + sum(phases(20)))
    assert sum(phases(3)) / 3 * 20 > 1.1 * sum(phases(20))  # the per-epoch average of a short run overshoots
    # A network without epochs pays no first step.
    assert cost.seconds(paper.families["mlp_init"]) == cost.fixed


def test_imported_networks_have_no_training_time(tmp_path: Path) -> None:
    """An imported ImageNet model's metrics.json has no wall_seconds: it is left out, not a KeyError."""
    nets = tmp_path / "results/networks"
    imported = {"pretrained": "resnet18", "checkpoint": None, "seed": 1, "task": "classification"}
    _write(nets / "imagenet_resnet18/run0/metrics.json", json.dumps(imported))
    with pytest.raises(InputError, match="of a trained network"):
        measure_unit_costs(tmp_path)
    _write(nets / "mnist_plain/run0/metrics.json", _metrics(1, 2, 3, 1, 1, 1))
    assert set(measure_unit_costs(tmp_path).training) == {"mnist_plain"}
    # A trained network's metrics without its images: named, not a KeyError.
    no_images = json.loads(_metrics(1, 2, 3, 1, 1, 1))
    del no_images["n_train"]
    _write(nets / "mnist_plain/run1/metrics.json", json.dumps(no_images))
    with pytest.raises(InputError, match=r"run1/metrics.json: no 'n_train'"):
        measure_unit_costs(tmp_path)


def test_costs_are_pooled_per_architecture_and_graph(tmp_path: Path, paper) -> None:
    """With the experiments, one median per architecture (training) and per graph (clustering, shuffles), for
    every family of it whose dataset the run holds, trained there or not."""
    nets, bench = tmp_path / "results/networks", tmp_path / "results/benchmarks"
    none = FirstSteps()
    # Plain MLPs at 10, 20 and 60 ms a step (a loaded machine's outlier), 30 ms with dropout; 10 steps an epoch.
    for family, step in (("mnist_plain", 0.01), ("fashion_mnist_plain", 0.02), ("random_plain", 0.06)):
        _write(nets / f"{family}/run0/metrics.json", _metrics(5, step * 200, step * 200, 1, 20, 20))
    _write(nets / "mnist_dropout/run0/metrics.json", _metrics(5, 6.0, 6.0, 1, 20, 20))
    for family, seconds in (("mnist_plain", 1.0), ("fashion_mnist_plain", 3.0), ("random_plain", 2.0)):
        _benchmark(bench / f"cluster_network/{family}/run0/pruned/k4.tsv", seconds)
    # The lines dataset, prepared but not trained on: 2,000 + 560 images, 20 steps an epoch.
    (tmp_path / "results/data").mkdir(parents=True)
    images = np.zeros((2000, 28, 28), np.uint8)
    np.savez(tmp_path / "results/data/lines.npz", x_train=images, x_val=images[:560], x_test=images[:10])

    units = measure_unit_costs(tmp_path, experiments=paper, first_steps=none)
    plain = architecture(paper.families["mnist_plain"], paper)
    assert plain == "mlp neurons 784+256+256+256+256+10, batch 128"
    assert units.architectures[plain].per_step == pytest.approx(0.02) and units.architectures[plain].networks == 3
    for family in ("mnist_plain", "random_plain", "mnist_l1"):  # mnist_l1: MNIST's images, as mnist_plain's
        assert units.training[family].per_epoch == pytest.approx(0.2), family
    assert units.training["lines_plain"].per_epoch == pytest.approx(0.4)
    assert units.training["mnist_dropout"].per_epoch == pytest.approx(0.3)
    assert units.training["lines_dropout"].per_epoch == pytest.approx(0.6)
    assert "cifar10_plain" not in units.training  # no CIFAR-10 in the run: its images are unknown
    assert "mnist_7x7_plain" not in units.training  # another architecture
    assert units.clustering[("lines_plain", "pruned", 4)] == 2.0  # the same graph: the median of the three
    assert ("polynomial_plain", "pruned", 4) not in units.clustering  # another graph


def test_a_benchmark_without_seconds_is_named(tmp_path: Path) -> None:
    """A benchmark is written when its job ends: one that holds no seconds is an error naming it, not a zero."""
    _write(tmp_path / "results/networks/mnist_plain/run0/metrics.json", _metrics(1, 1, 1, 1, 1, 1))
    broken = tmp_path / "results/benchmarks/cluster_network/mnist_plain/run0/pruned/k4.tsv"
    _write(broken, "h:m:s\tmax_rss\n0:00:01\t412.30\n")  # no column s
    with pytest.raises(InputError, match=r"k4.tsv: no seconds \(column s\)"):
        measure_unit_costs(tmp_path)
    _write(broken, HEADER)  # the header only: no job's line
    with pytest.raises(InputError, match="column s"):
        measure_unit_costs(tmp_path)


def test_benchmarks_are_written_by_the_rules_costs_reads() -> None:
    """The timed rules write their benchmark TSVs where measure_unit_costs looks for them."""
    from clusterability.workflow.costs import BENCHMARKS

    rules = "\n".join((REPO / "rules" / name).read_text() for name in ("clustering.smk", "lesions.smk"))
    for rule, wildcards in (
        ("cluster_network", "{family}/run{run}/{stage}/k{k}"),
        ("shuffle_chunk", "{family}/run{run}/{stage}/k{k}/{method}/chunk{chunk}"),
        ("lesion_single", "{family}/run{run}/{stage}/k{k}"),
        ("lesion_pairs", "{family}/run{run}/{stage}/k{k}"),
    ):
        assert f'    benchmark:\n        "{BENCHMARKS}/{rule}/{wildcards}.tsv"' in rules, rule


def test_no_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no results/networks"):
        measure_unit_costs(tmp_path)


def _flat_units(paper, *, fixed=1.0, epoch=1.0, prune=2.0, cluster=1.0, shuffle=0.5) -> UnitCosts:
    """The same unit costs for every trained family, stage, k and method of P1."""
    trained = paper.trained_families()
    keys = {
        (w.family.network, stage, w.k, method)
        for t in paper.tables
        for w in paper.table_work(t)
        for stage, methods in w.stages.items()
        for method in (*methods, None)
    }
    return UnitCosts(
        training={f: TrainingCost(fixed, epoch, prune) for f in trained},
        clustering={k[:3]: cluster for k in keys},
        shuffle={k: shuffle for k in keys if k[3] is not None},
    )


def test_table1_at_paper_scale(paper) -> None:
    (cost,) = project_costs(paper, _flat_units(paper), ["table1"])
    # 10 networks of each of 6 families, 20 epochs + 20 pruning epochs (CIFAR-10: 20 + 40, with dropout 100 + 40).
    assert cost.networks == 60 and cost.trained_epochs == 40 * 40 + 10 * 60 + 10 * 140
    assert cost.training_hours * 3600 == pytest.approx(
        40 * (1 + 20 + 2 * 20) + 10 * (1 + 20 + 2 * 40) + 10 * (1 + 100 + 2 * 40)
    )
    # One pruned clustering of each network and its 320 layer shuffles.
    assert cost.clusterings == 60 and cost.shuffles == 60 * 320
    assert cost.clustering_hours * 3600 == pytest.approx(60 * 1.0 + 60 * 320 * 0.5)
    assert cost.hours == pytest.approx(cost.training_hours + cost.clustering_hours)


def test_kilo_epoch_table_counts_its_epochs_and_init_networks(paper) -> None:
    (cost,) = project_costs(paper, _flat_units(paper), ["table3"])
    # 20 kilo-epoch networks (1,000 + 20 epochs) and the 200 freshly initialized MLPs.
    assert cost.networks == 220 and cost.trained_epochs == 20 * 1020
    assert cost.training_hours * 3600 == pytest.approx(20 * (1 + 1000 + 2 * 20) + 200 * 1)
    # Unpruned and pruned clusterings of the 20, unpruned of the 200; shuffles of the pruned only.
    assert cost.clusterings == 20 * 2 + 200 and cost.shuffles == 20 * 320


def test_shared_work_is_counted_once(paper) -> None:
    units = _flat_units(paper)
    table1, sweep = project_costs(paper, units, ["table1", "tableA1"])
    both = project_total(paper, units, ["table1", "tableA1"])
    # Table A.1 is Table 1's networks with k = 7: the trainings are shared, the clusterings not.
    assert both.networks == 60 and both.training_hours == pytest.approx(table1.training_hours)
    assert both.clustering_hours == pytest.approx(table1.clustering_hours + sweep.clustering_hours)
    # Table A.6 (MNIST, pruned, both methods) reuses Table 1's layer shuffles of mnist_plain.
    a6 = project_total(paper, units, ["table1", "tableA6"])
    assert a6.shuffles == 60 * 320 + 10 * 320
    assert project_total(paper, units, ["table1", "table1"]) == project_total(paper, units, ["table1"], name="all")


def test_a_missing_unit_cost_names_it(paper) -> None:
    units = _flat_units(paper)
    partial = UnitCosts({k: v for k, v in units.training.items() if k != "cifar10_plain"}, units.clustering, {})
    with pytest.raises(InputError, match="cifar10_plain"):
        project_costs(paper, partial, ["table1"])


def test_lesion_costs_from_a_run_and_projected(tmp_path: Path, paper) -> None:
    """Seconds per lesion from the lesion jobs' benchmarks, times the lesions of the paper's random sets."""
    _write(tmp_path / "results/networks/fashion_mnist_dropout/run0/metrics.json", _metrics(1, 1, 1, 1, 1, 1))
    where = tmp_path / "results/lesions/fashion_mnist_dropout/run0/pruned/k10"
    # 3 sub-modules with 9 random sets each: 30 lesions; important ones in layers 1, 1 and 2: 2 pairs.
    _write(
        where / "single.csv", "submodule,layer,type,n_random\n1-0,1,important,9\n1-1,1,important,9\n2-0,2,important,9\n"
    )
    _write(where / "pairs.csv", "x,y,n_random\n1-0,2-0,4\n1-1,2-0,4\n")  # 2 pairs x 9 lesions
    bench = tmp_path / "results/benchmarks"
    _benchmark(bench / "lesion_single/fashion_mnist_dropout/run0/pruned/k10.tsv", 3.0)
    _benchmark(bench / "lesion_pairs/fashion_mnist_dropout/run0/pruned/k10.tsv", 9.0)
    units = measure_unit_costs(tmp_path, lesion_threads=2)
    cost = units.lesions[("fashion_mnist_dropout", "pruned", 10)]
    assert (cost.per_single, cost.per_pair, cost.submodules, cost.important_pairs) == (0.2, 1.0, 3, 2)

    flat = _flat_units(paper)
    units = UnitCosts(flat.training, flat.clustering, flat.shuffle, units.lesions)
    single, important, every = project_costs(paper, units, ["tableA18", "tableA19", "lesion_pairs"], (100, 50))
    assert single.lesions == 3 * 101 and single.lesion_hours * 3600 == pytest.approx(3 * 101 * 0.2)
    assert important.lesions == 3 * 101 + 2 * 101
    assert every.lesions == 3 * 101 + 3 * 101 and every.lesion_hours * 3600 == pytest.approx(303 * 0.2 + 303 * 1.0)
    # Together: one single-lesion job and one pair job of the widest scope, and one training.
    total = project_total(paper, units, ["tableA18", "tableA19", "lesion_pairs"], random_sets=(100, 50))
    assert total.lesions == every.lesions and total.networks == 1
    assert total.hours == pytest.approx(every.hours)


def test_each_networks_jobs_add_up_to_the_total(paper) -> None:
    """project_networks splits project_total's seconds by network: Table 1's 60 networks, each trained,
    clustered and shuffled once (1 + 20 + 2 x 20 s, 1 s and 320 x 0.5 s with the flat unit costs)."""
    units, tables = _flat_units(paper), ["table1", "tableA1"]
    per_network = project_networks(paper, units, tables)
    assert sum(per_network.values()) == pytest.approx(project_total(paper, units, tables).hours * 3600)
    assert len(per_network) == 60
    # mnist_plain: 20 + 20 epochs; clustered at k = 4 (Table 1) and k = 7 (Table A.1), 320 shuffles each.
    assert per_network[("mnist_plain", 0)] == pytest.approx((1 + 20 + 2 * 20) + 2 * (1 + 320 * 0.5))


def test_makespan_spreads_the_longest_jobs_first() -> None:
    assert makespan([5.0, 1, 1, 1, 1, 1], cores=2) == 5.0  # the long job alone on one core, the rest on the other
    assert makespan([3.0, 3, 2, 2, 2], cores=2) == 7.0  # longest first: 3+2+2 and 3+2 (the best is 6)
    assert makespan([3.0, 3, 2, 2, 2], cores=1) == 12.0
    assert makespan([2.0] * 32, cores=16) == 4.0
    with pytest.raises(InputError, match="cores"):
        makespan([1.0], cores=0)
