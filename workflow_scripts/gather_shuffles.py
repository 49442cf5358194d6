"""Rule gather_shuffles: a network's first n shuffles, from the chunks or (where they fit one chunk) made
here, with their statistics."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake):
    import json
    from pathlib import Path

    from clusterability.atomic import write_json
    from clusterability.core.statistics import collect_shuffles, summarize

    network = json.loads(Path(snakemake.input.network).read_text())
    n_shuffles = int(snakemake.wildcards.n)
    chunks = [(path, json.loads(Path(path).read_text())) for path in snakemake.input.chunks]
    if not chunks:  # one chunk's worth: made here (targets.fans_out), as shuffle_chunk would
        from clusterability.core.build import network_graph
        from clusterability.core.shuffle_chunks import shuffle_chunk
        from clusterability.io.npz import load_weights

        weights = snakemake.input.weights[0]
        graph = network_graph(load_weights(weights))
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
        "seed": network["seed"],
        "k": network["k"],
        "ncut": network["ncut"],
        "shuffle_ncuts": ncuts.tolist(),
        "chunks": len(snakemake.input.chunks),
        **summarize(network["ncut"], ncuts),
    }
    write_json(snakemake.output[0], result)
