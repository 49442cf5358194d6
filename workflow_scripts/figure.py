"""Rule figure: one figure of the papers, drawn from its table's CSV, from one network or from datasets."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake):
    import json

    from clusterability.report.figures import plot_dataset_figure, plot_network_figure, plot_table_figure

    figure = json.loads(snakemake.params.figure)
    outputs = [snakemake.output.png, snakemake.output.pdf]
    if figure["datasets"]:
        plot_dataset_figure(
            figure["plot"],
            snakemake.input.datasets,
            outputs,
            label=figure["label"],
            samples=figure["samples"],
            title=figure["title"],
        )
    elif figure["network"]:
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
