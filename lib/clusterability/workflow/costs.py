"""Core-hours of the papers' tables, projected from the job times of another run.

A run (say at the ``quick`` or ``fidelity`` scale, or a few of the papers'
networks) gives *unit costs* (every job runs on one thread, so with a core free
for each job its wall seconds are its core-seconds):

* training, per **architecture** (:func:`architecture`: the layers of the
  clustered graph, dropout, the clusterability regularizer, augmentation, the
  batch size), from each network's ``metrics.json`` (``wall_seconds``,
  ``epochs_run``, ``n_train``): the *fixed* seconds of a job whatever its
  epochs (``setup``: TensorFlow's import, the model, copying the images;
  ``evaluate``: evaluating and saving), the seconds per training step and per
  pruning step, and the seconds of each phase's *first* step beyond an ordinary
  one (building the input pipeline and tracing the step function,
  :class:`FirstSteps`). A phase's ``wall_seconds`` include its first step, so
  its steps cost ``(seconds - first step) / (epochs * steps per epoch)``; a
  step's seconds do not depend on the dataset, so an epoch of a family costs
  that times its ``ceil(images / batch size)`` steps (the images of its
  dataset: ``n_train`` of a network trained on it, or the run's
  ``results/data/<dataset>.npz``). Imported networks (P2's ImageNet models)
  are not trained and have no training time;
* per clustering (``cluster_network``: stage, k) and per shuffle
  (``shuffle_chunk``: stage, k, shuffle method; the shuffles a chunk holds are
  those of its JSON; and ``gather_shuffles`` where it clustered the network and
  made the shuffles itself, its JSON's ``"chunks": 0``: ``n + 1`` clusterings,
  each costing a share of its seconds, the clustering's taken where no
  ``cluster_network`` job measured that graph), per **graph** (:func:`clustered_graph`), from the wall
  seconds (column ``s``) of the TSV that Snakemake's ``benchmark:`` directive
  writes for every job of these rules, under ``results/benchmarks/<rule>/``
  (:func:`benchmark_seconds`);
* per lesion of a sub-module or of a pair (``lesion_single``, ``lesion_pairs``:
  family, stage, k), the same way, with the number of sub-modules and of
  pairs of important ones in different layers that the run found.

Given the experiments (:func:`measure_unit_costs`'s ``experiments``), unit
costs are pooled per architecture and graph (the median over the run's
networks and jobs, which a loaded machine's slow jobs move least) and given to
every family of that architecture, measured or not; without them, each family
measured has its own. :func:`project_costs` multiplies them by the networks,
epochs and shuffles that each table needs at another scale
(:meth:`Experiments.table_work`): the cost of building that table alone.
:func:`project_total` counts every network, clustering and shuffle once, as
the workflow does when tables share them.

A benchmark times the whole job as Snakemake runs it (the script's interpreter
and imports included), so clustering and lesion unit costs include each job's
start; ``wall_seconds`` leave out the start of a training job's script (about
a second). On a loaded machine, wall seconds include the waits for a core.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterability.errors import InputError
from clusterability.lesions import important_pair
from clusterability.workflow.experiments import Experiments, Family, graph_nodes

#: Where the timed rules' ``benchmark:`` TSVs are: ``<rule>/<the job's wildcards>.tsv`` (rules/*.smk).
BENCHMARKS = "results/benchmarks"


@dataclass(frozen=True)
class FirstSteps:
    """Seconds that each training phase's first step costs beyond an ordinary step: building the input
    pipeline and tracing the step function (``benchmarks/bench_training.py`` times them apart)."""

    train: float = 0.0
    prune: float = 0.0


#: The first steps' wall seconds of a training job at commit 3d85a2a: ``benchmarks/bench_training.py --repeats 5``,
#: medians, 2-core AMD EPYC at load 5-8 (benchmarks/README.md, "A job's fixed cost").
FIRST_STEPS = FirstSteps(train=0.52, prune=0.76)


@dataclass(frozen=True)
class TrainingCost:
    """Seconds of one network of a family: fixed, per training epoch, per pruning epoch, and each phase's first
    step (paid once if the phase runs)."""

    fixed: float
    per_epoch: float
    per_prune_epoch: float
    first_train: float = 0.0
    first_prune: float = 0.0

    def seconds(self, family: Family) -> float:
        return self.seconds_for(family.train.epochs, family.train.prune_epochs)

    def seconds_for(self, train: int, prune: int) -> float:
        """Seconds of a network with ``train`` training and ``prune`` pruning epochs."""
        return (
            self.fixed
            + (self.first_train + train * self.per_epoch if train else 0.0)
            + (self.first_prune + prune * self.per_prune_epoch if prune else 0.0)
        )


@dataclass(frozen=True)
class StepCosts:
    """Measured seconds of a training job of one architecture: fixed, per step of each phase (None: no
    network of the run ran that phase), and the networks they come from."""

    fixed: float
    per_step: float | None
    per_prune_step: float | None
    networks: int
    first_steps: FirstSteps = FirstSteps()

    def for_steps(self, steps_per_epoch: int) -> TrainingCost:
        """The cost of a network with ``steps_per_epoch`` steps in an epoch (a phase not measured: 0 per epoch)."""
        return TrainingCost(
            self.fixed,
            (self.per_step or 0.0) * steps_per_epoch,
            (self.per_prune_step or 0.0) * steps_per_epoch,
            self.first_steps.train,
            self.first_steps.prune,
        )


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
    """Measured seconds: training per trained family, clustering per (family, stage, k), shuffles per method too.

    ``architectures``: the training costs per architecture that ``training`` was made from.
    """

    training: Mapping[str, TrainingCost]
    clustering: Mapping[tuple[str, str, int], float]
    shuffle: Mapping[tuple[str, str, int, str], float]
    lesions: Mapping[tuple[str, str, int], LesionCost] = field(default_factory=dict)
    architectures: Mapping[str, StepCosts] = field(default_factory=dict)


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


def clustered_graph(family: Family, experiments: Experiments) -> str:
    """What a clustering's and a shuffle's cost depends on: the graph's layers (or the imported model)."""
    nodes = graph_nodes(family, experiments.datasets)
    return nodes[1] if nodes else f"imported {family.pretrained}"


