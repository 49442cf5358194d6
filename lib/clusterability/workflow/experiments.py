"""The experiment matrix as data: network families, tables and figures (``config/experiments/*.yaml``).

A **family** is a named set of networks trained the same way: a dataset, an
architecture, a regime (``plain``, ``dropout``, ``l1``, ...: what the regime
switches on is in ``regimes:``), training overrides and a number of runs.
A **table** names families, the weight sets (``stages``: ``unpruned`` just
before pruning, ``pruned`` at the end of training), the number of clusters
``k``, the shuffle methods and shuffles, an ``analysis`` (``summary``: one
row per family and stage; ``networks``: one row per network and stage) and its
columns. A **figure** names a table and a plot (one of :data:`clusterability.report.figures.PLOT_NAMES`).

Networks are shared: a network is identified by its family and run, and two
families whose resolved settings (dataset, architecture, training settings,
seeds) are equal are one family (the first declared), so a table that declares
its own family with the same settings as another table's reuses its networks.
Clusterings and shuffles are shared the same way: they are identified by
network, stage, ``k`` and shuffle method, and shuffle ``i`` of a network is the
same shuffle in every table (its seed depends on ``i`` only), so a table with
50 shuffles reuses the first 50 of another's 320.

Everything here is pure: :func:`load_experiments` turns the validated config
into frozen specs, or raises :class:`~clusterability.errors.InputError`
naming the key at fault.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clusterability.errors import InputError
from clusterability.report.columns import (
    COLUMNS,
    INIT_COLUMNS,
    LAYER_COLUMNS,
    LESION_ANALYSES,
    LESION_SCOPES,
    NONZERO_COLUMNS,
    OPTIONAL_COLUMNS,
    UNPRUNED_COLUMNS,
)
from clusterability.report.figures import DATASET_PLOTS, NETWORK_PLOTS, PLOT_NAMES, SHUFFLE_PLOTS
from clusterability.train.config import TrainConfig


@dataclass(frozen=True)
class Dataset:
    """A dataset the families can train on: ``real`` (fetched, 28x28 gray), ``native`` (a real one at
    its own size and colours: CIFAR-10 for VGG), ``synthetic`` (drawn), a ``mixture`` of two, two
    images of one, as ``halves`` (P2 2.1) or ``stack`` (two channels, P2 3.2), or a real one
    ``resized`` to ``side`` x ``side`` (P2 4.1: MNIST at 7x7)."""

    name: str
    kind: str  # real | native | synthetic | mixture | halves | stack | resized
    generator: str = ""  # synthetic: lines | random | polynomial
    sizes: tuple[int, int, int] = (0, 0, 0)  # synthetic: train, val, test images
    of: tuple[str, ...] = ()  # mixture: the two datasets mixed; native, halves, stack, resized: the real one used
    separate: bool = False  # mixture: classes 0-4 from the first, 5-9 from the second
    same: bool = False  # halves, stack: both images of the same class (else label = sum of classes mod 10)
    side: int = 0  # resized: the images' new side

    @property
    def source(self) -> str:
        """The real dataset whose raw files and splits a real or native dataset uses."""
        return self.of[0] if self.kind == "native" else self.name


#: Kinds of datasets made of two images of a real dataset (:mod:`clusterability.data.halves`).
PAIRED_KINDS = ("halves", "stack")


@dataclass(frozen=True)
class Family:
    """A named set of networks trained the same way.

    ``network`` is the family whose trained networks these are: the family
    itself, or the first declared family with the same settings.
    """

    name: str
    network: str
    dataset: str
    architecture: str
    regime: str
    runs: int
    seed_names: tuple[str, ...]
    train: TrainConfig
    pretrained: str = ""  # an ImageNet architecture (P2 3.1): imported, not trained (``train`` is empty)
    n_init: int | None = None  # k-means restarts of this family's clusterings (None: clustering.n_init)

    @property
    def dropout(self) -> bool:
        return self.train.dropout > 0


@dataclass(frozen=True)
class Table:
    """A table of the papers: which networks, clusterings and shuffles, which analysis and columns."""

    name: str
    analysis: str
    families: tuple[str, ...]
    stages: tuple[str, ...]
    k: int
    shuffles: int
    shuffle_methods: tuple[str, ...]
    columns: tuple[str, ...]
    title: str
    paper: str
    init_family: str | None = None
    runs: tuple[int, ...] | None = None  # which runs of each family (None: all)
    pairs: str = "important"  # double_lesions: important pairs in different layers, or all
    order: str = "family"  # summary rows: by family, then stage (or by stage, then family: P2)

    @property
    def lesion_scope(self) -> str | None:
        """The lesion experiments the table needs: ``single``, pairs ``important`` or ``all`` (None: none)."""
        if self.analysis not in LESION_ANALYSES:
            return None
        if self.analysis == "single_lesions":
            return "single"
        return "all" if self.analysis == "double_lesions" and self.pairs == "all" else "important"

    @property
    def lesions(self) -> tuple[str, ...]:
        """The lesion results the table reads of each network: ``single`` (sub-modules), ``pairs``."""
        scope = self.lesion_scope
        return () if scope is None else ("single",) if scope == "single" else ("single", "pairs")

    @property
    def cluster_stages(self) -> tuple[str, ...]:
        """The weight sets clustered: the rows' stages, and ``unpruned`` when a column compares with it."""
        extra = ("unpruned",) if UNPRUNED_COLUMNS & set(self.columns) and "unpruned" not in self.stages else ()
        return (*self.stages, *extra)


