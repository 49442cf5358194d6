"""Rule resize_dataset: a prepared dataset's images downsampled (P2 4.1: MNIST at 7x7), same splits."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake):
    from clusterability.data.prepare import load_prepared, resize_prepared

    resize_prepared(
        load_prepared(snakemake.input.source),
        snakemake.output[0],
        side=snakemake.params.side,
        label=snakemake.wildcards.resized,
    )
