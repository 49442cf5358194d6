# Stage 4: tidy tables and figures.


rule table1:
    input:
        results=table1_inputs(),
        lib=lib_inputs("tables.py"),
    output:
        table1=report(
            "results/table1.csv",
            caption="../report/table1.rst",
            category="Table 1",
            labels={"table": "Table 1 (one row per dataset x dropout)"},
        ),
        networks=report(
            "results/table1_networks.csv",
            caption="../report/table1_networks.rst",
            category="Table 1",
            labels={"table": "per network, before and after pruning"},
        ),
    log:
        "logs/table1.log",
    conda:
        "../envs/report.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        records=json.dumps(table1_records(), sort_keys=True),
        k=CLUSTERING["k"],
        n_shuffles=CLUSTERING["shuffles"],
        # For the report's captions (report/*.rst): the resolved scale preset.
        scale=SCALE,
        n_networks=TABLE1["n_networks"],
        datasets=TABLE1["datasets"],
        regimes=TABLE1["regimes"],
        shuffle_methods=CLUSTERING["shuffle_methods"],
    script:
        "../workflow_scripts/tables.py"


rule figure2:
    input:
        networks="results/table1_networks.csv",
        lib=lib_inputs("figure_ncut_accuracy.py"),
    output:
        png=report(
            "results/figures/fig2_ncut_vs_accuracy.png",
            caption="../report/fig2_ncut_vs_accuracy.rst",
            category="Figure 2",
            labels={"figure": "n-cut vs test accuracy", "format": "PNG"},
        ),
        pdf=report(
            "results/figures/fig2_ncut_vs_accuracy.pdf",
            caption="../report/fig2_ncut_vs_accuracy.rst",
            category="Figure 2",
            labels={"figure": "n-cut vs test accuracy", "format": "PDF"},
        ),
    log:
        "logs/figure2.log",
    conda:
        "../envs/report.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        caption=(
            f"n-cut (k={CLUSTERING['k']}) vs test accuracy before and after pruning; "
            f"scale {SCALE}, {TABLE1['n_networks']} network(s) per row"
        ),
        # For the report's caption (report/fig2_ncut_vs_accuracy.rst).
        scale=SCALE,
        k=CLUSTERING["k"],
        n_shuffles=CLUSTERING["shuffles"],
        n_networks=TABLE1["n_networks"],
        datasets=TABLE1["datasets"],
        regimes=TABLE1["regimes"],
    script:
        "../workflow_scripts/figure_ncut_accuracy.py"
