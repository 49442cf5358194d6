# Stage 4: tidy tables and figures.


rule table1:
    input:
        results=table1_inputs(),
        lib=lib_inputs("tables.py"),
    output:
        table1="results/table1.csv",
        networks="results/table1_networks.csv",
    log:
        "logs/table1.log",
    conda:
        "../envs/report.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        records=table1_records(),
        k=CLUSTERING["k"],
        n_shuffles=CLUSTERING["shuffles"],
    script:
        "../workflow_scripts/tables.py"


rule figure2:
    input:
        networks="results/table1_networks.csv",
        lib=lib_inputs("figure_ncut_accuracy.py"),
    output:
        png="results/figures/fig2_ncut_vs_accuracy.png",
        pdf="results/figures/fig2_ncut_vs_accuracy.pdf",
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
    script:
        "../workflow_scripts/figure_ncut_accuracy.py"
