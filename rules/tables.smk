# Stage 4: the tables and figures of config.yaml, each from its networks' result files.

import json


rule table:
    input:
        results=table_inputs,
    output:
        report(
            "results/{table}.csv",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{table}"},
        ),
    log:
        "logs/table/{table}.log",
    conda:
        "../envs/report.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        code=code_params("table.py"),
        records=lambda wildcards: json.dumps(
            table_records(wildcards.table), sort_keys=True
        ),
        table=table_params,
        # For the report's caption (report/table.rst).
        caption=table_caption_params,
        scale=SCALE,
    script:
        "../workflow_scripts/table.py"


rule figure:
    input:
        unpack(figure_inputs),
    output:
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}", "format": "PNG"},
        ),
        pdf=report(
            "results/figures/{figure}.pdf",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}", "format": "PDF"},
        ),
    log:
        "logs/figure/{figure}.log",
    conda:
        "../envs/report.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        code=code_params("figure.py"),
        figure=figure_params,
        # For the report's caption (report/figure.rst).
        title=lambda wildcards: FIGURES[wildcards.figure].title,
        table=lambda wildcards: FIGURES[wildcards.figure].table,
        datasets=lambda wildcards: list(FIGURES[wildcards.figure].datasets),
        scale=SCALE,
    script:
        "../workflow_scripts/figure.py"


rule paper1:
    input:
        paper_targets("p1"),


rule paper2_mlp:
    input:
        paper_targets("p2_mlp"),


rule paper2_cnn:
    input:
        paper_targets("p2_cnn"),


rule paper2_promote:
    input:
        paper_targets("p2_promote"),


# Every part of P2: paper2_mlp, paper2_cnn and paper2_promote.
rule paper2:
    input:
        paper_targets("p2"),
