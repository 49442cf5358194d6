# Stage 1: raw datasets (md5-verified), prepared 28x28 uint8 datasets, and the datasets
# drawn from a seed (LINES, random, polynomial), mixed from two others or halved (P2 2.1).


# Downloads run where Snakemake runs (e.g. a cluster's login node): compute nodes often
# have no internet.
localrules:
    fetch_dataset,


rule fetch_dataset:
    input:
        lib=lib_inputs("fetch_dataset.py"),
    output:
        directory("resources/raw/{dataset}"),
    log:
        "logs/fetch_dataset/{dataset}.log",
    conda:
        "../envs/core.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        mirror=CONFIG["datasets"]["mirror"],
        checksums=CONFIG["datasets"]["checksums"],
    script:
        "../workflow_scripts/fetch_dataset.py"


rule prepare_dataset:
    input:
        raw="resources/raw/{dataset}",
        lib=lib_inputs("prepare_dataset.py"),
    output:
        "results/data/{dataset}.npz",
    log:
        "logs/prepare_dataset/{dataset}.log",
    conda:
        "../envs/core.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        validation_size=CONFIG["datasets"]["validation_size"],
        n_train=CONFIG["datasets"]["n_train"],
        n_test=CONFIG["datasets"]["n_test"],
        seed=lambda wildcards: derive_seed(SEED, "data", wildcards.dataset),
    script:
        "../workflow_scripts/prepare_dataset.py"


rule make_synthetic_dataset:
    input:
        lib=lib_inputs("make_synthetic_dataset.py"),
    output:
        "results/data/{synthetic}.npz",
    log:
        "logs/make_synthetic_dataset/{synthetic}.log",
    conda:
        "../envs/core.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        kind=lambda wildcards: DATASETS[wildcards.synthetic].generator,
        sizes=lambda wildcards: list(DATASETS[wildcards.synthetic].sizes),
        seed=lambda wildcards: derive_seed(SEED, "data", wildcards.synthetic),
    script:
        "../workflow_scripts/make_synthetic_dataset.py"


rule mix_datasets:
    input:
        unpack(mixture_inputs),
        lib=lib_inputs("mix_datasets.py"),
    output:
        "results/data/{mixture}.npz",
    log:
        "logs/mix_datasets/{mixture}.log",
    conda:
        "../envs/core.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        separate=lambda wildcards: DATASETS[wildcards.mixture].separate,
        seed=lambda wildcards: derive_seed(SEED, "data", wildcards.mixture),
    script:
        "../workflow_scripts/mix_datasets.py"


rule make_halves_dataset:
    input:
        source=halves_source,
        lib=lib_inputs("make_halves_dataset.py"),
    output:
        "results/data/{halves}.npz",
    log:
        "logs/make_halves_dataset/{halves}.log",
    conda:
        "../envs/core.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        same=lambda wildcards: DATASETS[wildcards.halves].same,
        seed=lambda wildcards: derive_seed(SEED, "data", wildcards.halves),
    script:
        "../workflow_scripts/make_halves_dataset.py"
