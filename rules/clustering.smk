# Stage 3: each network's n-cut, and its shuffle null distribution fanned out in chunks.
# These jobs never import TensorFlow: they read the weights from .npz files.


rule cluster_network:
    input:
        weights="results/networks/{dataset}/{regime}/run{run}/weights_{stage}.npz",
        lib=lib_inputs("cluster_network.py"),
    output:
        "results/clustering/{dataset}/{regime}/run{run}/{stage}/network.json",
    log:
        "logs/cluster_network/{dataset}/{regime}/run{run}/{stage}.log",
    conda:
        "../envs/core.yaml"
    threads: res("cluster", "threads")
    resources:
        mem_mb=res("cluster", "mem_mb"),
        runtime=res("cluster", "runtime"),
    params:
        k=CLUSTERING["k"],
        solver=CLUSTERING["solver"],
        n_init=CLUSTERING["n_init"],
        seed=cluster_seed,
    script:
        "../workflow_scripts/cluster_network.py"


rule shuffle_chunk:
    input:
        weights="results/networks/{dataset}/{regime}/run{run}/weights_{stage}.npz",
        lib=lib_inputs("shuffle_chunk.py"),
    output:
        "results/clustering/{dataset}/{regime}/run{run}/{stage}/shuffles/{method}/chunk{chunk}.json",
    log:
        "logs/shuffle_chunk/{dataset}/{regime}/run{run}/{stage}/{method}/chunk{chunk}.log",
    conda:
        "../envs/core.yaml"
    threads: res("cluster", "threads")
    resources:
        mem_mb=res("cluster", "mem_mb"),
        runtime=res("cluster", "runtime"),
    params:
        k=CLUSTERING["k"],
        solver=CLUSTERING["solver"],
        n_init=CLUSTERING["n_init"],
        seed=cluster_seed,
        indices=chunk_range,
    script:
        "../workflow_scripts/shuffle_chunk.py"


rule gather_shuffles:
    input:
        network="results/clustering/{dataset}/{regime}/run{run}/{stage}/network.json",
        chunks=shuffle_chunk_files,
        lib=lib_inputs("gather_shuffles.py"),
    output:
        "results/clustering/{dataset}/{regime}/run{run}/{stage}/{method}.json",
    log:
        "logs/gather_shuffles/{dataset}/{regime}/run{run}/{stage}/{method}.log",
    conda:
        "../envs/core.yaml"
    threads: res("light", "threads")
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    params:
        n_shuffles=CLUSTERING["shuffles"],
    script:
        "../workflow_scripts/gather_shuffles.py"
