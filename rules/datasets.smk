# Stage 1: raw datasets (md5-verified), prepared 28x28 uint8 datasets (or native ones:
# CIFAR-10 as 32x32 RGB for VGG), and the datasets drawn from a seed (LINES, random,
# polynomial), mixed from two others, made of two images of one (halves, P2 2.1;
# stack, P2 3.2) or downsampled from one (MNIST at 7x7, P2 4.1).


# Downloads run where Snakemake runs (e.g. a cluster's login node): compute nodes often
# have no internet.
localrules:
    fetch_dataset,


rule fetch_dataset:
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
        code=code_params("fetch_dataset.py"),
        mirror=CONFIG["datasets"]["mirror"],
        checksums=CONFIG["datasets"]["checksums"],
    script:
        "../workflow_scripts/fetch_dataset.py"


rule prepare_dataset:
    input:
        raw=raw_folder,
    output:
        "results/data/{prepared}.npz",
    log:
        "logs/prepare_dataset/{prepared}.log",
    conda:
        "../envs/core.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        code=code_params("prepare_dataset.py"),
        validation_size=CONFIG["datasets"]["validation_size"],
        n_train=CONFIG["datasets"]["n_train"],
        n_test=CONFIG["datasets"]["n_test"],
        source=lambda wildcards: DATASETS[wildcards.prepared].source,
        native=lambda wildcards: DATASETS[wildcards.prepared].kind == "native",
        # The source's seed: a native dataset has the same splits as the 28x28 one.
        seed=lambda wildcards: targets.dataset_seed(
            SEED, DATASETS[wildcards.prepared].source
        ),
    script:
        "../workflow_scripts/prepare_dataset.py"


rule make_synthetic_dataset:
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
        code=code_params("make_synthetic_dataset.py"),
        kind=lambda wildcards: DATASETS[wildcards.synthetic].generator,
        sizes=lambda wildcards: list(DATASETS[wildcards.synthetic].sizes),
        seed=lambda wildcards: targets.dataset_seed(SEED, wildcards.synthetic),
    script:
        "../workflow_scripts/make_synthetic_dataset.py"


rule mix_datasets:
    input:
        unpack(mixture_inputs),
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
        code=code_params("mix_datasets.py"),
        separate=lambda wildcards: DATASETS[wildcards.mixture].separate,
        seed=lambda wildcards: targets.dataset_seed(SEED, wildcards.mixture),
    script:
        "../workflow_scripts/mix_datasets.py"


rule make_paired_dataset:
    input:
        source=paired_source,
    output:
        "results/data/{paired}.npz",
    log:
        "logs/make_paired_dataset/{paired}.log",
    conda:
        "../envs/core.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        code=code_params("make_paired_dataset.py"),
        same=lambda wildcards: DATASETS[wildcards.paired].same,
        layout=lambda wildcards: DATASETS[wildcards.paired].kind,
        seed=lambda wildcards: targets.dataset_seed(SEED, wildcards.paired),
    script:
        "../workflow_scripts/make_paired_dataset.py"


rule resize_dataset:
    input:
        source=resized_source,
    output:
        "results/data/{resized}.npz",
    log:
        "logs/resize_dataset/{resized}.log",
    conda:
        "../envs/core.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        code=code_params("resize_dataset.py"),
        side=lambda wildcards: DATASETS[wildcards.resized].side,
    script:
        "../workflow_scripts/resize_dataset.py"
