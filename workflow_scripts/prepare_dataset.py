"""Rule prepare_dataset: the 28x28 uint8 .npz of a dataset (or its native one), with a validation split."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake):
    from clusterability.data.prepare import prepare_dataset

    prepare_dataset(
        snakemake.params.source,
        snakemake.input.raw,
        snakemake.output[0],
        val_size=snakemake.params.validation_size,
        seed=snakemake.params.seed,
        n_train=snakemake.params.n_train,
        n_test=snakemake.params.n_test,
        native=snakemake.params.native,
        label=snakemake.wildcards.prepared,
    )
