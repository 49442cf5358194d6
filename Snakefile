# Clusterability of neural networks: Filan, Hod et al. 2020 and Filan, Casper, Hod et al. 2021.
# The table of contents of the workflow; see README.md and docs/experiments.md.

from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/datasets.smk"
include: "rules/training.smk"
include: "rules/clustering.smk"
include: "rules/lesions.smk"
include: "rules/tables.smk"
include: "rules/scorecard.smk"
include: "rules/smoke.smk"


rule all:
    default_target: True
    input:
        all_targets(),
