"""Rule cluster_network: the n-cut and clusters of one network's weight set."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake) as log:
    from clusterability.atomic import write_json
    from clusterability.core.build import network_graph
    from clusterability.core.measure import cluster_network
    from clusterability.io.npz import load_weights

    graph = network_graph(load_weights(snakemake.input.weights))
    clustering = cluster_network(
        graph,
        snakemake.params.k,
        seed=snakemake.params.seed,
        solver=snakemake.params.solver,
        n_init=snakemake.params.n_init,
    )
    if clustering.degeneracy.degenerate:
        log.warning("degenerate clustering: %s", clustering.degeneracy.reason)
    result = {
        "weights": snakemake.input.weights,
        "layer_sizes": list(graph.layer_sizes),
        "n_init": snakemake.params.n_init,
        **clustering.to_dict(),
    }
    write_json(snakemake.output[0], result)
    log.info("n-cut %.4f (k=%d)", clustering.ncut, clustering.k)
