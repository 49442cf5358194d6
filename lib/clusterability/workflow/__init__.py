"""The workflow's glue: the config model, the experiment catalogue, pretrained-model jobs, the job runner,
provenance, Snakemake's scheduler wake-ups, and the two reports that read the catalogue (projected costs, the
scorecard).
"""
