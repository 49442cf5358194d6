# Helpers shared by every stage: configuration, seeds, target lists, provenance.

import json

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from clusterability.errors import InputError
from clusterability.pipeline_config import (
    resolve_config,
    shuffle_chunks,
    training_settings,
)
from clusterability.provenance import script_module_files
from clusterability.seeds import derive_seed

SCHEMA = workflow.source_path("../schemas/config.schema.yaml")
try:
    # Strings from --config are coerced to the schema's types; the scale preset is
    # merged in, and command-line values are applied again so that they win over it.
    CONFIG = resolve_config(
        config, SCHEMA, overrides=workflow.config_settings.overwrite_config
    )
except InputError as exc:
    raise WorkflowError(str(exc)) from None
validate(CONFIG, SCHEMA)

SCALE = CONFIG["scale"]
SEED = CONFIG["seed"]
CLUSTERING = CONFIG["clustering"]
TABLE1 = CONFIG["table1"]
STAGES = ["unpruned", "pruned"]
CHUNKS = shuffle_chunks(CLUSTERING["shuffles"], CLUSTERING["chunk_size"])


wildcard_constraints:
    dataset="mnist|fashion_mnist|cifar10",
    regime="plain|dropout",
    run=r"\d+",
    stage="unpruned|pruned",
    method="layer|layer_nonzero",
    chunk=r"\d+",


def lib_inputs(script):
    """The library files a workflow script imports: editing one reruns its jobs."""
    return script_module_files(workflow.source_path(f"../workflow_scripts/{script}"))


def res(kind, key):
    """A resource (threads, mem_mb, runtime) of a kind of job."""
    return CONFIG["resources"][kind][key]


def train_seed(wildcards):
    return derive_seed(
        SEED, "train", wildcards.dataset, wildcards.regime, int(wildcards.run)
    )


def cluster_seed(wildcards):
    return derive_seed(
        SEED,
        "cluster",
        wildcards.dataset,
        wildcards.regime,
        int(wildcards.run),
        wildcards.stage,
    )


def train_params(wildcards):
    return training_settings(CONFIG, wildcards.dataset, wildcards.regime)


def chunk_range(wildcards):
    chunk = CHUNKS[int(wildcards.chunk)]
    return [chunk.start, chunk.stop]


def network_dir(dataset, regime, run):
    return f"results/networks/{dataset}/{regime}/run{run}"


def clustering_dir(dataset, regime, run, stage):
    return f"results/clustering/{dataset}/{regime}/run{run}/{stage}"


def shuffle_chunk_files(wildcards):
    base = clustering_dir(
        wildcards.dataset, wildcards.regime, wildcards.run, wildcards.stage
    )
    return [
        f"{base}/shuffles/{wildcards.method}/chunk{i}.json" for i in range(len(CHUNKS))
    ]


def table1_networks():
    """(dataset, regime, run) of every network in Table 1."""
    return [
        (dataset, regime, run)
        for dataset in TABLE1["datasets"]
        for regime in TABLE1["regimes"]
        for run in range(TABLE1["n_networks"])
    ]


def table1_records():
    """Per network: its seed and the paths of its result files (see clusterability.tables)."""
    records = []
    for dataset, regime, run in table1_networks():
        stages = {}
        for stage in STAGES:
            base = clustering_dir(dataset, regime, run, stage)
            stages[stage] = {
                "network": f"{base}/network.json",
                "shuffles": {
                    m: f"{base}/{m}.json" for m in CLUSTERING["shuffle_methods"]
                },
            }
        records.append(
            {
                "dataset": dataset,
                "regime": regime,
                "run": run,
                "seed": derive_seed(SEED, "train", dataset, regime, run),
                "metrics": f"{network_dir(dataset, regime, run)}/metrics.json",
                "stages": stages,
            }
        )
    return records


def table1_inputs():
    files = []
    for rec in table1_records():
        files.append(rec["metrics"])
        for stage in rec["stages"].values():
            files.append(stage["network"])
            files.extend(stage["shuffles"].values())
    return files


def all_targets():
    return [
        "results/table1.csv",
        "results/table1_networks.csv",
        "results/figures/fig2_ncut_vs_accuracy.png",
        "results/figures/fig2_ncut_vs_accuracy.pdf",
    ]
