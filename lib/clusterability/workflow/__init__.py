"""The workflow's glue: the config model, the experiment catalogue, pretrained-model jobs, the job runner,
provenance, and the two reports that read the catalogue (projected costs, the scorecard).
"""
