"""n-cuts of one chunk of shuffles (rule shuffle_chunk)."""

from clusterability.jobrunner import run_job
from clusterability.stages.clustering import shuffle_chunk

start, stop = snakemake.params.indices
run_job(
    snakemake.log[0],
    snakemake.threads,
    shuffle_chunk,
    weights_path=snakemake.input.weights,
    k=snakemake.params.k,
    solver=snakemake.params.solver,
    n_init=snakemake.params.n_init,
    seed=snakemake.params.seed,
    method=snakemake.wildcards.method,
    start=start,
    stop=stop,
    out_json=snakemake.output[0],
)
