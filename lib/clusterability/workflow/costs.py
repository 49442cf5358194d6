"""Core-hours of the papers' tables, projected from the job times of a smaller run.

A run at the ``quick`` scale trains every family on the full datasets for a few
epochs and clusters every network with a few shuffles. Its jobs' times are
*unit costs* (every job runs on one thread, so wall seconds are core-seconds):

* per network family, from each network's ``metrics.json`` (``wall_seconds``):
  seconds per training epoch, seconds per pruning epoch, and the fixed seconds
  of a network (TensorFlow set-up, evaluation and saving);
* per clustering (``cluster_network``: family, stage, k) and per shuffle
  (``shuffle_chunk``: family, stage, k, shuffle method; the shuffles a chunk
  holds are those of its JSON), from the wall seconds (column ``s``) of the
  TSV that Snakemake's ``benchmark:`` directive writes for every job of these
  rules, under ``results/benchmarks/<rule>/`` (:func:`benchmark_seconds`);
* per lesion of a sub-module or of a pair (``lesion_single``, ``lesion_pairs``:
  family, stage, k), the same way, with the number of sub-modules and of
  pairs of important ones in different layers that the run found.

:func:`project_costs` multiplies them by the networks, epochs and shuffles
that each table needs at another scale (:meth:`Experiments.table_work`): the
cost of building that table alone. :func:`project_total` counts every network,
clustering and shuffle once, as the workflow does when tables share them.

The projection assumes that epochs cost the same at both scales (the same
training images and batch size: ``quick`` trains on the full datasets, ``tiny``
does not). A benchmark times the whole job as Snakemake runs it (the script's
interpreter and imports included), so the unit costs include each job's start.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from clusterability.errors import InputError
from clusterability.lesions import important_pair
from clusterability.workflow.experiments import Experiments, Family

#: Where the timed rules' ``benchmark:`` TSVs are: ``<rule>/<the job's wildcards>.tsv`` (rules/*.smk).
BENCHMARKS = "results/benchmarks"


@dataclass(frozen=True)
class TrainingCost:
    """Seconds of one network of a family: fixed, per training epoch, per pruning epoch."""

    fixed: float
    per_epoch: float
    per_prune_epoch: float

    def seconds(self, family: Family) -> float:
        return self.fixed + family.train.epochs * self.per_epoch + family.train.prune_epochs * self.per_prune_epoch


@dataclass(frozen=True)
class LesionCost:
    """Seconds per lesion (single, pair) of one clustered network, and what it has to lesion."""

    per_single: float
    per_pair: float
    submodules: int
    important_pairs: int

    def seconds(self, scope: str, random_sets: int, pair_random_sets: int) -> tuple[float, int]:
        """Seconds and lesions of the experiments ``scope``: ``single``, or pairs ``important``/``all`` too."""
        lesions = self.submodules * (1 + random_sets)
        seconds = lesions * self.per_single
        if scope != "single":
            pairs = self.important_pairs if scope == "important" else self.submodules * (self.submodules - 1) // 2
            lesions += pairs * (1 + 2 * pair_random_sets)
            seconds += pairs * (1 + 2 * pair_random_sets) * self.per_pair
        return seconds, lesions


@dataclass(frozen=True)
class UnitCosts:
    """Measured seconds: training per trained family, clustering per (family, stage, k), shuffles per method too."""

    training: Mapping[str, TrainingCost]
    clustering: Mapping[tuple[str, str, int], float]
    shuffle: Mapping[tuple[str, str, int, str], float]
    lesions: Mapping[tuple[str, str, int], LesionCost] = field(default_factory=dict)


@dataclass(frozen=True)
class TableCost:
    """Projected core-hours of one table (or of several, each job counted once)."""

    name: str
    networks: int
    trained_epochs: int
    clusterings: int
    shuffles: int
    training_hours: float
    clustering_hours: float
    lesions: int = 0
    lesion_hours: float = 0.0

    @property
    def hours(self) -> float:
        return self.training_hours + self.clustering_hours + self.lesion_hours


def benchmark_seconds(tsv: Path) -> float:
    """The wall seconds of one job: column ``s`` of its Snakemake benchmark TSV (the mean over repeats).

    The file has a header (``s  h:m:s  max_rss  max_vms  ...  cpu_time``, tab-separated) and a
    line per run of the job (``benchmark: repeat(path, n)`` runs it ``n`` times).
    """
    try:
        with tsv.open(newline="") as f:
            seconds = [float(row["s"]) for row in csv.DictReader(f, delimiter="\t")]
    except (KeyError, TypeError, ValueError, UnicodeDecodeError):
        seconds = []
    if not seconds:
        raise InputError(f"{tsv}: no seconds (column s) of a Snakemake benchmark; delete it and rerun its job")
    return _mean(seconds)


def _benchmarks(workdir: Path, rule: str, pattern: str) -> list[tuple[tuple[str, ...], float]]:
    """``(the job's wildcard parts, seconds)`` of every benchmark of ``rule`` matching ``pattern``."""
    root = workdir / BENCHMARKS / rule
    return [(tsv.relative_to(root).with_suffix("").parts, benchmark_seconds(tsv)) for tsv in sorted(root.glob(pattern))]


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values)


