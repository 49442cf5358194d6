"""Benchmark: N runs of a family trained in one job against N jobs of one run each (issue 22 section 3).

A *job* is a fresh Python process doing what rule ``train_networks`` does
(``workflow_scripts/train_networks.py``): read the prepared dataset, then
:func:`clusterability.train.runs.train_runs` on its runs, every output
written. ``alone`` runs N such processes of one run each (what ``train_network``
jobs cost, but Snakemake's own start of each script), ``together`` one process
of all N; the two alternate, ``--repeats`` times, and the medians are printed:
wall and CPU seconds (user + system of the process and its threads) per
network, and their ratio. The networks of both must be the same, bit for bit
(their weight files are compared).

Setups (``--setups``): ``mlp7x7`` is P2 4.1's 3 x 64 MLP on 7x7 images, 10 +
10 epochs; ``mlp784`` the papers' 784-256x4-10 MLP, 20 + 20 epochs;
``small_cnn`` P2's small CNN, 10 + 10; ``vgg`` P2's VGG-16 on 32x32x3, 1 + 1
epochs (for a GPU). The images are synthetic (60,000 to train on, the papers'
count), which changes nothing in the cost. ``--epochs E`` caps every phase at E.
One thread; GPUs hidden unless ``--gpu``.

    python benchmarks/bench_networks_per_job.py [--setups mlp7x7,mlp784] [--networks 10,5] [--epochs E]
        [--repeats 1] [--gpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETUPS = {
    "mlp7x7": {"side": 7, "channels": 0, "config": {"widths": [64, 64, 64], "epochs": 10, "prune_epochs": 10}},
    "mlp784": {"side": 28, "channels": 0, "config": {"widths": [256, 256, 256, 256], "epochs": 20, "prune_epochs": 20}},
    "small_cnn": {
        "side": 28,
        "channels": 0,
        "config": {
            "architecture": "small_cnn",
            "widths": [64, 64, 64],
            "dense_widths": [128],
            "batch_size": 64,
            "epochs": 10,
            "prune_epochs": 10,
        },
    },
    "vgg": {
        "side": 32,
        "channels": 3,
        "config": {
            "architecture": "vgg",
            "widths": [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512],
            "dense_widths": [512],
            "epochs": 1,
            "prune_epochs": 1,
        },
    },
}
N_TRAIN = 55000  # + 5,000 validation images: 60,000 trained on


def _write_dataset(path: Path, side: int, channels: int) -> None:
    import numpy as np

    from clusterability.atomic import write_npz

    rng = np.random.default_rng(0)
    n = N_TRAIN + 5000 + 1000
    shape = (n, side, side, channels) if channels else (n, side, side)
    y = rng.integers(0, 10, size=n).astype(np.uint8)
    x = rng.integers(0, 256, size=shape).astype(np.uint8)
    splits = {"train": slice(0, N_TRAIN), "val": slice(N_TRAIN, N_TRAIN + 5000), "test": slice(N_TRAIN + 5000, n)}
    arrays = {f"{a}_{s}": v[i] for s, i in splits.items() for a, v in (("x", x), ("y", y))}
    write_npz(path, name=np.array(f"synthetic_{side}x{side}"), **arrays)


def worker(args: argparse.Namespace) -> None:
    """One job: what workflow_scripts/train_networks.py does."""
    from clusterability.data.prepare import load_prepared
    from clusterability.train.config import TrainConfig
    from clusterability.train.runs import RunFiles, train_runs

    out = Path(args.out)
    runs = [
        RunFiles(seed, *(out / f"{seed}/{n}" for n in ("model.keras", "unpruned.npz", "pruned.npz", "metrics.json")))
        for seed in json.loads(args.seeds)
    ]
    train_runs(load_prepared(args.data), TrainConfig.from_dict(json.loads(args.config)), runs, threads=1)


def _job(data: Path, config: dict, seeds: list[int], out: Path, gpu: bool) -> dict:
    """One fresh worker process; its wall and CPU seconds."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = "1"
    if not gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    cmd = [sys.executable, __file__, "--worker", "--data", str(data), "--out", str(out)]
    cmd += ["--config", json.dumps(config), "--seeds", json.dumps(seeds)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def _measure(name: str, networks: int, epochs: int | None, repeats: int, gpu: bool, tmp: Path) -> dict:
    setup = SETUPS[name]
    config = dict(setup["config"])
    if epochs is not None:
        config["epochs"], config["prune_epochs"] = min(config["epochs"], epochs), min(config["prune_epochs"], epochs)
    data = tmp / f"{name}.npz"
    _write_dataset(data, setup["side"], setup["channels"])
    seeds = list(range(1, networks + 1))
    alone, together = [], []
    for repeat in range(repeats):
        out_alone, out_together = tmp / f"{name}_alone{repeat}", tmp / f"{name}_together{repeat}"
        jobs = [_job(data, config, [seed], out_alone, gpu) for seed in seeds]
        alone.append({key: sum(job[key] for job in jobs) for key in ("wall", "cpu")})
        together.append(_job(data, config, seeds, out_together, gpu))
        for seed in seeds:  # the same networks, bit for bit
            for file in ("unpruned.npz", "pruned.npz"):
                if (out_alone / f"{seed}/{file}").read_bytes() != (out_together / f"{seed}/{file}").read_bytes():
                    raise SystemExit(f"{name}: run {seed}'s {file} differs between one job and {networks} jobs")
    result = {"setup": name, "networks": networks, "epochs": [config["epochs"], config["prune_epochs"]]}
    # Seconds per epoch of each phase, as the networks' metrics report them (first epoch's tracing included).
    for mode, out in (("alone", tmp / f"{name}_alone0"), ("together", tmp / f"{name}_together0")):
        metrics = [json.loads((out / f"{seed}/metrics.json").read_text()) for seed in seeds]
        result[f"epoch_seconds_{mode}"] = {
            phase: statistics.median(m["wall_seconds"][phase] / m["epochs_run"][phase] for m in metrics)
            for phase in ("train", "prune")
            if all(m["epochs_run"][phase] for m in metrics)
        }
    for key in ("wall", "cpu"):
        a = statistics.median(r[key] for r in alone)
        t = statistics.median(r[key] for r in together)
        result[key] = {
            "alone_per_network": a / networks,
            "together_per_network": t / networks,
            "saved_per_network": (a - t) / networks,
            "ratio": a / t,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setups", default="mlp7x7,mlp784")
    parser.add_argument("--networks", default="10,5", help="networks per setup (one number: for every setup)")
    parser.add_argument("--epochs", type=int, help="cap every phase at this many epochs")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--gpu", action="store_true", help="let TensorFlow see the GPUs")
    parser.add_argument("--json", help="write the measurements here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--data", "--out", "--config", "--seeds"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    setups = args.setups.split(",")
    counts = [int(n) for n in args.networks.split(",")]
    counts = counts * len(setups) if len(counts) == 1 else counts
    results = []
    print("| setup | epochs | networks | alone, s per network | one job, s per network | saved per network | ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    epochs_table = []
    with tempfile.TemporaryDirectory(prefix="bench_networks_per_job_") as tmp:
        for name, networks in zip(setups, counts, strict=True):
            r = _measure(name, networks, args.epochs, args.repeats, args.gpu, Path(tmp))
            results.append(r)
            for key in ("wall", "cpu"):
                v = r[key]
                print(
                    f"| {name} ({key}) | {r['epochs'][0]} + {r['epochs'][1]} | {networks} | "
                    f"{v['alone_per_network']:.1f} | {v['together_per_network']:.1f} | "
                    f"{v['saved_per_network']:.1f} | {v['ratio']:.2f}x |",
                    flush=True,
                )
            alone, together = r["epoch_seconds_alone"], r["epoch_seconds_together"]
            for phase in alone:
                epochs_table.append(f"| {name} | {phase} | {alone[phase]:.2f} | {together[phase]:.2f} |")
    print("\nWall seconds per epoch (median over the networks; each phase's first epoch traces its step):")
    print("| setup | phase | one network per job | all in one job |\n| --- | --- | ---: | ---: |")
    print("\n".join(epochs_table))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
