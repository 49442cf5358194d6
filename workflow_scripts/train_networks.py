"""Rule train_networks: train several runs of one family in one job, one after the other (issue 22 section 3)."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake) as log:
    from clusterability.data.prepare import load_prepared
    from clusterability.train.config import TrainConfig
    from clusterability.train.runs import RunFiles, train_runs

    runs = snakemake.params.runs
    all_metrics = train_runs(
        load_prepared(snakemake.input.data),
        TrainConfig.from_dict(dict(snakemake.params.settings)),
        [RunFiles(**{key: value for key, value in run.items() if key != "run"}) for run in runs],
        threads=snakemake.threads,
    )
    for run, metrics in zip(runs, all_metrics):
        key = "test_mse" if metrics["task"] == "regression" else "test_acc"
        before, after = metrics["unpruned"][key], metrics["pruned"][key]
        log.info("run %s: %s %.4f before pruning, %.4f after", run["run"], key, before, after)
