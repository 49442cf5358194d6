"""Draw a work folder's synthetic datasets again with this checkout's code and compare them byte for byte.

A change to ``clusterability.data.synthetic`` changes the code hash of every ``make_synthetic_dataset`` job,
so Snakemake would draw every synthetic dataset again and retrain every network of them (the kilo-epoch ones
included), although a change to one kind leaves the others' files the same. When this prints SAME for a
dataset, ``snakemake --cleanup-metadata results/data/NAME.npz`` (Snakemake's own way to skip the trigger of a
change known not to change a result) keeps its file and what was built from it; say so with the run.

    python docs/check_synthetic_unchanged.py --workdir WORK [--scale fidelity] NAME...

Exit status 1 when a dataset differs or is missing, 0 when all are the same.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--scale", default="fidelity", help="a scale of config/scales (paper: none)")
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()

    from clusterability.data.synthetic import make_dataset
    from clusterability.workflow.config import load_workflow_config
    from clusterability.workflow.targets import dataset_seed

    settings, experiments = load_workflow_config(REPO, args.scale)
    same = True
    for name in args.names:
        dataset = experiments.datasets[name]
        n_train, n_val, n_test = dataset.sizes
        recorded = args.workdir / "results" / "data" / f"{name}.npz"
        with tempfile.TemporaryDirectory() as tmp:
            drawn = Path(tmp) / f"{name}.npz"
            seed = dataset_seed(settings["seed"], name)  # as rule make_synthetic_dataset
            make_dataset(name, dataset.generator, drawn, n_train=n_train, n_val=n_val, n_test=n_test, seed=seed)
            new = hashlib.md5(drawn.read_bytes()).hexdigest()
        old = hashlib.md5(recorded.read_bytes()).hexdigest() if recorded.is_file() else "missing"
        same &= new == old
        print(f"{name} ({dataset.generator}): drawn {new}, {recorded} {old}: {'SAME' if new == old else 'DIFFERENT'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