@dataclass(frozen=True)
class NetworkRef:
    """One network's weight set and clustering: what a drawing of a network shows."""

    family: str
    run: int
    stage: str
    k: int


@dataclass(frozen=True)
class Figure:
    """A figure drawn from a table's CSV (its rows restricted by ``where``), of one ``network``, or of
    sample images (``samples`` test images of class ``label``) of ``datasets``."""

    name: str
    plot: str
    table: str | None
    title: str
    paper: str
    where: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    network: NetworkRef | None = None
    datasets: tuple[str, ...] = ()
    label: int = 0
    samples: int = 10

    @property
    def needs_shuffles(self) -> bool:
        """Whether the plot draws the shuffle n-cuts of its table's networks."""
        return self.plot in SHUFFLE_PLOTS


@dataclass(frozen=True)
class NetworkWork:
    """What one table needs of one network: its clusterings (stages) and their shuffles.

    ``stages`` maps each weight set clustered (with the table's ``k``) to the
    shuffle methods whose first ``shuffles`` shuffles the table compares it
    with (empty: the n-cut only). ``role`` is ``row`` for the table's own
    networks and ``init`` for those of its ``init_family``.
    """

    family: Family
    run: int
    role: str
    k: int
    shuffles: int
    stages: Mapping[str, tuple[str, ...]]
    lesions: tuple[str, ...] = ()  # lesion results read per stage: single, pairs (P1 section 4)


@dataclass(frozen=True)
class Experiments:
    """Every family, table and figure of the configuration, resolved and cross-checked."""

    families: Mapping[str, Family]
    tables: Mapping[str, Table]
    figures: Mapping[str, Figure]
    datasets: Mapping[str, Dataset]

    def networks(self, table: str) -> list[tuple[Family, int]]:
        """``(family, run)`` of every network of ``table``, in its families' order (its ``runs`` only, if set)."""
        t = self.tables[table]
        return [
            (self.families[f], run)
            for f in t.families
            for run in range(self.families[f].runs)
            if t.runs is None or run in t.runs
        ]

    def table_work(self, table: str) -> list[NetworkWork]:
        """Every network ``table`` reads, with its clusterings and shuffles; init networks last."""
        t = self.tables[table]
        work = []
        for family, run in self.networks(table):
            stages = {
                stage: t.shuffle_methods if t.shuffles and stage in t.stages else () for stage in t.cluster_stages
            }
            work.append(NetworkWork(family, run, "row", t.k, t.shuffles, stages, lesions=t.lesions))
        if t.init_family:
            family = self.families[t.init_family]
            work += [NetworkWork(family, run, "init", t.k, 0, {"unpruned": ()}) for run in range(family.runs)]
        return work

    def lesion_scopes(self, tables: Sequence[str] | None = None) -> dict[tuple[str, int, str, int], str]:
        """``(trained family, run, stage, k)`` -> the widest lesion scope that ``tables`` (default all) need of it."""
        order = LESION_SCOPES.index
        scopes: dict[tuple[str, int, str, int], str] = {}
        for name in self.tables if tables is None else tables:
            scope = self.tables[name].lesion_scope
            if scope is None:
                continue
            for work in self.table_work(name):
                for stage in work.stages:
                    key = (work.family.network, work.run, stage, work.k)
                    scopes[key] = max(scopes.get(key, scope), scope, key=order)
        return scopes

    def pretrained_families(self) -> list[str]:
        """Families of imported ImageNet models (P2 3.1), which are not trained."""
        return [f.name for f in self.families.values() if f.pretrained]

    def trained_families(self) -> dict[str, int]:
        """Families whose networks are made (trained, or imported if pretrained), with their number of runs."""
        runs: dict[str, int] = {}
        for family in self.families.values():
            runs[family.network] = max(runs.get(family.network, 0), family.runs)
        return runs

    def paper_targets(self, paper: str) -> list[str]:
        """Names of the tables and figures of ``paper`` (``p1``, ``p2``) or of a part of it (``p2_mlp``)."""

        def part_of(name: str) -> bool:
            return name == paper or name.startswith(f"{paper}_")

        return [t.name for t in self.tables.values() if part_of(t.paper)] + [
            f.name for f in self.figures.values() if part_of(f.paper)
        ]


