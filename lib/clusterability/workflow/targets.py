"""The workflow's plan: where each network's, clustering's and lesion's files are, what each table and
figure is made from, and which files make up each paper.

``rules/common.smk`` wraps these for Snakemake (a rule's input and params functions get its
wildcards: strings, hence the ``int(run)``); here they are pure functions of the resolved
:class:`~clusterability.workflow.experiments.Experiments`, the master seed and names, testable
without Snakemake. Every seed is derived from the master seed and a family's seed names
(:func:`clusterability.seeds.derive_seed`), so a network, clustering or lesion has the same seed
in every table that reads it.

Files: ``results/networks/{network}/run{run}/`` (weights, metrics),
``results/clustering/{network}/run{run}/{stage}/k{k}/`` (``network.json``, and per shuffle method
its chunks and gathered shuffles, which hold the network's clustering too: a table reads a stage's
clustering from them where it has shuffles, and ``network.json`` only where it has none),
``results/lesions/{network}/run{run}/{stage}/k{k}/``, where ``network`` is the family whose
networks these are (:attr:`Family.network`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from clusterability.seeds import derive_seed
from clusterability.workflow.experiments import Experiments, Family, shuffle_chunks

# ---------------------------------------------------------------------------- seeds and folders


def dataset_seed(seed: int, name: str) -> int:
    """The seed a dataset ``name`` is drawn, split or paired with (a prepared dataset: its source's)."""
    return derive_seed(seed, "data", name)


def network_seed(experiments: Experiments, seed: int, family: str, run: int | str) -> int:
    """The training seed of run ``run`` of ``family`` (from its seed names)."""
    return derive_seed(seed, "train", *experiments.families[family].seed_names, int(run))


def cluster_seed(experiments: Experiments, seed: int, family: str, run: int | str, stage: str) -> int:
    """The seed of a network's clustering and of its shuffles at one weight set (``stage``)."""
    return derive_seed(seed, "cluster", *experiments.families[family].seed_names, int(run), stage)


def lesion_seed(experiments: Experiments, seed: int, family: str, run: int | str, stage: str, k: int | str) -> int:
    """The seed of a network's lesion experiments: its random neuron sets derive from it."""
    return derive_seed(seed, "lesion", *experiments.families[family].seed_names, int(run), stage, int(k))


def dataset_file(name: str) -> str:
    """The prepared (or drawn, mixed, paired, resized) dataset ``name``."""
    return f"results/data/{name}.npz"


def network_dir(experiments: Experiments, family: str, run: int | str) -> str:
    """The folder of run ``run`` of ``family``'s networks (those of the family it shares them with)."""
    return f"results/networks/{experiments.families[family].network}/run{run}"


def clustering_dir(experiments: Experiments, family: str, run: int | str, stage: str, k: int | str) -> str:
    """The folder of a network's clustering into ``k`` clusters at weight set ``stage``, and of its shuffles."""
    return f"results/clustering/{experiments.families[family].network}/run{run}/{stage}/k{k}"


def lesion_dir(experiments: Experiments, family: str, run: int | str, stage: str, k: int | str) -> str:
    """The folder of a clustered network's lesion experiments (P1 section 4)."""
    return f"results/lesions/{experiments.families[family].network}/run{run}/{stage}/k{k}"


# ---------------------------------------------------------------------------- the jobs' inputs and params


def chunk_range(chunk_size: int, chunk: int | str) -> list[int]:
    """The shuffle indices ``[start, stop)`` of fan-out chunk ``chunk`` (:func:`shuffle_chunks`)."""
    return [int(chunk) * chunk_size, (int(chunk) + 1) * chunk_size]


def fans_out(chunk_size: int, n: int | str) -> bool:
    """Whether a network's first ``n`` shuffles are made by ``shuffle_chunk`` jobs (more than one chunk of
    ``chunk_size``) rather than by their ``gather_shuffles`` job itself (one job and process fewer)."""
    return len(shuffle_chunks(int(n), chunk_size)) > 1


def shuffle_chunk_files(
    chunk_size: int, network: str, run: int | str, stage: str, k: int | str, method: str, n: int | str
) -> list[str]:
    """The fan-out chunks that hold shuffles ``0 .. n - 1`` of one network, stage, k and method (none where
    they fit one chunk: :func:`fans_out`)."""
    if not fans_out(chunk_size, n):
        return []
    base = f"results/clustering/{network}/run{run}/{stage}/k{k}/{method}"
    return [f"{base}/chunk{c}.json" for c in range(len(shuffle_chunks(int(n), chunk_size)))]


def gather_weights(chunk_size: int, network: str, run: int | str, stage: str, n: int | str) -> list[str]:
    """The weights a ``gather_shuffles`` job clusters and shuffles itself: the network's where its shuffles
    fit one chunk."""
    return [] if fans_out(chunk_size, n) else [f"results/networks/{network}/run{run}/weights_{stage}.npz"]


def gather_network(chunk_size: int, network: str, run: int | str, stage: str, k: int | str, n: int | str) -> list[str]:
    """The clustering a ``gather_shuffles`` job reads: ``network.json`` where the shuffles fan out in chunks;
    none where they fit one chunk (the job clusters the network itself, one job and process fewer)."""
    return [f"results/clustering/{network}/run{run}/{stage}/k{k}/network.json"] if fans_out(chunk_size, n) else []


def lesion_pair_scope(
    scopes: Mapping[tuple[str, int, str, int], str], network: str, run: int | str, stage: str, k: int | str
) -> str:
    """Which pairs a network's double lesions cover: ``all`` if a table shows every pair, else ``important``.

    ``scopes`` is :meth:`Experiments.lesion_scopes`.
    """
    return "all" if scopes.get((network, int(run), stage, int(k))) == "all" else "important"


def mixture_inputs(experiments: Experiments, mixture: str) -> dict[str, str]:
    """The two datasets a mixture (P1 A.5) is drawn from."""
    first, second = experiments.datasets[mixture].of
    return {"first": dataset_file(first), "second": dataset_file(second)}


def source_dataset(experiments: Experiments, name: str) -> str:
    """The real dataset a paired (halves, stack) or resized dataset is made from."""
    return dataset_file(experiments.datasets[name].of[0])


def raw_folder(experiments: Experiments, name: str) -> str:
    """The raw files a real (or native) dataset is prepared from."""
    return f"resources/raw/{experiments.datasets[name].source}"


def family_dataset(experiments: Experiments, family: str) -> str:
    """The dataset a family's networks train (and are lesioned) on."""
    return dataset_file(experiments.families[family].dataset)


def pretrained_checkpoint(experiments: Experiments, checkpoints: str | None, family: str) -> list[str] | str:
    """The torchvision checkpoint an ImageNet family imports (none for ``imagenet.checkpoints: random``)."""
    if checkpoints == "random":
        return []
    return f"resources/imagenet/{experiments.families[family].pretrained}.pth"


# ---------------------------------------------------------------------------- tables and figures


def _network_record(
    experiments: Experiments, seed: int, family: Family, run: int, stages: dict[str, Any], role: str
) -> dict[str, Any]:
    return {
        "family": family.name,
        "dataset": family.dataset,
        "architecture": family.architecture,
        "regime": family.regime,
        "dropout": family.dropout,
        "run": run,
        "seed": network_seed(experiments, seed, family.name, run),
        "metrics": f"{network_dir(experiments, family.name, run)}/metrics.json",
        "stages": stages,
        "role": role,
    }


def table_records(experiments: Experiments, seed: int, name: str) -> list[dict[str, Any]]:
    """Per network of table ``name``: its labels, seed and result files (see :mod:`clusterability.report.tables`).

    The networks of its ``init_family`` come last, with role ``init`` and their unpruned clustering only.
    """
    records = []
    for work in experiments.table_work(name):
        family = work.family.name
        stages = {}
        for stage, methods in work.stages.items():
            base = clustering_dir(experiments, family, work.run, stage, work.k)
            shuffles = {m: f"{base}/{m}/shuffles{work.shuffles}.json" for m in methods}
            # A gathered shuffle set holds its network's clustering too: read from the first, no
            # ``network.json`` (nor its job) is needed for a stage with shuffles.
            network = next(iter(shuffles.values())) if shuffles else f"{base}/network.json"
            stages[stage] = {"network": network, "shuffles": shuffles}
            if work.lesions:
                where = lesion_dir(experiments, family, work.run, stage, work.k)
                stages[stage]["lesions"] = {r: f"{where}/{r}.csv" for r in work.lesions}
        records.append(_network_record(experiments, seed, work.family, work.run, stages, work.role))
    return records


def table_inputs(experiments: Experiments, seed: int, name: str) -> list[str]:
    """Every file table ``name`` reads: each network's metrics, clusterings, shuffles and lesions."""
    files = []
    for record in table_records(experiments, seed, name):
        files.append(record["metrics"])
        for stage in record["stages"].values():
            files.extend(dict.fromkeys([stage["network"], *stage["shuffles"].values()]))
            files.extend(stage.get("lesions", {}).values())
    return files


def table_params(experiments: Experiments, name: str) -> str:
    """Table ``name``'s entry as JSON (its analysis, families, stages, columns, k, shuffles, pairs and row order)."""
    table = experiments.tables[name]
    return json.dumps(
        {
            "analysis": table.analysis,
            "families": list(table.families),
            "stages": list(table.stages),
            "columns": list(table.columns),
            "k": table.k,
            "shuffles": table.shuffles,
            "pairs": table.pairs,
            "order": table.order,
        }
    )


def table_caption(experiments: Experiments, name: str) -> dict[str, Any]:
    """What the report's caption (``report/table.rst``) says about table ``name``."""
    table = experiments.tables[name]
    return {
        "title": table.title,
        "analysis": table.analysis,
        "families": list(table.families),
        "runs": [
            sum(1 for run in range(experiments.families[f].runs) if table.runs is None or run in table.runs)
            for f in table.families
        ],
        "stages": list(table.stages),
        "k": table.k,
        "shuffles": table.shuffles,
        "shuffle_methods": list(table.shuffle_methods),
        "columns": list(table.columns),
    }


def figure_records(experiments: Experiments, seed: int, name: str) -> list[dict[str, Any]]:
    """The records of figure ``name``'s table whose shuffle n-cuts its plot draws (else none)."""
    figure = experiments.figures[name]
    if figure.table is None or not figure.needs_shuffles:
        return []
    return table_records(experiments, seed, figure.table)


def figure_inputs(experiments: Experiments, seed: int, name: str) -> dict[str, str | list[str]]:
    """A table figure's CSV (and shuffles, for the distribution plots), a network's weights and clustering,
    or the datasets whose images it shows."""
    figure = experiments.figures[name]
    if figure.datasets:
        return {"datasets": [dataset_file(d) for d in figure.datasets]}
    if figure.network is not None:
        ref = figure.network
        return {
            "weights": f"{network_dir(experiments, ref.family, ref.run)}/weights_{ref.stage}.npz",
            "clustering": f"{clustering_dir(experiments, ref.family, ref.run, ref.stage, ref.k)}/network.json",
        }
    shuffles = [
        path
        for record in figure_records(experiments, seed, name)
        for stage in record["stages"].values()
        for path in stage["shuffles"].values()
    ]
    return {"table": f"results/{figure.table}.csv", "shuffles": shuffles}


def figure_params(experiments: Experiments, seed: int, scale: str, name: str) -> str:
    """What the figure script needs, as JSON: the plot, its title, the rows kept and the records."""
    figure = experiments.figures[name]
    return json.dumps(
        {
            "plot": figure.plot,
            "network": figure.network is not None,
            "datasets": list(figure.datasets),
            "label": figure.label,
            "samples": figure.samples,
            "title": f"{figure.title} (scale {scale})",
            "where": {column: list(values) for column, values in figure.where},
            "records": figure_records(experiments, seed, name),
        },
        sort_keys=True,
    )


# ---------------------------------------------------------------------------- targets


def table_files(names: Iterable[str]) -> list[str]:
    """The CSV files of tables ``names``."""
    return [f"results/{name}.csv" for name in names]


def figure_files(names: Iterable[str]) -> list[str]:
    """The PNG and PDF files of figures ``names``."""
    return [f"results/figures/{name}.{ext}" for name in names for ext in ("png", "pdf")]


def paper_targets(experiments: Experiments, paper: str) -> list[str]:
    """The files of ``paper`` (``p1``, ``p2``) or of a part of it (``p2_mlp``): its tables, then its figures."""
    names = experiments.paper_targets(paper)
    return table_files(n for n in names if n in experiments.tables) + figure_files(
        n for n in names if n in experiments.figures
    )


def all_targets(experiments: Experiments) -> list[str]:
    """Every table and figure of the configuration."""
    return table_files(experiments.tables) + figure_files(experiments.figures)


# ---------------------------------------------------------------------------- wildcard constraints


def one_of(names: Iterable[str]) -> str:
    """A regular expression matching exactly one of ``names`` (longest first; none: matches nothing)."""
    names = sorted(set(names), key=len, reverse=True)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def wildcard_patterns(experiments: Experiments) -> dict[str, str]:
    """Each wildcard's regular expression: the names the configuration declares, or digits."""

    def datasets(*kinds: str) -> list[str]:
        return [name for name, spec in experiments.datasets.items() if spec.kind in kinds]

    families = experiments.families
    pretrained = experiments.pretrained_families()
    return {
        "dataset": one_of(datasets("real")),
        "synthetic": one_of(datasets("synthetic")),
        "mixture": one_of(datasets("mixture")),
        "prepared": one_of(datasets("real", "native")),
        "paired": one_of(datasets("halves", "stack")),
        "resized": one_of(datasets("resized")),
        "family": one_of(experiments.trained_families()),
        "pretrained": one_of(pretrained),
        "architecture": one_of(families[f].pretrained for f in pretrained),
        "run": r"\d+",
        "stage": "unpruned|pruned",
        "k": r"\d+",
        "method": "layer|layer_nonzero",
        "chunk": r"\d+",
        "n": r"\d+",
        "table": one_of(experiments.tables),
        "figure": one_of(experiments.figures),
    }
