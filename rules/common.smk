# Helpers shared by every stage: the validated config, its experiments (families,
# tables, figures), seeds, paths and target lists.

import json
import os
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

import clusterability


def _check_library(imported, beside):
    """Stop unless the importable package is the lib/ beside this Snakefile (or one named on PYTHONPATH)."""
    imported, beside = Path(imported).resolve(), Path(beside).resolve()
    named = {
        Path(p, "clusterability").resolve()
        for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if p
    }
    if imported != beside and imported not in named:
        raise WorkflowError(
            f"the importable clusterability is {imported}, not this workflow's {beside}: "
            "run `pip install -e .` in this clone, or run with this clone's environment"
        )
    if workflow.is_main_process:
        logger.info(f"clusterability library: {imported}")


_check_library(
    Path(clusterability.__file__).parent,
    Path(workflow.basedir, "lib", "clusterability"),
)

from clusterability.errors import InputError
from clusterability.workflow.experiments import shuffle_chunks
from clusterability.workflow.config import load_config
from clusterability.workflow.provenance import code_hash
from clusterability.seeds import derive_seed

try:
    # Validated once; raises one line naming the key at fault. The folders and files it
    # names (dataset mirror, checksums, ImageNet checkpoints) are checked where Snakemake
    # runs, not again in each job on a compute node, which may not see them (the fetching
    # jobs that read them are local rules).
    CONFIG, EXPERIMENTS = load_config(
        config,
        workflow.source_path("../schemas/config.schema.yaml"),
        paths=workflow.is_main_process,
    )
except InputError as exc:
    raise WorkflowError(str(exc)) from None

SCALE = CONFIG["scale"]
SEED = CONFIG["seed"]
CLUSTERING = CONFIG["clustering"]
LESIONS = CONFIG["lesions"]
FAMILIES = EXPERIMENTS.families
TABLES = EXPERIMENTS.tables
FIGURES = EXPERIMENTS.figures
TRAINED = EXPERIMENTS.trained_families()
PRETRAINED = EXPERIMENTS.pretrained_families()
IMAGENET = CONFIG["imagenet"]
LESION_SCOPES = EXPERIMENTS.lesion_scopes()


DATASETS = EXPERIMENTS.datasets


def _one_of(names):
    names = sorted(names, key=len, reverse=True)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def _datasets(kind):
    return [name for name, spec in DATASETS.items() if spec.kind == kind]


wildcard_constraints:
    dataset=_one_of(_datasets("real")),
    synthetic=_one_of(_datasets("synthetic")),
    mixture=_one_of(_datasets("mixture")),
    prepared=_one_of(_datasets("real") + _datasets("native")),
    paired=_one_of(_datasets("halves") + _datasets("stack")),
    resized=_one_of(_datasets("resized")),
    family=_one_of(TRAINED),
    pretrained=_one_of(PRETRAINED),
    architecture=_one_of({FAMILIES[f].pretrained for f in PRETRAINED}),
    run=r"\d+",
    stage="unpruned|pruned",
    k=r"\d+",
    method="layer|layer_nonzero",
    chunk=r"\d+",
    n=r"\d+",
    table=_one_of(TABLES),
    figure=_one_of(FIGURES),


def code_params(script):
    """The hash of a script's logic and its library modules' (a rule's ``code`` param): see provenance."""
    return code_hash(Path(workflow.basedir, "workflow_scripts", script))


def res(kind, key):
    """A resource (threads, mem_mb, runtime) of a kind of job."""
    return CONFIG["resources"][kind][key]


def train_res(key):
    """A resource of a family's training job: its architecture's (resources.train_per_architecture) or `train`."""
    per_architecture = CONFIG["resources"].get("train_per_architecture", {})

    def get(wildcards):
        architecture = FAMILIES[wildcards.family].architecture
        return per_architecture.get(architecture, CONFIG["resources"]["train"])[key]

    return get


# -- networks: results/networks/{family}/run{run}/ ----------------------------


