"""Check: networks of different families trained one after the other in one process equal each trained alone.

What a training job of several *families* would rely on (docs/testing.md, "Where the tiny run's time goes").
Reads the tiny scale's families and the prepared datasets of a tiny run's folder (``--workdir``: the
``work`` folder that ``benchmarks/bench_job_costs.py`` leaves: its ``paper1`` prepares MNIST and
Fashion-MNIST), trains run 0 of each family in ``--families`` in one process, then each alone in a fresh
process, and prints the md5 of every weight file and whether the two agree. One thread.

    python benchmarks/check_shared_process_training.py --workdir /tmp/job_costs/work
        [--families mnist_cnn_dropout,fashion_mnist_plain,mnist_dropout,mnist_l2]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAMILIES = "mnist_cnn_dropout,fashion_mnist_plain,mnist_dropout,mnist_l2"


def train(workdir: Path, families: list[str], out: Path) -> None:
    """Train run 0 of ``families`` one after the other in this process (tiny scale), weights into ``out``."""
    from clusterability.data.prepare import load_prepared
    from clusterability.train.config import TrainConfig
    from clusterability.train.runtime import import_tf
    from clusterability.train.training import train_and_prune
    from clusterability.workflow import targets
    from clusterability.workflow.config import load_workflow_config

    settings, experiments = load_workflow_config(REPO, "tiny")
    for index, family in enumerate(families):
        if index:
            _, keras, _ = import_tf(threads=1)
            keras.backend.clear_session()
        train_and_prune(
            load_prepared(workdir / targets.family_dataset(experiments, family)),
            TrainConfig.from_dict(experiments.families[family].train.to_dict()),
            targets.network_seed(experiments, settings["seed"], family, 0),
            threads=1,
            out_weights_unpruned=out / f"{family}_unpruned.npz",
            out_weights_pruned=out / f"{family}_pruned.npz",
        )


def md5s(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in sorted(folder.glob("*.npz"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--families", default=FAMILIES)
    parser.add_argument("--out", type=Path, help="(internal) train --families in this process into this folder")
    args = parser.parse_args()
    families = args.families.split(",")
    if args.out:
        train(args.workdir, families, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="shared_process_") as tmp:
        shared, alone = Path(tmp, "shared"), Path(tmp, "alone")
        for folder, groups in ((shared, [families]), (alone, [[family] for family in families])):
            folder.mkdir()
            for group in groups:
                cmd = [sys.executable, __file__, "--workdir", str(args.workdir), "--families", ",".join(group)]
                subprocess.run([*cmd, "--out", str(folder)], check=True, capture_output=True)
        together, apart = md5s(shared), md5s(alone)
    for name in together:
        print(f"{name}: {together[name]} {'==' if together[name] == apart.get(name) else '!='} {apart.get(name)}")
    print("all equal" if together == apart else "DIFFERENT")
    sys.exit(0 if together == apart else 1)


if __name__ == "__main__":
    main()
