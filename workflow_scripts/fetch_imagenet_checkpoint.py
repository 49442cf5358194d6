"""Rule fetch_imagenet_checkpoint: torchvision's checkpoint of an ImageNet model, sha256-checked."""

from clusterability.workflow.jobs import script_job

with script_job(snakemake) as log:
    from clusterability.workflow.pretrained import fetch_checkpoint

    fetch_checkpoint(snakemake.wildcards.architecture, snakemake.output[0], mirror=snakemake.params.mirror)
    log.info("%s verified", snakemake.output[0])
