"""Rule make_synthetic_dataset: a dataset drawn from a seed (LINES, random), in the prepared format."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake):
    from clusterability.data.synthetic import make_dataset

    n_train, n_val, n_test = snakemake.params.sizes
    make_dataset(
        snakemake.wildcards.synthetic,
        snakemake.params.kind,
        snakemake.output[0],
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        seed=snakemake.params.seed,
    )
