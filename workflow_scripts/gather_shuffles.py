"""Rule gather_shuffles: a network's first n shuffles, from the chunks or (where they fit one chunk) made
here, with their statistics and the network's clustering (computed here where there are no chunks)."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake):
    import json
    from pathlib import Path

    from clusterability.atomic import write_json
    from clusterability.core.statistics import collect_shuffles, summarize

    n_shuffles = int(snakemake.wildcards.n)
    chunks = [(path, json.loads(Path(path).read_text())) for path in snakemake.input.chunks]
    if snakemake.input.network:  # fanned out: the chunks, and the cluster_network job's clustering
        network = json.loads(Path(snakemake.input.network[0]).read_text())
    else:  # one chunk's worth (targets.fans_out): the clustering and the shuffles made here
        from clusterability.core.build import network_graph
        from clusterability.core.measure import cluster_network
        from clusterability.core.shuffle_chunks import shuffle_chunk
        from clusterability.io.npz import load_weights

        weights = snakemake.input.weights[0]
        graph = network_graph(load_weights(weights))
        clustering = cluster_network(
            graph,
            snakemake.params.k,
            seed=snakemake.params.seed,
            solver=snakemake.params.solver,
            n_init=snakemake.params.n_init,
        )
        network = {
            "weights": weights,
            "layer_sizes": list(graph.layer_sizes),
            "n_init": snakemake.params.n_init,
            **clustering.to_dict(),
        }
        made = shuffle_chunk(
            graph,
            network["k"],
            seed=network["seed"],
            method=snakemake.wildcards.method,
            indices=range(n_shuffles),
            solver=network["solver"],
            n_init=network["n_init"],
        )
        chunks = [(weights, made)]
    ncuts = collect_shuffles(
        chunks, method=snakemake.wildcards.method, seed=network["seed"], k=network["k"], n_shuffles=n_shuffles
    )
    result = {
        "method": snakemake.wildcards.method,
        **network,  # what network.json holds: the clustering a table reads
        "shuffle_ncuts": ncuts.tolist(),
        "chunks": len(snakemake.input.chunks),
        **summarize(network["ncut"], ncuts),
    }
    write_json(snakemake.output[0], result)
