"""Rule figure: one figure of the papers, drawn from its table's CSV or from one network."""

from clusterability.jobs import script_job

with script_job(snakemake):
    import json

    from clusterability.figures import plot_network_figure, plot_table_figure

    figure = json.loads(snakemake.params.figure)
    outputs = [snakemake.output.png, snakemake.output.pdf]
    if figure["network"]:
        plot_network_figure(
            figure["plot"], snakemake.input.weights, snakemake.input.clustering, outputs, title=figure["title"]
        )
    else:
        plot_table_figure(
            figure["plot"],
            snakemake.input.table,
            outputs,
            where=figure["where"],
            records=figure["records"],
            title=figure["title"],
        )
