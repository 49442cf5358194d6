"""Cluster one network's weights (rule cluster_network)."""

from clusterability.jobrunner import run_job
from clusterability.stages.clustering import cluster_network

run_job(
    snakemake.log[0],
    snakemake.threads,
    cluster_network,
    weights_path=snakemake.input.weights,
    k=snakemake.params.k,
    solver=snakemake.params.solver,
    n_init=snakemake.params.n_init,
    seed=snakemake.params.seed,
    out_json=snakemake.output[0],
)
