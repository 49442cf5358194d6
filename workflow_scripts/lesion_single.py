"""Rule lesion_single: lesion every sub-module of one clustered network, and random sets of its size."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake) as log:
    import pandas as pd

    from clusterability import lesions
    from clusterability.report.tables import write_csv

    lesioner, modules = lesions.load_lesion_inputs(
        snakemake.input.weights, snakemake.input.clustering, snakemake.input.data, zero=snakemake.params.zero
    )
    results = lesions.single_lesions(
        lesioner, modules, n_random=snakemake.params.random_sets, seed=snakemake.params.seed
    )
    rows = lesions.single_lesion_rows(results)
    write_csv(pd.DataFrame(rows, columns=lesions.SINGLE_FIELDS), snakemake.output.single)
    rows = lesions.random_lesion_rows(results)
    write_csv(pd.DataFrame(rows, columns=lesions.RANDOM_FIELDS), snakemake.output.random)
    important = [r.submodule.name for r in results if r.type == "important"]
    log.info("test accuracy %.4f; %d sub-modules, important: %s", lesioner.accuracy, len(results), important)
