# Stage 2: train each network of a family, then prune it to 90 % sparsity (tfmot).


rule train_network:
    input:
        data=family_dataset,
    output:
        model="results/networks/{family}/run{run}/model.keras",
        weights_unpruned="results/networks/{family}/run{run}/weights_unpruned.npz",
        weights_pruned="results/networks/{family}/run{run}/weights_pruned.npz",
        metrics="results/networks/{family}/run{run}/metrics.json",
    log:
        "logs/train_network/{family}/run{run}.log",
    benchmark:
        "results/benchmarks/train_network/{family}/run{run}.tsv"
    wildcard_constraints:
        family=targets.one_of(set(TRAINED) - set(PRETRAINED) - set(BATCHED)),
    conda:
        "../envs/tf.yaml"
    threads: train_res("threads")
    resources:
        mem_mb=train_res("mem_mb"),
        runtime=train_res("runtime"),
    params:
        code=code_params("train_network.py"),
        settings=train_params,
        seed=train_seed,
    script:
        "../workflow_scripts/train_network.py"


# Families with resources `networks_per_job` above 1 train several runs per job, one after the other
# (the imports and data read once; each network equals the one trained alone), into a batch folder;
# each run's files are then hard-linked to the run's own folder (a shell job: no Python to start).
rule train_networks:
    input:
        data=family_dataset,
    output:
        folder=directory("results/networks/{family}/batch{batch}"),
    log:
        "logs/train_networks/{family}/batch{batch}.log",
    benchmark:
        "results/benchmarks/train_networks/{family}/batch{batch}.tsv"
    wildcard_constraints:
        family=targets.one_of(BATCHED),
        batch=r"\d+",
    conda:
        "../envs/tf.yaml"
    threads: train_res("threads")
    resources:
        mem_mb=train_res("mem_mb"),
        runtime=batch_runtime,
    params:
        code=code_params("train_networks.py"),
        settings=train_params,
        runs=batch_runs,
    script:
        "../workflow_scripts/train_networks.py"


localrules:
    unpack_network,


rule unpack_network:
    input:
        batch=run_batch_dir,
    output:
        model="results/networks/{family}/run{run}/model.keras",
        weights_unpruned="results/networks/{family}/run{run}/weights_unpruned.npz",
        weights_pruned="results/networks/{family}/run{run}/weights_pruned.npz",
        metrics="results/networks/{family}/run{run}/metrics.json",
    log:
        "logs/unpack_network/{family}/run{run}.log",
    wildcard_constraints:
        family=targets.one_of(BATCHED),
    conda:
        "../envs/core.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    # A hard link (a copy where the file system has none), modified now: newer than the batch folder.
    shell:
        "for out in {output:q}; do"
        " src={input.batch:q}/run{wildcards.run}/$(basename $out);"
        ' ln -f "$src" "$out" || cp "$src" "$out"; touch "$out"; echo "$out: $src";'
        " done > {log:q} 2>&1"


# P2 3.1: ImageNet models are imported from torchvision's checkpoints, not trained.
localrules:
    fetch_imagenet_checkpoint,


rule fetch_imagenet_checkpoint:
    output:
        "resources/imagenet/{architecture}.pth",
    log:
        "logs/fetch_imagenet_checkpoint/{architecture}.log",
    conda:
        "../envs/core.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        code=code_params("fetch_imagenet_checkpoint.py"),
        mirror=IMAGENET["checkpoints"],
    script:
        "../workflow_scripts/fetch_imagenet_checkpoint.py"


rule import_pretrained:
    input:
        checkpoint=pretrained_checkpoint,
    output:
        weights="results/networks/{pretrained}/run0/weights_unpruned.npz",
        metrics="results/networks/{pretrained}/run0/metrics.json",
    log:
        "logs/import_pretrained/{pretrained}.log",
    conda:
        "../envs/core.yaml"
    threads: res("cluster", "threads")
    resources:
        mem_mb=res("cluster", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        code=code_params("import_pretrained.py"),
        architecture=lambda wildcards: FAMILIES[wildcards.pretrained].pretrained,
        seed=lambda wildcards: network_seed(wildcards.pretrained, 0),
    script:
        "../workflow_scripts/import_pretrained.py"
