"""Rule mix_datasets: the mixture of two prepared datasets (overlapping or -SEP classes)."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake):
    from clusterability.data.mixtures import mix_datasets
    from clusterability.data.prepare import load_prepared

    mix_datasets(
        snakemake.wildcards.mixture,
        load_prepared(snakemake.input.first),
        load_prepared(snakemake.input.second),
        snakemake.output[0],
        separate=snakemake.params.separate,
        seed=snakemake.params.seed,
    )
