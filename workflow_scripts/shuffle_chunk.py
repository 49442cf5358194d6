"""Rule shuffle_chunk: the n-cuts of one chunk of a network's shuffles."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake) as log:
    from clusterability.atomic import write_json
    from clusterability.core.build import network_graph
    from clusterability.core.shuffle_chunks import shuffle_chunk
    from clusterability.io.npz import load_weights

    chunk = shuffle_chunk(
        network_graph(load_weights(snakemake.input.weights)),
        snakemake.params.k,
        seed=snakemake.params.seed,
        method=snakemake.wildcards.method,
        indices=range(*snakemake.params.indices),
        solver=snakemake.params.solver,
        n_init=snakemake.params.n_init,
    )
    write_json(snakemake.output[0], chunk)
    log.info("%d shuffles, mean n-cut %.4f", len(chunk["ncuts"]), sum(chunk["ncuts"]) / len(chunk["ncuts"]))
