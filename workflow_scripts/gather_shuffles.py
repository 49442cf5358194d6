"""Rule gather_shuffles: a network's first n shuffles from the chunks, with its statistics."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake):
    import json
    from pathlib import Path

    from clusterability.atomic import write_json
    from clusterability.core.statistics import collect_shuffles, summarize

    network = json.loads(Path(snakemake.input.network).read_text())
    chunks = [(path, json.loads(Path(path).read_text())) for path in snakemake.input.chunks]
    ncuts = collect_shuffles(
        chunks,
        method=snakemake.wildcards.method,
        seed=network["seed"],
        k=network["k"],
        n_shuffles=int(snakemake.wildcards.n),
    )
    result = {
        "method": snakemake.wildcards.method,
        "seed": network["seed"],
        "k": network["k"],
        "ncut": network["ncut"],
        "shuffle_ncuts": ncuts.tolist(),
        **summarize(network["ncut"], ncuts),
    }
    write_json(snakemake.output[0], result)
