# The scorecard: every number of the papers' tables (config/papers/) against the tables built here,
# and the target lists of the fidelity scale (config/scales/fidelity.yaml).

import json

from clusterability.workflow.scorecard import (
    TOLERANCES,
    built_tables,
    fidelity_tables,
    git_commit,
    paper_files,
    table_infos,
)


# The tables built in the work folder are a parameter (name, size, mtime), not inputs: as inputs,
# Snakemake would rebuild a table built at another scale and everything upstream of it. The
# scorecard reruns when a table appears, changes or goes; build the tables first (make fidelity).
rule scorecard:
    input:
        unpack(lambda wildcards: paper_files(f"{workflow.basedir}/config/papers")),
    output:
        csv="results/scorecard.csv",
        md="results/scorecard.md",
    log:
        "logs/scorecard.log",
    conda:
        "../envs/report.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        code=code_params("scorecard.py"),
        tables=lambda wildcards: json.dumps(
            {
                name: info.to_dict()
                for name, info in table_infos(EXPERIMENTS, CONFIG).items()
            },
            sort_keys=True,
        ),
        built=lambda wildcards: json.dumps(built_tables(TABLES), sort_keys=True),
        # When a number agrees with the paper's: clusterability.workflow.scorecard.Tolerances.
        tolerances=json.dumps(TOLERANCES.to_dict(), sort_keys=True),
        scale=SCALE,
        # The tables record neither: the scorecard records the scale in force and the commit of now.
        commit=lambda wildcards: git_commit(workflow.basedir),
    script:
        "../workflow_scripts/scorecard.py"


# One network per family at the papers' settings: run with --configfile config/scales/fidelity.yaml
# (make fidelity), then rule scorecard. P1, P2's MLPs and P2 section 4 on a CPU.
rule fidelity:
    input:
        table_files(fidelity_tables(EXPERIMENTS)),


# The same for P2's small CNNs, VGGs and ImageNet models: GPU work (docs/reproducibility.md, "GPU rows").
rule fidelity_gpu:
    input:
        table_files(fidelity_tables(EXPERIMENTS, gpu=True)),