def measure_unit_costs(workdir: str | Path, lesion_threads: int = 1) -> UnitCosts:
    """Unit costs from a finished run in ``workdir`` (its ``results/networks`` and ``results/benchmarks``).

    Lesion jobs run on ``lesion_threads`` threads (``resources.lesion``): their
    core-seconds are their wall seconds times that.
    """
    workdir = Path(workdir)
    runs: dict[str, list[TrainingCost]] = defaultdict(list)
    for path in sorted(workdir.glob("results/networks/*/run*/metrics.json")):
        metrics = json.loads(path.read_text())
        wall, epochs = metrics["wall_seconds"], metrics["epochs_run"]
        per_epoch = wall["train"] / epochs["train"] if epochs["train"] else 0.0
        per_prune = wall["prune"] / epochs["prune"] if epochs["prune"] else 0.0
        fixed = wall["setup"] + wall["evaluate"] + (0.0 if epochs["prune"] else wall["prune"])
        runs[path.parent.parent.name].append(TrainingCost(fixed, per_epoch, per_prune))
    if not runs:
        raise InputError(f"{workdir}: no results/networks/*/run*/metrics.json; run the workflow there first")
    training = {
        family: TrainingCost(*(_mean(getattr(c, f) for c in costs) for f in ("fixed", "per_epoch", "per_prune_epoch")))
        for family, costs in runs.items()
    }

    clusterings: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for (family, _, stage, k), seconds in _benchmarks(workdir, "cluster_network", "*/run*/*/k*.tsv"):
        clusterings[(family, stage, int(k[1:]))].append(seconds)

    shuffle_time: dict[tuple[str, str, int, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for parts, seconds in _benchmarks(workdir, "shuffle_chunk", "*/run*/*/k*/*/chunk*.tsv"):
        family, _, stage, k, method, _ = parts
        chunk = workdir.joinpath("results/clustering", *parts).with_suffix(".json")
        if chunk.is_file():  # the shuffles it holds (the last chunk of a network may hold fewer)
            total = shuffle_time[(family, stage, int(k[1:]), method)]
            total[0] += seconds
            total[1] += len(json.loads(chunk.read_text())["ncuts"])
    return UnitCosts(
        training=training,
        clustering={key: _mean(v) for key, v in clusterings.items()},
        shuffle={key: seconds / n for key, (seconds, n) in shuffle_time.items() if n},
        lesions=_lesion_costs(workdir, lesion_threads),
    )


def _lesion_costs(workdir: Path, threads: int) -> dict[tuple[str, str, int], LesionCost]:
    """Core-seconds per lesion of every lesioned network of the run (the mean over its runs)."""
    import pandas as pd

    found: dict[tuple[str, str, int], list[LesionCost]] = defaultdict(list)
    for (family, run, stage, k), seconds in _benchmarks(workdir, "lesion_single", "*/run*/*/k*.tsv"):
        where = workdir / "results/lesions" / family / run / stage / k
        if not (where / "single.csv").is_file():
            continue
        seconds *= threads
        single = pd.read_csv(where / "single.csv")
        n_single = int((1 + single["n_random"]).sum())
        rows = list(zip(single["type"], single["layer"], strict=True))
        n_important = sum(important_pair(tx, ty, lx, ly) for i, (tx, lx) in enumerate(rows) for ty, ly in rows[i + 1 :])
        per_single = seconds / max(n_single, 1)
        per_pair = per_single  # no pair measured: a pair lesion costs about what a single one does
        pair_tsv = workdir / BENCHMARKS / "lesion_pairs" / family / run / stage / f"{k}.tsv"
        if pair_tsv.is_file() and (where / "pairs.csv").is_file():
            pair_seconds = benchmark_seconds(pair_tsv)
            pairs = pd.read_csv(where / "pairs.csv")
            if len(pairs):
                per_pair = threads * pair_seconds / int((1 + 2 * pairs["n_random"]).sum())
        found[(family, stage, int(k[1:]))].append(LesionCost(per_single, per_pair, len(single), n_important))
    return {
        key: LesionCost(
            _mean(c.per_single for c in costs),
            _mean(c.per_pair for c in costs),
            round(_mean(c.submodules for c in costs)),
            round(_mean(c.important_pairs for c in costs)),
        )
        for key, costs in found.items()
    }


def _lookup(costs: Mapping, key: object, what: str):
    try:
        return costs[key]
    except KeyError:
        raise InputError(
            f"no measured {what} for {key}: measure on a run that builds the same tables (e.g. paper1 at quick)"
        ) from None


def _work(experiments: Experiments, tables: Iterable[str]):
    """Each network, clustering and shuffle set the tables need, once (shuffles: the most any table needs)."""
    networks: dict[tuple[str, int], Family] = {}
    clusterings: set[tuple[str, int, str, int]] = set()
    shuffles: dict[tuple[str, int, str, int, str], int] = {}
    tables = list(tables)
    for table in tables:
        for work in experiments.table_work(table):
            trained = experiments.families[work.family.network]
            networks[(trained.name, work.run)] = trained
            for stage, methods in work.stages.items():
                clusterings.add((trained.name, work.run, stage, work.k))
                for method in methods:
                    key = (trained.name, work.run, stage, work.k, method)
                    shuffles[key] = max(shuffles.get(key, 0), work.shuffles)
    return networks, clusterings, shuffles, experiments.lesion_scopes(tables)


def _cost(
    name: str, experiments: Experiments, units: UnitCosts, tables: Iterable[str], random_sets: tuple[int, int]
) -> TableCost:
    networks, clusterings, shuffles, lesions = _work(experiments, tables)
    lesion_seconds, n_lesions = 0.0, 0
    for (family, _, stage, k), scope in lesions.items():
        seconds, n = _lookup(units.lesions, (family, stage, k), "lesion time").seconds(scope, *random_sets)
        lesion_seconds, n_lesions = lesion_seconds + seconds, n_lesions + n
    training = sum(_lookup(units.training, f.name, "training time").seconds(f) for f in networks.values())
    clustering = sum(_lookup(units.clustering, (f, s, k), "clustering time") for f, _, s, k in clusterings)
    clustering += sum(
        n * _lookup(units.shuffle, (f, s, k, m), "shuffle time") for (f, _, s, k, m), n in shuffles.items()
    )
    return TableCost(
        name=name,
        networks=len(networks),
        trained_epochs=sum(f.train.epochs + f.train.prune_epochs for f in networks.values()),
        clusterings=len(clusterings),
        shuffles=sum(shuffles.values()),
        training_hours=training / 3600,
        clustering_hours=clustering / 3600,
        lesions=n_lesions,
        lesion_hours=lesion_seconds / 3600,
    )


def project_costs(
    experiments: Experiments, units: UnitCosts, tables: Iterable[str], random_sets: tuple[int, int] = (100, 50)
) -> list[TableCost]:
    """The projected cost of each table built alone (its networks, clusterings, shuffles and lesions).

    ``random_sets``: the lesion experiments' random sets per sub-module and
    per pair and side at the projected scale (``lesions:`` of the config).
    """
    return [_cost(name, experiments, units, [name], random_sets) for name in tables]


def project_total(
    experiments: Experiments,
    units: UnitCosts,
    tables: Iterable[str],
    name: str = "all",
    random_sets: tuple[int, int] = (100, 50),
) -> TableCost:
    """The projected cost of all ``tables`` together, each shared network, clustering, shuffle and lesion once."""
    return _cost(name, experiments, units, list(tables), random_sets)