def _cap(value: int, limit: int | None) -> int:
    return value if limit is None else min(value, limit)


# ---------------------------------------------------------------------------- datasets


def resolve_datasets(config: Mapping[str, Any]) -> dict[str, Dataset]:
    """The real datasets, and the synthetic, mixed, paired, native and resized ones that ``datasets:`` declares."""
    from clusterability.data.sources import dataset_names

    section = config["datasets"]
    datasets = {name: Dataset(name, "real") for name in dataset_names()}
    for name, entry in section.get("synthetic", {}).items():
        if name in datasets:
            raise InputError(f"config: datasets.synthetic.{name}: {name!r} is already a dataset; rename it")
        sizes = (
            _cap(entry["n_train"], section.get("n_train")),
            entry.get("validation_size", section["validation_size"]),
            _cap(entry["n_test"], section.get("n_test")),
        )
        datasets[name] = Dataset(name, "synthetic", generator=entry["kind"], sizes=sizes)
    for name, entry in section.get("mixtures", {}).items():
        where = f"config: datasets.mixtures.{name}"
        if name in datasets:
            raise InputError(f"{where}: {name!r} is already a dataset; rename it")
        for part in entry["of"]:
            if part not in datasets or datasets[part].kind == "mixture":
                raise InputError(
                    f"{where}.of: {part!r} is not a real or synthetic dataset; "
                    f"choose from {', '.join(n for n, d in datasets.items() if d.kind != 'mixture')}"
                )
        datasets[name] = Dataset(name, "mixture", of=tuple(entry["of"]), separate=entry["separate"])
    real = [n for n, d in datasets.items() if d.kind == "real"]
    for name, entry in section.get("native", {}).items():
        where = f"config: datasets.native.{name}"
        if name in datasets:
            raise InputError(f"{where}: {name!r} is already a dataset; rename it")
        if entry["of"] not in real:
            raise InputError(f"{where}.of: {entry['of']!r} is not a real dataset; choose one of {', '.join(real)}")
        datasets[name] = Dataset(name, "native", of=(entry["of"],))
    for kind in (*PAIRED_KINDS, "resized"):
        for name, entry in section.get(kind, {}).items():
            where = f"config: datasets.{kind}.{name}"
            if name in datasets:
                raise InputError(f"{where}: {name!r} is already a dataset; rename it")
            if entry["of"] not in real:
                raise InputError(f"{where}.of: {entry['of']!r} is not a real dataset; choose one of {', '.join(real)}")
            if kind == "resized":
                datasets[name] = Dataset(name, kind, of=(entry["of"],), side=entry["side"])
            else:
                datasets[name] = Dataset(name, kind, of=(entry["of"],), same=entry["same"])
    return datasets


# ---------------------------------------------------------------------------- families


