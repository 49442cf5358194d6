"""Rule train_network: train one network, prune it, save both weight sets and the metrics."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake) as log:
    from clusterability.data.prepare import load_prepared
    from clusterability.train.config import TrainConfig
    from clusterability.train.training import train_and_prune

    metrics = train_and_prune(
        load_prepared(snakemake.input.data),
        TrainConfig.from_dict(dict(snakemake.params.settings)),
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        out_model=snakemake.output.model,
        out_weights_unpruned=snakemake.output.weights_unpruned,
        out_weights_pruned=snakemake.output.weights_pruned,
        out_metrics=snakemake.output.metrics,
    )
    key, name = ("test_mse", "test MSE") if metrics["task"] == "regression" else ("test_acc", "test accuracy")
    log.info("%s %.4f before pruning, %.4f after", name, metrics["unpruned"][key], metrics["pruned"][key])