def architecture(family: Family, experiments: Experiments) -> str:
    """What a training step's cost depends on: the graph's layers, dropout, the clusterability regularizer,
    augmentation and the batch size (L1/L2 penalties and the initialization cost about nothing)."""
    t = family.train
    extras = [
        "dropout" if t.dropout > 0 or t.conv_dropout > 0 else "",
        "regularizer" if t.regularizer_weight > 0 else "",
        "augmented" if t.augment else "",
        f"batch {t.batch_size}",
    ]
    return ", ".join([clustered_graph(family, experiments), *(e for e in extras if e)])


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


@dataclass(frozen=True)
class NetworkSeconds:
    """One trained network's ``wall_seconds`` split as the projection scales them."""

    fixed: float  # setup and evaluation (and the pruning call of a network without pruning epochs)
    per_step: float | None  # seconds per training step after the first (None: no training epochs)
    per_prune_step: float | None  # the same for pruning
    images: int  # trained on (n_train: the training and validation splits)
    batch_size: int


def network_seconds(metrics: Mapping[str, Any], first_steps: FirstSteps = FIRST_STEPS) -> NetworkSeconds | None:
    """The fixed seconds and the seconds per step of each phase of one network's ``metrics.json`` (None: an
    imported network, which has no ``wall_seconds``).

    A phase's seconds less its first step's extra (``first_steps``), over its steps
    (``epochs * ceil(n_train / batch_size)``); at least 0.
    """
    wall = metrics.get("wall_seconds")
    if wall is None:
        return None
    epochs, images = metrics["epochs_run"], int(metrics["n_train"])
    batch = int(metrics.get("config", {}).get("batch_size", 128))
    steps = math.ceil(images / batch)

    def per_step(phase: str, first: float) -> float | None:
        n = epochs[phase] * steps
        return max(wall[phase] - first, 0.0) / n if n else None

    fixed = wall["setup"] + wall["evaluate"] + (0.0 if epochs["prune"] else wall["prune"])
    return NetworkSeconds(
        fixed, per_step("train", first_steps.train), per_step("prune", first_steps.prune), images, batch
    )