def training_settings(
    training: Mapping[str, Any],
    regime: Mapping[str, Any],
    dataset: str,
    overrides: Mapping[str, Any] | None = None,
    architecture: str = "mlp",
) -> dict[str, Any]:
    """The :class:`TrainConfig` fields of one family, from the config's vocabulary.

    Precedence, lowest first: ``training``, ``training.per_architecture[architecture]``,
    ``training.per_dataset[dataset]``, the ``regime`` (``dropout: true`` uses the
    resolved dropout rates; ``l1``, ``l2`` weights; ``mlp_first_layer: l1``: an MLP's first
    dense layer L1 at the ``l2`` weight, the CNNs untouched; ``clusterable_init`` and
    ``regularizer``: P2 section 4), the family's own
    ``overrides``. ``dropout`` (and, for CNNs, ``conv_dropout``) in ``training``
    are the rates that regimes with dropout use. A regime's ``per_architecture[architecture]``
    replaces its ``l1`` / ``l2`` weights for that architecture (VGG's L2 weight: the authors' code).
    """
    regime = {**regime, **regime.get("per_architecture", {}).get(architecture, {})}
    layers = [
        training,
        training.get("per_architecture", {}).get(architecture, {}),
        training.get("per_dataset", {}).get(dataset, {}),
        overrides or {},
    ]
    base: dict[str, Any] = {}
    pruning: dict[str, Any] = {}
    for layer in layers:
        base.update({k: v for k, v in layer.items() if k not in ("per_dataset", "per_architecture", "pruning")})
        pruning.update(layer.get("pruning", {}))
    dropout = bool(regime.get("dropout", False))
    settings = {
        "epochs": base["epochs"],
        "prune_epochs": base["prune_epochs"],
        "batch_size": base["batch_size"],
        "learning_rate": base["learning_rate"],
        "dropout": base["dropout"] if dropout else 0.0,
        "l1": regime.get("l1", 0.0),
        "l2": regime.get("l2", 0.0),
        "shuffle": base.get("shuffle", True),
        "widths": list(base["hidden_widths"]),
        "initial_sparsity": pruning["initial_sparsity"],
        "final_sparsity": pruning["final_sparsity"],
        "pruning_power": pruning["power"],
        "pruning_frequency": pruning["frequency"],
    }
    for key in ("dense_widths", "augment"):
        if key in base:
            settings[key] = base[key]
    if "clusterable_init" in regime:  # P2 4.2
        settings.update(init_tags=regime["clusterable_init"]["tags"], init_beta=regime["clusterable_init"]["beta"])
    if "regularizer" in regime:  # P2 4.1
        settings["regularizer_weight"] = regime["regularizer"]["weight"]
        settings["regularizer_k"] = regime["regularizer"].get("k", 4)
        settings["regularizer_normalization"] = regime["regularizer"].get("normalization", "algorithm2")
    if dropout and "conv_dropout" in base:
        settings["conv_dropout"] = base["conv_dropout"]
    if architecture == "mlp" and regime.get("mlp_first_layer") == "l1":  # the authors' code (P2's L2 MLPs)
        settings["first_layer_l1"] = True
    return settings


