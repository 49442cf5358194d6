# Stage 3b: lesion experiments (P1 section 4) on a clustered network: each sub-module
# (a cluster within a hidden layer) alone against random same-size sets, then every
# pair together. numpy forward passes on the test set; no TensorFlow.


rule lesion_single:
    input:
        weights="results/networks/{family}/run{run}/weights_{stage}.npz",
        clustering="results/clustering/{family}/run{run}/{stage}/k{k}/network.json",
        data=family_dataset,
    output:
        single="results/lesions/{family}/run{run}/{stage}/k{k}/single.csv",
        random="results/lesions/{family}/run{run}/{stage}/k{k}/single_random.csv",
    log:
        "logs/lesion_single/{family}/run{run}/{stage}/k{k}.log",
    benchmark:
        "results/benchmarks/lesion_single/{family}/run{run}/{stage}/k{k}.tsv"
    conda:
        "../envs/core.yaml"
    threads: res("lesion", "threads")
    resources:
        mem_mb=res("lesion", "mem_mb"),
        runtime=res("lesion", "runtime"),
    params:
        code=code_params("lesion_single.py"),
        random_sets=LESIONS["random_sets"],
        zero=LESIONS["zero"],
        seed=lesion_seed,
    script:
        "../workflow_scripts/lesion_single.py"


rule lesion_pairs:
    input:
        weights="results/networks/{family}/run{run}/weights_{stage}.npz",
        clustering="results/clustering/{family}/run{run}/{stage}/k{k}/network.json",
        data=family_dataset,
        single="results/lesions/{family}/run{run}/{stage}/k{k}/single.csv",
    output:
        "results/lesions/{family}/run{run}/{stage}/k{k}/pairs.csv",
    log:
        "logs/lesion_pairs/{family}/run{run}/{stage}/k{k}.log",
    benchmark:
        "results/benchmarks/lesion_pairs/{family}/run{run}/{stage}/k{k}.tsv"
    conda:
        "../envs/core.yaml"
    threads: res("lesion", "threads")
    resources:
        mem_mb=res("lesion", "mem_mb"),
        runtime=res("lesion", "runtime"),
    params:
        code=code_params("lesion_pairs.py"),
        scope=lesion_pair_scope,
        pair_random_sets=LESIONS["pair_random_sets"],
        zero=LESIONS["zero"],
        seed=lesion_seed,
    script:
        "../workflow_scripts/lesion_pairs.py"
