"""The workflow passes `snakemake --lint`, `snakefmt --check` and ruff, and its paper-scale DAG is right."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workflow_helpers import REPO, SNAKEMAKE, planned_jobs

SNAKEFMT = str(Path(sys.executable).with_name("snakefmt"))


def test_snakemake_lint_is_clean() -> None:
    proc = subprocess.run([SNAKEMAKE, "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out
    assert "Lints for" not in out


def test_snakefmt_check_passes() -> None:
    proc = subprocess.run(
        [SNAKEFMT, "--check", "Snakefile", "rules"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


RUFF = str(Path(sys.executable).with_name("ruff"))


def test_ruff_check_and_format() -> None:
    for cmd in ([RUFF, "check", "."], [RUFF, "format", "--check", "."]):
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_paper_scale_dag(tmp_path: Path) -> None:
    """Table 1 alone, and all of P1, planned from scratch at the paper's settings.

    Table 1 needs the 60 pruned networks clustered at k = 4 with 320 shuffles in
    chunks of 64. P1 (rule `paper1`; `all` builds the same files) trains every family
    once and clusters every (network, stage, k) once, whatever the number of
    tables and figures that use it.
    """
    assert planned_jobs(tmp_path, "--", "results/table1.csv") == {
        "fetch_dataset": 3,
        "prepare_dataset": 3,
        "train_network": 60,
        "cluster_network": 60,
        "shuffle_chunk": 60 * 5,
        "gather_shuffles": 60,
        "table": 1,
    }
    # Networks: Table 1's 6 families, 200 initialisations (Tables 2-4, figure 3), random labels
    # trained 20 and 1,000 epochs (Tables 2, 3), memorization (Table 4), and the lines dataset with
    # its 6 mixtures (Tables A.16, A.17): 10 runs each, plain and dropout.
    trainings = 60 + 200 + 2 * 10 * (2 + 1 + 1 + 6)
    # Clusterings with shuffles: Table 1's networks pruned at k = 4, 7, 10, 2 and unpruned at
    # k = 4 (Table 1 per network, Tables A.4-A.15), and the pruned networks of Tables 2-4.
    shuffled = 60 * 5 + 3 * 20
    # ... and without: the 200 initialisations, the unpruned networks of Tables 2-4, and the
    # lines and mixture networks (Tables A.16, A.17 reuse the pruned MNIST and CIFAR-10 ones).
    unshuffled = 200 + 3 * 20 + 7 * 20
    # Gathers: one per clustering and shuffle method (layer; also layer_nonzero for Tables A.4-A.15).
    gathers = shuffled + 60 * 2
    paper1 = {
        "paper1": 1,
        "fetch_dataset": 3,
        "prepare_dataset": 3,
        "make_synthetic_dataset": 3,  # lines, random, memorization
        "mix_datasets": 6,
        "train_network": trainings,
        "cluster_network": shuffled + unshuffled,
        "shuffle_chunk": gathers * 5,
        "gather_shuffles": gathers,
        # Lesions of one Fashion-MNIST network with dropout (pruned, k = 10, Table A.2's clustering).
        "lesion_single": 1,
        "lesion_pairs": 1,
        # Tables 1-4, A.1-A.19, per-network tables of Table 1, figures 3, 4, A.6 and 6(b)
        "table": 28,
        "figure": 13,  # Figures 1-6, A.1-A.6 (figure 6 in two parts)
    }
    assert planned_jobs(tmp_path, "--", "paper1") == paper1

    # P2's MLP part alone: P1's MNIST and Fashion-MNIST networks (all 10 runs for the k-sweep A.1-A.4,
    # 5 elsewhere), its random, kilo-epoch and memorization networks, 5 each of lines and two mixtures
    # with and without dropout, 100 initialisations, and P2's own 55 (L1/L2, halves, polynomial).
    p2_new = 4 * 5 + 4 * 5 + 3 * 5
    p2_trainings = 40 + 3 * 20 + 3 * 10 + 100 + p2_new
    # k = 12: every network of Tables A.5-A.7 and A.19 and of A.16-A.18 before and after pruning,
    # the mixtures' pruned networks and the initialisations; 50 shuffles (one chunk of 64) for the pruned
    # and unpruned networks of A.5-A.7 and A.19 and the pruned ones of A.16-A.18.
    p2_k12, p2_k12_shuffled = 2 * (40 + 20 + 15) + 2 * 60 + 30 + 100, 2 * (40 + 20 + 15) + 60
    p2_ksweep = 40 * 4  # P1's Table 1 and A.1-A.3 clusterings without CIFAR-10, 320 shuffles each
    paper2_mlp = {
        "paper2_mlp": 1,
        "fetch_dataset": 2,
        "prepare_dataset": 2,
        "make_synthetic_dataset": 4,  # lines, random, memorization, polynomial
        "mix_datasets": 2,  # lines_mnist and its -SEP version
        "make_paired_dataset": 4,
        "train_network": p2_trainings,
        # (50 shuffles fit one chunk: their gathers cluster the networks and make them, no cluster_network
        # job, but for the 10 pruned MNIST networks that Tables A.20 and A.21 show without shuffles; figure
        # A.6's 20 pruned networks' layer_nonzero shuffles are made by their gathers too, plain and dropout)
        "cluster_network": p2_ksweep + p2_k12 - p2_k12_shuffled + 10,
        "shuffle_chunk": p2_ksweep * 5,
        "gather_shuffles": p2_ksweep + p2_k12_shuffled + 20,
        "table": 18,
        "figure": 8,
    }
    assert planned_jobs(tmp_path, "--", "paper2_mlp") == paper2_mlp
    # P2's CNN part: 5 small CNNs per regime and dataset (8 families), per stack dataset (4) and
    # 5 VGGs per regime (5), each clustered before and after pruning with 50 shuffles (one chunk),
    # and 100 initial small CNNs and VGGs each, clustered once.
    cnn_trained = (8 + 4 + 5) * 5
    # ... and Table A.11's 6 ImageNet models, fetched from torchvision and imported, 100 shuffles (2 chunks).
    paper2_cnn = {
        "paper2_cnn": 1,
        "fetch_dataset": 3,
        "prepare_dataset": 3,  # mnist, fashion_mnist and cifar10_rgb (32x32 RGB)
        "make_paired_dataset": 4,  # the stack datasets
        "train_network": cnn_trained + 200,
        "fetch_imagenet_checkpoint": 6,
        "import_pretrained": 6,
        "cluster_network": 200 + 6,  # the initial networks (no shuffles) and the ImageNet models (fanned out)
        "shuffle_chunk": 6 * 2,  # only the ImageNet models' 100 fan out
        "gather_shuffles": 2 * cnn_trained + 6,
        "table": 10,  # A.8-A.12 and 5 per-network tables (2 of initial networks)
        "figure": 10,  # 6-12, A.2-A.4
    }
    assert planned_jobs(tmp_path, "--", "paper2_cnn") == paper2_cnn
    # P2 section 4: 5 clusterably initialized networks per MLP, small-CNN and VGG family (5 families),
    # 10 each of the 7x7 MLPs with and without the regularizer, 3 per weight of the regularizer sweep;
    # compared with the first 5 runs of the plain MLPs, small CNNs and VGGs (the sweep's weight 0 is
    # mnist_plain's first 3). Every one clustered before and after pruning with 50 shuffles (one chunk).
    promote_new = 5 * 5 + 2 * 10 + 3 * 3
    promote_networks = promote_new + 5 * 5
    paper2_promote = {
        "paper2_promote": 1,
        "fetch_dataset": 3,
        "prepare_dataset": 3,  # mnist, fashion_mnist and cifar10_rgb
        "resize_dataset": 1,  # mnist_7x7
        "train_network": promote_networks,
        "gather_shuffles": 2 * promote_networks,  # each clusters its network: no cluster_network job
        "table": 9,  # A.13-A.15, Table 1, the weight sweep and 4 per-network tables
        "figure": 4,  # 13-15, A.5
    }
    assert planned_jobs(tmp_path, "--", "paper2_promote") == paper2_promote
    # Everything: P2 adds only its own networks and its k = 12 clusterings to P1's jobs.
    everything = planned_jobs(tmp_path)
    assert everything.pop("all") == 1
    paper1.pop("paper1")
    added = {"make_synthetic_dataset": 1, "make_paired_dataset": 8, "train_network": p2_new + cnn_trained + 200}
    added |= {"prepare_dataset": 1, "table": 18 + 10, "figure": 8 + 10}
    added |= {"fetch_imagenet_checkpoint": 6, "import_pretrained": 6}
    added |= {
        "cluster_network": p2_k12 - p2_k12_shuffled + 10 + 200 + 6,
        "shuffle_chunk": 12,
        "gather_shuffles": p2_k12_shuffled + 20 + 2 * cnn_trained + 6,
    }
    # ... and section 4 only its new networks: the plain ones it compares with are clustered at k = 12 already.
    added["train_network"] += promote_new
    added |= {"resize_dataset": 1, "table": added["table"] + 9, "figure": added["figure"] + 4}
    added["gather_shuffles"] += 2 * promote_new
    assert everything == {rule: paper1.get(rule, 0) + added.get(rule, 0) for rule in {*paper1, *added}}