def resolve_families(config: Mapping[str, Any], datasets: Mapping[str, Dataset] | None = None) -> dict[str, Family]:
    """Every family of ``config``, with equal-settings families pointing at the first declared."""
    limits = config.get("limits", {})
    datasets = resolve_datasets(config) if datasets is None else datasets
    families: dict[str, Family] = {}
    by_key: dict[str, str] = {}
    by_seed: dict[tuple[str, ...], str] = {}
    for name, entry in config["families"].items():
        where = f"families.{name}"
        n_init = entry.get("clustering", {}).get("n_init")
        if "pretrained" in entry:
            from clusterability.io.torchvision import TORCHVISION

            if entry["pretrained"] not in TORCHVISION or "dataset" in entry or "training" in entry:
                raise InputError(
                    f"config: {where}: a pretrained family names one of {', '.join(TORCHVISION)} "
                    "and no dataset or training"
                )
            families[name] = Family(
                name=name,
                network=name,
                dataset="imagenet",
                architecture=entry["pretrained"],
                regime="pretrained",
                runs=1,
                seed_names=("pretrained", entry["pretrained"]),
                train=TrainConfig(epochs=0, prune_epochs=0),
                pretrained=entry["pretrained"],
                n_init=n_init,
            )
            continue
        if "dataset" not in entry:
            raise InputError(f"config: {where}: give its `dataset` (or `pretrained` for an ImageNet model)")
        regime_name = entry.get("regime", "plain")
        if regime_name not in config["regimes"]:
            raise InputError(
                f"config: {where}.regime: unknown regime {regime_name!r}; "
                f"define it under `regimes:` or use one of {', '.join(config['regimes'])}"
            )
        if entry["dataset"] not in datasets:
            raise InputError(
                f"config: {where}.dataset: unknown dataset {entry['dataset']!r}; choose one of "
                f"{', '.join(datasets)} or declare it under datasets.synthetic or datasets.mixtures"
            )
        architecture = entry.get("architecture", "mlp")
        settings = training_settings(
            config["training"], config["regimes"][regime_name], entry["dataset"], entry.get("training"), architecture
        )
        for phase in ("epochs", "prune_epochs"):  # a scale's cap on every phase (e.g. the kilo-epoch runs)
            settings[phase] = _cap(settings[phase], limits.get("epochs"))
        try:
            train = TrainConfig.from_dict({**settings, "architecture": architecture})
        except InputError as exc:
            raise InputError(f"config: {where}: {exc}") from None
        # Default seeds: dataset and regime, and the architecture unless an MLP (P1's seeds stay as they were).
        default_seed_key = (entry["dataset"], regime_name) + ((architecture,) if architecture != "mlp" else ())
        seed_names = tuple(str(s) for s in entry.get("seed_key", default_seed_key))
        key = json.dumps([entry["dataset"], architecture, train.to_dict(), seed_names], sort_keys=True)
        network = by_key.setdefault(key, name)
        if network == name:
            other = by_seed.setdefault(seed_names, name)
            if other != name:
                raise InputError(
                    f"config: families {other} and {name} are trained differently but would get the same "
                    f"seeds {list(seed_names)}; give one of them a distinct `seed_key`"
                )
        families[name] = Family(
            name=name,
            network=network,
            dataset=entry["dataset"],
            architecture=architecture,
            regime=regime_name,
            runs=_cap(entry["runs"], limits.get("runs")),
            seed_names=seed_names,
            train=train,
            n_init=n_init,
        )
    return families


# ---------------------------------------------------------------------------- tables and figures


def _runs(runs: int | Sequence[int] | None) -> tuple[int, ...] | None:
    """A table's ``runs:``: a list of run numbers, or a count ``n`` for runs ``0 .. n - 1``."""
    if runs is None:
        return None
    return tuple(range(runs)) if isinstance(runs, int) else tuple(int(r) for r in runs)


def _required_methods(columns: Sequence[str]) -> set[str]:
    needed = set()
    for column in columns:
        if column in NONZERO_COLUMNS:
            needed.add("layer_nonzero")
        if column in LAYER_COLUMNS:
            needed.add("layer")
    return needed


def resolve_tables(config: Mapping[str, Any], families: Mapping[str, Family]) -> dict[str, Table]:
    """Every table of ``config``, its references and columns checked."""
    limits = config.get("limits", {})
    tables = {}
    for name, entry in config["tables"].items():
        where = f"tables.{name}"
        analysis = entry["analysis"]
        unknown = [f for f in entry["families"] if f not in families]
        if unknown:
            raise InputError(f"config: {where}.families: unknown family {unknown[0]!r}; define it under `families:`")
        columns = tuple(entry.get("columns", [c for c in COLUMNS[analysis] if c not in OPTIONAL_COLUMNS]))
        bad = [c for c in columns if c not in COLUMNS[analysis]]
        if bad:
            raise InputError(
                f"config: {where}.columns: {bad[0]!r} is not a column of a {analysis} table; "
                f"choose from {', '.join(COLUMNS[analysis])}"
            )
        init_family = entry.get("init_family")
        if init_family is not None and init_family not in families:
            raise InputError(
                f"config: {where}.init_family: unknown family {init_family!r}; define it under `families:`"
            )
        if init_family is None and INIT_COLUMNS & set(columns):
            if "columns" in entry:
                raise InputError(
                    f"config: {where}: columns {', '.join(c for c in columns if c in INIT_COLUMNS)} need the "
                    f"freshly initialized networks; name their family as {where}.init_family"
                )
            columns = tuple(c for c in columns if c not in INIT_COLUMNS)
        methods = tuple(entry.get("shuffle_methods", ["layer"]))
        missing = sorted(_required_methods(columns) - set(methods))
        if missing and "columns" in entry:
            raise InputError(
                f"config: {where}: columns {', '.join(c for c in columns if _required_methods([c]) & set(missing))} "
                f"need the {missing[0]!r} shuffles; add it to {where}.shuffle_methods"
            )
        if missing:  # default columns: keep those the shuffle methods provide
            columns = tuple(c for c in columns if not _required_methods([c]) - set(methods))
        lesions = analysis in LESION_ANALYSES
        if lesions and (entry.get("shuffles") or init_family is not None):
            raise InputError(
                f"config: {where}: a {analysis} table compares lesions, not n-cuts: remove its shuffles/init_family"
            )
        if "pairs" in entry and analysis != "double_lesions":
            raise InputError(f"config: {where}.pairs: only a double_lesions table chooses its pairs")
        tables[name] = Table(
            name=name,
            analysis=analysis,
            families=tuple(entry["families"]),
            stages=tuple(entry.get("stages", ["pruned"])),
            k=entry["k"],
            shuffles=_cap(entry.get("shuffles", 0), limits.get("shuffles")),
            shuffle_methods=methods,
            columns=columns,
            title=entry.get("title", name),
            paper=entry.get("paper", ""),
            init_family=init_family,
            runs=_runs(entry.get("runs")),
            pairs=entry.get("pairs", "important"),
            order=entry.get("order", "family"),
        )
    return tables


