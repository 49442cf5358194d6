"""Rule make_paired_dataset: two images of a dataset side by side (halves, P2 2.1) or as two channels (stack, 3.2)."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake):
    from clusterability.data.halves import make_paired
    from clusterability.data.prepare import load_prepared

    make_paired(
        snakemake.wildcards.paired,
        load_prepared(snakemake.input.source),
        snakemake.output[0],
        same=snakemake.params.same,
        seed=snakemake.params.seed,
        layout=snakemake.params.layout,
    )
