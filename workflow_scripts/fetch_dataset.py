"""Fetch one raw dataset (rule fetch_dataset)."""

from clusterability.jobrunner import run_job
from clusterability.stages.datasets import fetch_dataset

run_job(
    snakemake.log[0],
    snakemake.threads,
    fetch_dataset,
    name=snakemake.wildcards.dataset,
    dest_dir=snakemake.output[0],
    mirror=snakemake.params.mirror,
)
