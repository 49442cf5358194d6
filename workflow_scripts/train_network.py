"""Train and prune one network (rule train_network)."""

from clusterability.jobrunner import run_job
from clusterability.stages.training import train_network

run_job(
    snakemake.log[0],
    snakemake.threads,
    train_network,
    data_path=snakemake.input.data,
    settings=dict(snakemake.params.settings),
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    out_model=snakemake.output.model,
    out_weights_unpruned=snakemake.output.weights_unpruned,
    out_weights_pruned=snakemake.output.weights_pruned,
    out_metrics=snakemake.output.metrics,
)
