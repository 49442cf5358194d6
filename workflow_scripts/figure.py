"""Rule figure: one figure of the papers, drawn from its table's CSV."""

from clusterability.jobs import script_job

with script_job(snakemake):
    from clusterability.figures import plot_figure

    plot_figure(
        snakemake.params.plot,
        snakemake.input.table,
        snakemake.output.png,
        snakemake.output.pdf,
        title=snakemake.params.title,
    )
