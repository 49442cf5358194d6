"""Write results/table1.csv and the per-network CSV (rule table1)."""

import json

from clusterability.jobrunner import run_job
from clusterability.stages.reports import tables

run_job(
    snakemake.log[0],
    snakemake.threads,
    tables,
    records=json.loads(snakemake.params.records),
    k=snakemake.params.k,
    n_shuffles=snakemake.params.n_shuffles,
    out_table1=snakemake.output.table1,
    out_networks=snakemake.output.networks,
)
