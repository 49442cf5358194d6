"""Rule scorecard: the papers' numbers (config/papers/) against the tables built in the work folder."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake) as log:
    import json
    import os

    from clusterability.atomic import atomic_path
    from clusterability.report.tables import write_csv
    from clusterability.workflow.scorecard import (
        TableInfo,
        Tolerances,
        read_facts,
        read_papers,
        read_table,
        score,
        scorecard_markdown,
        shown_path,
        summary_line,
    )

    tables = {name: TableInfo.from_dict(info) for name, info in json.loads(snakemake.params.tables).items()}
    tol = Tolerances(**json.loads(snakemake.params.tolerances))
    inputs = dict(snakemake.input.items())
    values = read_papers(inputs, tables)
    facts = read_facts(inputs["facts"], tables, shown_path(inputs["facts"])) if "facts" in inputs else []
    # The tables built when the workflow started (rule scorecard's params), as they are now.
    built = {
        name: read_table(entry["path"])
        for name, entry in json.loads(snakemake.params.built).items()
        if os.path.isfile(entry["path"])
    }
    scale, commit = snakemake.params.scale, snakemake.params.commit
    card = score(values, tables, built, facts, scale=scale, commit=commit, tol=tol)
    write_csv(card, snakemake.output.csv)
    with atomic_path(snakemake.output.md) as tmp:
        tmp.write_text(scorecard_markdown(card, tables, facts, scale=scale, commit=commit, built=built, tol=tol))
    log.info("scorecard at scale %s, commit %s: %s", scale, commit, summary_line(card, tol))
