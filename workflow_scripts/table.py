"""Rule table: one table of the papers, from its networks' result files."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake):
    import json

    from clusterability.report.tables import build_table, write_csv

    table = build_table(json.loads(snakemake.params.records), json.loads(snakemake.params.table))
    write_csv(table, snakemake.output[0])
