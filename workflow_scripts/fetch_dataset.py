"""Rule fetch_dataset: a dataset's raw files, from the mirror or the canonical URLs, md5-verified."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake) as log:
    from clusterability.data.fetch import fetch_raw

    files = fetch_raw(
        snakemake.wildcards.dataset,
        snakemake.output[0],
        mirror=snakemake.params.mirror,
        checksums=snakemake.params.checksums,
    )
    log.info("%d files verified", len(files))
