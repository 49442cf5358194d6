"""Several runs of a family per training job (resources ``networks_per_job``, issue 22 section 3).

A batched family's job ``batch`` trains runs ``batch * per_job ...`` one after the other
(:func:`clusterability.train.runs.train_runs`) into ``results/networks/{family}/batch{batch}/run{run}/``;
rule ``unpack_network`` (a shell job) then hard-links each run's files to ``results/networks/{family}/run{run}/``, where
every other rule reads them. The training job gets its runs' seeds and files as params
(:func:`batch_runs`): its script imports nothing of the workflow's plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clusterability.workflow.experiments import Experiments
from clusterability.workflow.targets import network_seed

#: A trained network's files in its folder, by the training rules' output names.
NETWORK_FILES = {
    "model": "model.keras",
    "weights_unpruned": "weights_unpruned.npz",
    "weights_pruned": "weights_pruned.npz",
    "metrics": "metrics.json",
}


def train_resources(resources: Mapping[str, Any], architecture: str) -> Mapping[str, Any]:
    """The training jobs' resources of an architecture: ``resources.train_per_architecture[architecture]``,
    else ``resources.train``."""
    return resources.get("train_per_architecture", {}).get(architecture, resources["train"])


def networks_per_job(resources: Mapping[str, Any], architecture: str) -> int:
    """How many runs of a family one training job trains (issue 22 section 3): ``networks_per_job`` of its
    architecture's training resources (:func:`train_resources`); 1 if unset."""
    return int(train_resources(resources, architecture).get("networks_per_job", 1))


def batched_families(experiments: Experiments, resources: Mapping[str, Any]) -> dict[str, int]:
    """Trained families whose runs train several per job, with their networks per job: those with
    ``networks_per_job`` above 1 (:func:`networks_per_job`; a family of one run then trains it alone in such a
    job). The others train one network per job (rule ``train_network``)."""
    out = {}
    for family in experiments.trained_families():
        settings = experiments.families[family]
        per_job = networks_per_job(resources, settings.architecture)
        if not settings.pretrained and per_job > 1:
            out[family] = per_job
    return out


def batch_runs(
    experiments: Experiments, seed: int, batched: Mapping[str, int], family: str, batch: int | str
) -> list[dict[str, Any]]:
    """The runs that training job ``batch`` of a batched ``family`` trains (from ``batch`` times its networks per
    job up to the next batch's first run, or to its last run): each one's ``run``, ``seed`` and files in the job's
    folder (:data:`NETWORK_FILES`)."""
    per_job = batched[family]
    first = int(batch) * per_job
    last = min(first + per_job, experiments.trained_families()[family])
    folder = f"results/networks/{family}/batch{int(batch)}"
    return [
        {
            "run": run,
            "seed": network_seed(experiments, seed, family, run),
            **{name: f"{folder}/run{run}/{file}" for name, file in NETWORK_FILES.items()},
        }
        for run in range(first, last)
    ]


def run_batch_dir(batched: Mapping[str, int], family: str, run: int | str) -> str:
    """The folder of the training job that trains run ``run`` of a batched family (:func:`batched_families`)."""
    return f"results/networks/{family}/batch{int(run) // batched[family]}"
