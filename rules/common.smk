# Helpers shared by every stage: the validated config and its experiments (families, tables,
# figures), wildcard constraints, resources, and the rules' input and params functions: thin
# wrappers of clusterability.workflow.targets (the plan as pure functions, tested without Snakemake).

import os
from functools import partial
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

import clusterability
from clusterability.errors import InputError
from clusterability.workflow import batches, targets
from clusterability.workflow.config import load_config
from clusterability.workflow.provenance import check_library, code_hash
from clusterability.workflow.scheduling import coalesce_reevaluations

try:
    # The workflow runs (and tracks) the lib/ beside this Snakefile, not another clone's.
    check_library(
        Path(clusterability.__file__).parent,
        Path(workflow.basedir, "lib", "clusterability"),
        os.environ.get("PYTHONPATH", ""),
    )
    # Validated once (config.yaml, its catalogue files, scale files and --config merged);
    # raises one line naming the key at fault. The folders and files it names (dataset
    # mirror, checksums, ImageNet checkpoints) are checked where Snakemake runs, not again
    # in each job on a compute node, which may not see them (the fetching jobs that read
    # them are local rules).
    CONFIG, EXPERIMENTS = load_config(
        config,
        workflow.source_path("../schemas/config.schema.yaml"),
        paths=workflow.is_main_process,
        base=workflow.basedir,
        catalogue_schema=workflow.source_path("../schemas/experiments.schema.yaml"),
    )
except InputError as exc:
    raise WorkflowError(str(exc)) from None
if workflow.is_main_process:
    logger.info(f"clusterability library: {Path(clusterability.__file__).parent}")
# Snakemake 9 wakes its scheduler once more per second for every job finished while others wait
# for a core: one pending wake-up at a time instead (clusterability.workflow.scheduling).
coalesce_reevaluations()

SCALE = CONFIG["scale"]
SEED = CONFIG["seed"]
CLUSTERING = CONFIG["clustering"]
LESIONS = CONFIG["lesions"]
IMAGENET = CONFIG["imagenet"]
FAMILIES = EXPERIMENTS.families
TABLES = EXPERIMENTS.tables
FIGURES = EXPERIMENTS.figures
DATASETS = EXPERIMENTS.datasets
TRAINED = EXPERIMENTS.trained_families()
PRETRAINED = EXPERIMENTS.pretrained_families()
# Families that train several runs per job (resources: networks_per_job), and how many.
BATCHED = batches.batched_families(EXPERIMENTS, CONFIG["resources"])
LESION_SCOPES = EXPERIMENTS.lesion_scopes()


wildcard_constraints:
    **targets.wildcard_patterns(EXPERIMENTS),


def code_params(script):
    """The hash of a script's logic and its library modules' (a rule's ``code`` param): see provenance."""
    return code_hash(Path(workflow.basedir, "workflow_scripts", script))


def res(kind, key):
    """A resource (threads, mem_mb, runtime) of a kind of job."""
    return CONFIG["resources"][kind][key]


def gather_res(key):
    """A gather_shuffles job's resource: a clustering's where it makes the shuffles itself, else `light`'s."""

    def value(wildcards):
        fans_out = targets.fans_out(CLUSTERING["chunk_size"], wildcards.n)
        return res("light" if fans_out else "cluster", key)

    return value


def train_res(key):
    """A resource of a family's training job: its architecture's (resources.train_per_architecture) or `train`."""
    return lambda wildcards: batches.train_resources(
        CONFIG["resources"], FAMILIES[wildcards.family].architecture
    )[key]


def _wildcards(function, *args, names):
    """A rule's input or params function: ``function(*args, *wildcards named names)`` (see workflow.targets)."""
    return lambda wildcards: function(
        *args, *(getattr(wildcards, name) for name in names)
    )


def n_init(wildcards):
    """k-means restarts of a family's clusterings: its own (ImageNet models: 100) or clustering.n_init."""
    return FAMILIES[wildcards.family].n_init or CLUSTERING["n_init"]


def train_params(wildcards):
    """A family's training settings (clusterability.train.config.TrainConfig)."""
    return FAMILIES[wildcards.family].train.to_dict()


# The wildcards naming a network, its weight set, its clustering.
_RUN = ("family", "run")
_STAGE = ("family", "run", "stage")
_K = ("family", "run", "stage", "k")

# -- datasets, networks, clusterings, lesions: results/{data,networks,clustering,lesions}/
network_seed = partial(targets.network_seed, EXPERIMENTS, SEED)
network_dir = partial(targets.network_dir, EXPERIMENTS)
train_seed = _wildcards(targets.network_seed, EXPERIMENTS, SEED, names=_RUN)
cluster_seed = _wildcards(targets.cluster_seed, EXPERIMENTS, SEED, names=_STAGE)
lesion_seed = _wildcards(targets.lesion_seed, EXPERIMENTS, SEED, names=_K)
lesion_pair_scope = _wildcards(targets.lesion_pair_scope, LESION_SCOPES, names=_K)
chunk_range = _wildcards(targets.chunk_range, CLUSTERING["chunk_size"], names=["chunk"])
shuffle_chunk_files = _wildcards(
    targets.shuffle_chunk_files,
    CLUSTERING["chunk_size"],
    names=[*_K, "method", "n"],
)
gather_weights = _wildcards(
    targets.gather_weights, CLUSTERING["chunk_size"], names=[*_STAGE, "n"]
)
gather_network = _wildcards(
    targets.gather_network, CLUSTERING["chunk_size"], names=[*_K, "n"]
)
batch_runs = _wildcards(
    batches.batch_runs, EXPERIMENTS, SEED, BATCHED, names=["family", "batch"]
)
run_batch_dir = _wildcards(batches.run_batch_dir, BATCHED, names=_RUN)
batch_runtime = lambda wildcards: train_res("runtime")(wildcards) * len(
    batch_runs(wildcards)
)
family_dataset = _wildcards(targets.family_dataset, EXPERIMENTS, names=["family"])
mixture_inputs = _wildcards(targets.mixture_inputs, EXPERIMENTS, names=["mixture"])
raw_folder = _wildcards(targets.raw_folder, EXPERIMENTS, names=["prepared"])
paired_source = _wildcards(targets.source_dataset, EXPERIMENTS, names=["paired"])
resized_source = _wildcards(targets.source_dataset, EXPERIMENTS, names=["resized"])
pretrained_checkpoint = _wildcards(
    targets.pretrained_checkpoint,
    EXPERIMENTS,
    IMAGENET["checkpoints"],
    names=["pretrained"],
)

# -- tables and figures: results/{table}.csv, results/figures/{figure}.{png,pdf}
table_inputs = _wildcards(targets.table_inputs, EXPERIMENTS, SEED, names=["table"])
table_records = partial(targets.table_records, EXPERIMENTS, SEED)
table_params = _wildcards(targets.table_params, EXPERIMENTS, names=["table"])
table_caption_params = _wildcards(targets.table_caption, EXPERIMENTS, names=["table"])
figure_inputs = _wildcards(targets.figure_inputs, EXPERIMENTS, SEED, names=["figure"])
figure_params = _wildcards(
    targets.figure_params, EXPERIMENTS, SEED, SCALE, names=["figure"]
)
table_files = targets.table_files
figure_files = targets.figure_files
paper_targets = partial(targets.paper_targets, EXPERIMENTS)
all_targets = partial(targets.all_targets, EXPERIMENTS)
