# Stage 2: train each network of a family, then prune it to 90 % sparsity (tfmot).


rule train_network:
    input:
        data=family_dataset,
        lib=lib_inputs("train_network.py"),
    output:
        model="results/networks/{family}/run{run}/model.keras",
        weights_unpruned="results/networks/{family}/run{run}/weights_unpruned.npz",
        weights_pruned="results/networks/{family}/run{run}/weights_pruned.npz",
        metrics="results/networks/{family}/run{run}/metrics.json",
    log:
        "logs/train_network/{family}/run{run}.log",
    conda:
        "../envs/tf.yaml"
    threads: train_res("threads")
    resources:
        mem_mb=train_res("mem_mb"),
        runtime=train_res("runtime"),
    params:
        settings=train_params,
        seed=train_seed,
    script:
        "../workflow_scripts/train_network.py"