def _network_ref(where: str, entry: Mapping[str, Any], families: Mapping[str, Family]) -> NetworkRef:
    """The network a figure draws; ``where`` is the message prefix of its key (``config: figures.<name>.network``)."""
    family = entry["family"]
    if family not in families:
        raise InputError(f"{where}.family: unknown family {family!r}; define it under `families:`")
    if not 0 <= entry["run"] < families[family].runs:
        raise InputError(f"{where}.run: family {family} has runs 0-{families[family].runs - 1}, not {entry['run']}")
    return NetworkRef(family, int(entry["run"]), entry["stage"], int(entry["k"]))


def resolve_figures(
    config: Mapping[str, Any],
    tables: Mapping[str, Table],
    families: Mapping[str, Family],
    datasets: Mapping[str, Dataset],
) -> dict[str, Figure]:
    """Every figure of ``config``: a plot of a table, or (``network``) a drawing of one network."""
    figures = {}
    for name, entry in config.get("figures", {}).items():
        where = f"config: figures.{name}"
        plot, table, network = entry["plot"], entry.get("table"), entry.get("network")
        if plot not in PLOT_NAMES:
            raise InputError(f"{where}.plot: unknown plot {plot!r}; choose one of {', '.join(PLOT_NAMES)}")
        if plot in DATASET_PLOTS:
            if "datasets" not in entry or table is not None or network is not None:
                raise InputError(f"{where}: plot {plot} draws datasets; give `datasets:` and no `table:`/`network:`")
            unknown = [d for d in entry["datasets"] if d not in datasets]
            if unknown:
                raise InputError(f"{where}.datasets: unknown dataset {unknown[0]!r}; choose from {', '.join(datasets)}")
            figures[name] = Figure(
                name=name,
                plot=plot,
                table=None,
                title=entry.get("title", name),
                paper=entry.get("paper", ""),
                datasets=tuple(entry["datasets"]),
                label=int(entry.get("label", 0)),
                samples=int(entry.get("samples", 10)),
            )
            continue
        if "datasets" in entry:
            raise InputError(f"{where}.datasets: only a {', '.join(DATASET_PLOTS)} plot draws datasets")
        if plot in NETWORK_PLOTS:
            if network is None or table is not None:
                raise InputError(f"{where}: plot {plot} draws one network; give `network:` and no `table:`")
            ref = _network_ref(f"{where}.network", network, families)
            paper = entry.get("paper", "")
        else:
            if table is None or network is not None:
                raise InputError(f"{where}: plot {plot} draws a table; give `table:` and no `network:`")
            if table not in tables:
                raise InputError(f"{where}.table: unknown table {table!r}; define it under `tables:`")
            columns = set(tables[table].columns)
            for column in entry.get("where", {}):
                if column not in columns:
                    raise InputError(
                        f"{where}.where: {column!r} is not a column of table {table}; "
                        f"choose from {', '.join(tables[table].columns)}"
                    )
            ref = None
            paper = entry.get("paper", tables[table].paper)
        figures[name] = Figure(
            name=name,
            plot=plot,
            table=table,
            title=entry.get("title", name),
            paper=paper,
            where=tuple((c, tuple(v)) for c, v in entry.get("where", {}).items()),
            network=ref,
        )
    return figures