def network_seed(family, run):
    """The training seed of run ``run`` of ``family`` (from its seed names)."""
    return derive_seed(SEED, "train", *FAMILIES[family].seed_names, int(run))


def cluster_seed(wildcards):
    return derive_seed(
        SEED,
        "cluster",
        *FAMILIES[wildcards.family].seed_names,
        int(wildcards.run),
        wildcards.stage,
    )


def lesion_seed(wildcards):
    """The seed of a network's lesion experiments: its random neuron sets derive from it."""
    return derive_seed(
        SEED,
        "lesion",
        *FAMILIES[wildcards.family].seed_names,
        int(wildcards.run),
        wildcards.stage,
        int(wildcards.k),
    )


def n_init(wildcards):
    """k-means restarts of a family's clusterings: its own (ImageNet models: 100) or clustering.n_init."""
    return FAMILIES[wildcards.family].n_init or CLUSTERING["n_init"]


def pretrained_checkpoint(wildcards):
    """The torchvision checkpoint an ImageNet family imports (none for random initialization)."""
    if IMAGENET["checkpoints"] == "random":
        return []
    return f"resources/imagenet/{FAMILIES[wildcards.pretrained].pretrained}.pth"


def train_params(wildcards):
    return FAMILIES[wildcards.family].train.to_dict()


def train_seed(wildcards):
    return network_seed(wildcards.family, wildcards.run)


def mixture_inputs(wildcards):
    first, second = DATASETS[wildcards.mixture].of
    return {
        "first": f"results/data/{first}.npz",
        "second": f"results/data/{second}.npz",
    }


def raw_folder(wildcards):
    return f"resources/raw/{DATASETS[wildcards.prepared].source}"


def paired_source(wildcards):
    return f"results/data/{DATASETS[wildcards.paired].of[0]}.npz"


def resized_source(wildcards):
    return f"results/data/{DATASETS[wildcards.resized].of[0]}.npz"


def family_dataset(wildcards):
    return f"results/data/{FAMILIES[wildcards.family].dataset}.npz"


def network_dir(family, run):
    return f"results/networks/{FAMILIES[family].network}/run{run}"


# -- clustering: results/clustering/{family}/run{run}/{stage}/k{k}/ -----------


def clustering_dir(family, run, stage, k):
    return f"results/clustering/{FAMILIES[family].network}/run{run}/{stage}/k{k}"


def lesion_pair_scope(wildcards):
    """Which pairs a network's double lesions cover: ``all`` if a table shows every pair, else ``important``."""
    key = (wildcards.family, int(wildcards.run), wildcards.stage, int(wildcards.k))
    return "all" if LESION_SCOPES.get(key) == "all" else "important"


def lesion_dir(family, run, stage, k):
    return f"results/lesions/{FAMILIES[family].network}/run{run}/{stage}/k{k}"


def chunk_range(wildcards):
    chunk = int(wildcards.chunk)
    size = CLUSTERING["chunk_size"]
    return [chunk * size, (chunk + 1) * size]


def shuffle_chunk_files(wildcards):
    """The fan-out chunks that hold shuffles 0 .. n-1 of one network, stage, k and method."""
    base = "results/clustering/{family}/run{run}/{stage}/k{k}/{method}".format(
        **wildcards
    )
    chunks = shuffle_chunks(int(wildcards.n), CLUSTERING["chunk_size"])
    return [f"{base}/chunk{c}.json" for c in range(len(chunks))]


# -- tables and figures ---------------------------------------------------------


def _network_record(family, run, stages, role="row"):
    return {
        "family": family.name,
        "dataset": family.dataset,
        "architecture": family.architecture,
        "regime": family.regime,
        "dropout": family.dropout,
        "run": run,
        "seed": network_seed(family.name, run),
        "metrics": f"{network_dir(family.name, run)}/metrics.json",
        "stages": stages,
        "role": role,
    }


