"""Prepare one dataset as .npz (rule prepare_dataset)."""

from clusterability.jobrunner import run_job
from clusterability.stages.datasets import prepare_dataset

run_job(
    snakemake.log[0],
    snakemake.threads,
    prepare_dataset,
    name=snakemake.wildcards.dataset,
    raw_dir=snakemake.input.raw,
    out_path=snakemake.output[0],
    validation_size=snakemake.params.validation_size,
    seed=snakemake.params.seed,
    n_train=snakemake.params.n_train,
    n_test=snakemake.params.n_test,
)