def _input_output_sizes(dataset: Dataset) -> tuple[int, int]:
    """The inputs (pixels times channels, or features) and outputs (classes, or targets) of a network of ``dataset``."""
    from clusterability.data.prepare import N_CLASSES, SIDE
    from clusterability.data.sources import get_source
    from clusterability.data.synthetic import MONOMIALS, POLYNOMIAL_KINDS

    if dataset.kind == "synthetic" and dataset.generator in POLYNOMIAL_KINDS:
        return 2, 2 ** len(MONOMIALS)  # x, y -> one target per polynomial
    if dataset.kind == "native" and get_source(dataset.of[0]).kind == "cifar10_bin":
        return 32 * 32 * 3, N_CLASSES
    if dataset.kind == "stack":
        return SIDE * SIDE * 2, N_CLASSES
    if dataset.kind == "resized":
        return dataset.side * dataset.side, N_CLASSES
    return SIDE * SIDE, N_CLASSES  # real, synthetic images, mixtures, halves: 28x28 gray


def graph_nodes(family: Family, datasets: Mapping[str, Dataset]) -> tuple[int, str] | None:
    """The nodes of the graph clustered for ``family``'s networks, and how they add up (None: an ImageNet model).

    An MLP's graph has a node per neuron, inputs and outputs included; a CNN's
    (small CNN, VGG) one per channel of its convolutions (P2 section 1.1;
    :func:`clusterability.core.build.network_graph`). Isolated neurons, known only
    after training, are dropped from these before clustering. An imported
    ImageNet model has thousands of channels.
    """
    from clusterability.train.models import CONV_ARCHITECTURES

    if family.pretrained:
        return None
    widths = list(family.train.widths)
    if family.architecture in CONV_ARCHITECTURES:
        return sum(widths), f"{family.architecture} channels {'+'.join(map(str, widths))}"
    inputs, outputs = _input_output_sizes(datasets[family.dataset])
    return inputs + sum(widths) + outputs, f"mlp neurons {'+'.join(map(str, [inputs, *widths, outputs]))}"


def check_cluster_counts(experiments: Experiments) -> None:
    """Raise :class:`InputError` if a table's or a network figure's ``k`` exceeds the nodes of a graph it clusters.

    Every network a table reads (its families and ``init_family``, every weight
    set) is clustered into ``k`` clusters; spectral clustering needs at least
    ``k`` nodes (:func:`graph_nodes`), so a larger ``k`` is refused here, before
    any training, not after it.
    """

    def check(where: str, k: int, family: Family) -> None:
        nodes = graph_nodes(family, experiments.datasets)
        if nodes is not None and k > nodes[0]:
            raise InputError(
                f"config: {where}: k = {k} is more than the {nodes[0]} nodes of family {family.name}'s graph "
                f"({nodes[1]}); use k <= {nodes[0]} or wider networks"
            )

    for table in experiments.tables.values():
        for name in (*table.families, *([table.init_family] if table.init_family else [])):
            check(f"tables.{table.name}.k", table.k, experiments.families[name])
    for figure in experiments.figures.values():
        if figure.network is not None:
            check(f"figures.{figure.name}.network.k", figure.network.k, experiments.families[figure.network.family])


def load_experiments(config: Mapping[str, Any]) -> Experiments:
    """Families, tables and figures of a validated ``config``."""
    datasets = resolve_datasets(config)
    families = resolve_families(config, datasets)
    tables = resolve_tables(config, families)
    experiments = Experiments(families, tables, resolve_figures(config, tables, families, datasets), datasets)
    check_cluster_counts(experiments)
    return experiments


def shuffle_chunks(n_shuffles: int, chunk_size: int) -> list[range]:
    """The shuffle indices of the fan-out jobs that cover shuffles ``0 .. n_shuffles - 1``.

    Chunk ``c`` is always ``[c * chunk_size, (c + 1) * chunk_size)``, whatever
    ``n_shuffles`` is, so tables with different numbers of shuffles share
    chunks; a table uses the first ``n_shuffles`` of them.
    """
    n_chunks = -(-n_shuffles // chunk_size)
    return [range(c * chunk_size, (c + 1) * chunk_size) for c in range(n_chunks)]
