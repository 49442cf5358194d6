"""Rule import_pretrained: an ImageNet model's wired convolutions (P2 3.1), from its checkpoint or random."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake) as log:
    from clusterability.workflow.pretrained import import_pretrained

    checkpoint = snakemake.input.checkpoint or None
    metrics = import_pretrained(
        snakemake.params.architecture,
        checkpoint[0] if isinstance(checkpoint, list) else checkpoint,
        seed=snakemake.params.seed,
        out_weights=snakemake.output.weights,
        out_metrics=snakemake.output.metrics,
    )
    log.info(
        "%s: %d convolutions from %s",
        snakemake.params.architecture,
        len(metrics["weight_shapes"]),
        metrics["checkpoint"] or "random initialization",
    )
