"""Rule make_halves_dataset: two shrunk images side by side, of the same class or summed (P2 2.1)."""

from clusterability.jobs import script_job

with script_job(snakemake):
    from clusterability.data.halves import make_halves
    from clusterability.data.prepare import load_prepared

    make_halves(
        snakemake.wildcards.halves,
        load_prepared(snakemake.input.source),
        snakemake.output[0],
        same=snakemake.params.same,
        seed=snakemake.params.seed,
    )
