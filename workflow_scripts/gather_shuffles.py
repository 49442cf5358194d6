"""Gather a network's shuffle chunks and compute its statistics (rule gather_shuffles)."""

from clusterability.jobrunner import run_job
from clusterability.stages.clustering import gather_shuffles

run_job(
    snakemake.log[0],
    snakemake.threads,
    gather_shuffles,
    network_json=snakemake.input.network,
    chunk_jsons=list(snakemake.input.chunks),
    method=snakemake.wildcards.method,
    n_shuffles=snakemake.params.n_shuffles,
    out_json=snakemake.output[0],
)
