"""Rule lesion_pairs: lesion pairs of sub-modules of one clustered network together (P1 4.2).

Scope ``important``: pairs of important sub-modules in different layers (Table A.19);
``all``: every pair (figure A.6).
"""

from clusterability.workflow.jobs import script_job

with script_job(snakemake) as log:
    import pandas as pd

    from clusterability import lesions
    from clusterability.report.tables import write_csv

    lesioner, modules = lesions.load_lesion_inputs(
        snakemake.input.weights, snakemake.input.clustering, snakemake.input.data, zero=snakemake.params.zero
    )
    types = dict(pd.read_csv(snakemake.input.single)[["submodule", "type"]].itertuples(index=False))
    results = lesions.double_lesions(
        lesioner,
        lesions.pairs_to_lesion(modules, types, snakemake.params.scope),
        lesions.single_damages(lesioner, modules),
        n_random=snakemake.params.pair_random_sets,
        seed=snakemake.params.seed,
    )
    rows = lesions.double_lesion_rows(results, types)
    write_csv(pd.DataFrame(rows, columns=lesions.PAIR_FIELDS), snakemake.output[0])
    log.info("%d pairs (%s) of %d sub-modules", len(results), snakemake.params.scope, len(modules))