def table_records(name):
    """Per network of table ``name``: its labels, seed and result files (see clusterability.report.tables).

    The networks of its ``init_family`` come last, with role "init" and their
    unpruned clustering only.
    """
    records = []
    for work in EXPERIMENTS.table_work(name):
        stages = {}
        for stage, methods in work.stages.items():
            base = clustering_dir(work.family.name, work.run, stage, work.k)
            shuffles = {m: f"{base}/{m}/shuffles{work.shuffles}.json" for m in methods}
            stages[stage] = {"network": f"{base}/network.json", "shuffles": shuffles}
            if work.lesions:
                where = lesion_dir(work.family.name, work.run, stage, work.k)
                stages[stage]["lesions"] = {r: f"{where}/{r}.csv" for r in work.lesions}
        records.append(_network_record(work.family, work.run, stages, role=work.role))
    return records


def table_inputs(wildcards):
    files = []
    for rec in table_records(wildcards.table):
        files.append(rec["metrics"])
        for stage in rec["stages"].values():
            files.append(stage["network"])
            files.extend(stage["shuffles"].values())
            files.extend(stage.get("lesions", {}).values())
    return files


def table_params(wildcards):
    """The table entry as JSON (its analysis, stages, columns, k, shuffles)."""
    table = TABLES[wildcards.table]
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


def table_caption_params(wildcards):
    """What the report's caption (report/table.rst) says about a table."""
    table = TABLES[wildcards.table]
    return {
        "title": table.title,
        "analysis": table.analysis,
        "families": list(table.families),
        "runs": [
            sum(
                1
                for run in range(FAMILIES[f].runs)
                if table.runs is None or run in table.runs
            )
            for f in table.families
        ],
        "stages": list(table.stages),
        "k": table.k,
        "shuffles": table.shuffles,
        "shuffle_methods": list(table.shuffle_methods),
        "columns": list(table.columns),
    }


def figure_records(wildcards):
    """The records of a figure's table whose shuffle n-cuts its plot draws (else none)."""
    figure = FIGURES[wildcards.figure]
    if figure.table is None or not figure.needs_shuffles:
        return []
    return table_records(figure.table)


def figure_inputs(wildcards):
    """A table figure's CSV (and shuffles, for the distribution plots), or a network's weights and clustering."""
    figure = FIGURES[wildcards.figure]
    if figure.datasets:
        return {"datasets": [f"results/data/{name}.npz" for name in figure.datasets]}
    if figure.network is not None:
        ref = figure.network
        return {
            "weights": f"{network_dir(ref.family, ref.run)}/weights_{ref.stage}.npz",
            "clustering": f"{clustering_dir(ref.family, ref.run, ref.stage, ref.k)}/network.json",
        }
    shuffles = [
        path
        for rec in figure_records(wildcards)
        for stage in rec["stages"].values()
        for path in stage["shuffles"].values()
    ]
    return {"table": f"results/{figure.table}.csv", "shuffles": shuffles}


def figure_params(wildcards):
    """What the figure script needs: the plot, its title, the rows kept and the records."""
    figure = FIGURES[wildcards.figure]
    return json.dumps(
        {
            "plot": figure.plot,
            "network": figure.network is not None,
            "datasets": list(figure.datasets),
            "label": figure.label,
            "samples": figure.samples,
            "title": f"{figure.title} (scale {SCALE})",
            "where": {column: list(values) for column, values in figure.where},
            "records": figure_records(wildcards),
        },
        sort_keys=True,
    )


def table_files(names):
    return [f"results/{name}.csv" for name in names]


def figure_files(names):
    return [f"results/figures/{name}.{ext}" for name in names for ext in ("png", "pdf")]


def paper_targets(paper):
    names = EXPERIMENTS.paper_targets(paper)
    return table_files(n for n in names if n in TABLES) + figure_files(
        n for n in names if n in FIGURES
    )


def all_targets():
    return table_files(TABLES) + figure_files(FIGURES)
