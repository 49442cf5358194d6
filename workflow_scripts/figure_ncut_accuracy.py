"""Draw P1 figure 2, n-cut vs test accuracy (rule figure2)."""

from clusterability.jobrunner import run_job
from clusterability.stages.reports import figure_ncut_accuracy

run_job(
    snakemake.log[0],
    snakemake.threads,
    figure_ncut_accuracy,
    networks_csv=snakemake.input.networks,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
    caption=snakemake.params.caption,
)
