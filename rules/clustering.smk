# Stage 3: each network's n-cut for a k, and its shuffle null distribution fanned out
# in chunks (made by the gather job itself where they fit one chunk, with the network's
# clustering: no cluster_network job for it). These jobs never import TensorFlow: they
# read the weights from .npz files.


rule cluster_network:
    input:
        weights="results/networks/{family}/run{run}/weights_{stage}.npz",
    output:
        "results/clustering/{family}/run{run}/{stage}/k{k}/network.json",
    log:
        "logs/cluster_network/{family}/run{run}/{stage}/k{k}.log",
    benchmark:
        "results/benchmarks/cluster_network/{family}/run{run}/{stage}/k{k}.tsv"
    conda:
        "../envs/core.yaml"
    threads: res("cluster", "threads")
    resources:
        mem_mb=res("cluster", "mem_mb"),
        runtime=res("cluster", "runtime"),
    params:
        code=code_params("cluster_network.py"),
        k=lambda wildcards: int(wildcards.k),
        solver=CLUSTERING["solver"],
        n_init=n_init,
        seed=cluster_seed,
    script:
        "../workflow_scripts/cluster_network.py"


rule shuffle_chunk:
    input:
        weights="results/networks/{family}/run{run}/weights_{stage}.npz",
    output:
        "results/clustering/{family}/run{run}/{stage}/k{k}/{method}/chunk{chunk}.json",
    log:
        "logs/shuffle_chunk/{family}/run{run}/{stage}/k{k}/{method}/chunk{chunk}.log",
    benchmark:
        "results/benchmarks/shuffle_chunk/{family}/run{run}/{stage}/k{k}/{method}/chunk{chunk}.tsv"
    conda:
        "../envs/core.yaml"
    threads: res("cluster", "threads")
    resources:
        mem_mb=res("cluster", "mem_mb"),
        runtime=res("cluster", "runtime"),
    params:
        code=code_params("shuffle_chunk.py"),
        k=lambda wildcards: int(wildcards.k),
        solver=CLUSTERING["solver"],
        n_init=n_init,
        seed=cluster_seed,
        indices=chunk_range,
    script:
        "../workflow_scripts/shuffle_chunk.py"


rule gather_shuffles:
    input:
        # where the shuffles fan out: the network's clustering and the chunks; where they fit one
        # chunk, the weights: the job clusters the network and makes the shuffles itself
        network=gather_network,
        chunks=shuffle_chunk_files,
        weights=gather_weights,
    output:
        "results/clustering/{family}/run{run}/{stage}/k{k}/{method}/shuffles{n}.json",
    log:
        "logs/gather_shuffles/{family}/run{run}/{stage}/k{k}/{method}/shuffles{n}.log",
    benchmark:
        "results/benchmarks/gather_shuffles/{family}/run{run}/{stage}/k{k}/{method}/shuffles{n}.tsv"
    conda:
        "../envs/core.yaml"
    threads: gather_res("threads")
    resources:
        mem_mb=gather_res("mem_mb"),
        runtime=gather_res("runtime"),
    params:
        code=code_params("gather_shuffles.py"),
        k=lambda wildcards: int(wildcards.k),
        solver=CLUSTERING["solver"],
        n_init=n_init,
        seed=cluster_seed,
    script:
        "../workflow_scripts/gather_shuffles.py"