def _median(values: Iterable[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _npz_rows(path: Path, keys: Iterable[str]) -> int | None:
    """The rows of ``keys`` in an ``.npz`` file together, read from the arrays' headers (None: no such file)."""
    from numpy.lib import format as npy

    if not path.is_file():
        return None
    rows = 0
    try:
        with zipfile.ZipFile(path) as npz:
            for key in keys:
                with npz.open(f"{key}.npy") as f:
                    major, _ = npy.read_magic(f)
                    read_header = npy.read_array_header_1_0 if major == 1 else npy.read_array_header_2_0
                    shape, _, _ = read_header(f)  # the header only, not the data
                    rows += shape[0] if shape else 0
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a prepared dataset with {', '.join(keys)} ({exc}); prepare it again") from None
    return rows


def measure_unit_costs(
    workdir: str | Path,
    lesion_threads: int = 1,
    experiments: Experiments | None = None,
    first_steps: FirstSteps = FIRST_STEPS,
) -> UnitCosts:
    """Unit costs from a run in ``workdir`` (its ``results/networks``, ``results/benchmarks``, ``results/data``).

    With ``experiments``, training costs are pooled per :func:`architecture` and
    clustering and shuffle costs per :func:`clustered_graph` (medians), and every
    trained family of ``experiments`` whose architecture (graph) the run measured
    gets them, if the run holds its dataset (a network trained on it, or
    ``results/data/<dataset>.npz``). Without, each family measured has its own
    (medians over its runs). Lesion jobs run on ``lesion_threads`` threads
    (``resources.lesion``): their core-seconds are their wall seconds times that.
    """
    workdir = Path(workdir)
    measured: dict[str, list[NetworkSeconds]] = defaultdict(list)
    for path in sorted(workdir.glob("results/networks/*/run*/metrics.json")):
        try:
            seconds = network_seconds(json.loads(path.read_text()), first_steps)
        except KeyError as exc:
            raise InputError(f"{path}: no {exc} (a training job's metrics.json holds it); train it again") from None
        if seconds is not None:
            measured[path.parent.parent.name].append(seconds)
    if not measured:
        raise InputError(f"{workdir}: no results/networks/*/run*/metrics.json of a trained network; run one there")
    families = _families(workdir, measured, experiments)

    def arch(name: str) -> str:
        return architecture(experiments.families[name], experiments) if experiments else name

    def graph(name: str) -> str:
        return clustered_graph(experiments.families[name], experiments) if experiments else name

    by_arch: dict[str, list[NetworkSeconds]] = defaultdict(list)
    for name, networks in measured.items():
        if experiments is None or name in experiments.families:
            by_arch[arch(name)] += networks
    architectures = {
        key: StepCosts(
            statistics.median(n.fixed for n in networks),
            _median(n.per_step for n in networks),
            _median(n.per_prune_step for n in networks),
            len(networks),
            first_steps,
        )
        for key, networks in by_arch.items()
    }
    training = {
        name: architectures[arch(name)].for_steps(steps)
        for name, steps in families.items()
        if arch(name) in architectures
    }

    clusterings: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for (family, _, stage, k), seconds in _benchmarks(workdir, "cluster_network", "*/run*/*/k*.tsv"):
        if experiments is None or family in experiments.families:
            clusterings[(graph(family), stage, int(k[1:]))].append(seconds)

    shuffle_time: dict[tuple[str, str, int, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for parts, seconds in _benchmarks(workdir, "shuffle_chunk", "*/run*/*/k*/*/chunk*.tsv"):
        family, _, stage, k, method, _ = parts
        chunk = workdir.joinpath("results/clustering", *parts).with_suffix(".json")
        if chunk.is_file() and (experiments is None or family in experiments.families):
            total = shuffle_time[(graph(family), stage, int(k[1:]), method)]  # the last chunk may hold fewer
            total[0] += seconds
            total[1] += len(json.loads(chunk.read_text())["ncuts"])
    # ... and the gathers that clustered the network and made its shuffles themselves (one chunk's worth:
    # ``"chunks": 0``), n + 1 clusterings of the same graph, each a share of the job's seconds
    gathered_clusterings: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for parts, seconds in _benchmarks(workdir, "gather_shuffles", "*/run*/*/k*/*/shuffles*.tsv"):
        family, _, stage, k, method, _ = parts
        gathered = workdir.joinpath("results/clustering", *parts).with_suffix(".json")
        if gathered.is_file() and (experiments is None or family in experiments.families):
            result = json.loads(gathered.read_text())
            if result.get("chunks") == 0:
                n = len(result["shuffle_ncuts"])
                total = shuffle_time[(graph(family), stage, int(k[1:]), method)]
                total[0] += seconds * n / (n + 1)
                total[1] += n
                gathered_clusterings[(graph(family), stage, int(k[1:]))].append(seconds / (n + 1))
    for key, seconds in gathered_clusterings.items():
        clusterings.setdefault(key, seconds)
    per_graph = {key: statistics.median(v) for key, v in clusterings.items()}
    per_shuffle = {key: seconds / n for key, (seconds, n) in shuffle_time.items() if n}
    if experiments is not None:  # every trained family of a measured graph
        graphs = {name: graph(name) for name in experiments.trained_families()}
        per_graph = {(f, s, k): v for f, gf in graphs.items() for (g, s, k), v in per_graph.items() if g == gf}
        per_shuffle = {(f, *rest): v for f, gf in graphs.items() for (g, *rest), v in per_shuffle.items() if g == gf}
    return UnitCosts(
        training=training,
        clustering=per_graph,
        shuffle=per_shuffle,
        lesions=_lesion_costs(workdir, lesion_threads),
        architectures=architectures,
    )


def _families(
    workdir: Path, measured: Mapping[str, list[NetworkSeconds]], experiments: Experiments | None
) -> dict[str, int]:
    """Steps per epoch of every family to cost: those measured, and with ``experiments`` every trained family
    whose dataset the run holds."""
    steps = {name: math.ceil(nets[0].images / nets[0].batch_size) for name, nets in measured.items()}
    if experiments is None:
        return steps
    images = {
        experiments.families[name].dataset: nets[0].images
        for name, nets in measured.items()
        if name in experiments.families
    }
    for name in experiments.trained_families():
        family = experiments.families[name]
        if name in steps or family.pretrained:
            continue
        n = images.get(family.dataset)
        if n is None:
            n = _npz_rows(workdir / "results" / "data" / f"{family.dataset}.npz", ("x_train", "x_val"))
        if n is not None:
            steps[name] = math.ceil(n / family.train.batch_size)
    return {name: s for name, s in steps.items() if experiments is None or name in experiments.families}


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
            f"no measured {what} for {key}: measure on a run that builds the same tables (e.g. paper1 at quick) "
            "or one network of its architecture (benchmarks/check_projection.py --targets)"
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


def project_networks(
    experiments: Experiments, units: UnitCosts, tables: Iterable[str], random_sets: tuple[int, int] = (100, 50)
) -> dict[tuple[str, int], float]:
    """Seconds of each network's own jobs that ``tables`` need (training, clusterings, shuffles, lesions), each
    job once: ``(trained family, run)`` -> seconds. They sum to :func:`project_total`'s."""
    networks, clusterings, shuffles, lesions = _work(experiments, tables)
    seconds = {key: _lookup(units.training, f.name, "training time").seconds(f) for key, f in networks.items()}
    for f, run, s, k in clusterings:
        seconds[(f, run)] += _lookup(units.clustering, (f, s, k), "clustering time")
    for (f, run, s, k, m), n in shuffles.items():
        seconds[(f, run)] += n * _lookup(units.shuffle, (f, s, k, m), "shuffle time")
    for (f, run, s, k), scope in lesions.items():
        seconds[(f, run)] += _lookup(units.lesions, (f, s, k), "lesion time").seconds(scope, *random_sets)[0]
    return seconds


def makespan(seconds: Iterable[float], cores: int) -> float:
    """Wall seconds of independent jobs on ``cores`` cores, each job on one, the longest first (each to the core
    free first): at least ``max(longest job, sum / cores)``, and at most 4/3 of the best schedule's."""
    if cores < 1:
        raise InputError(f"cores: {cores}; give at least 1")
    free = [0.0] * cores
    for job in sorted(seconds, reverse=True):
        free[free.index(min(free))] += job
    return max(free)
