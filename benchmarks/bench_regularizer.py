"""Benchmark: a training step with the clusterability regularizer (P2 4.1) against a plain step.

For each MLP of P2 section 4.1 -- P2 Table 1's 49-64x3-10 on 7x7 images and the
papers' 784-256x4-10 on 28x28 images -- the same network is trained by
:func:`clusterability.train.training.train_and_prune` with regularizer weight 0
(plain) and 0.1 (eigenvalues 2..4, with Algorithm 2 after every step), on one
thread, Adam, batch 128, no pruning. Each program runs for ``E1`` and ``E2``
epochs; seconds per step are ``(t_train(E2) - t_train(E1)) / ((E2 - E1) * steps)``,
so tracing and set-up cancel. Runs are interleaved (plain, regularized, ...)
and summarised by the median over ``--repeats``, all in one process.

It also times the regularizer's own work per step on the trained weights: the
eigenvectors of ``L_sym`` (:func:`clusterability.train.regularizer.laplacian_eigenpairs`)
and Algorithm 2 (:func:`clusterability.train.regularizer.normalize_input_norms`),
and projects one paper-scale regularized network (20 + 20 epochs on 55,000
images, 430 steps per epoch) on one core.

    python benchmarks/bench_regularizer.py [--steps 100] [--small-steps 1000] [--epochs 1 3] [--repeats 3]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

#: The two MLPs: P2 Table 1's on 7x7 MNIST, and the papers' on 28x28 (image side, hidden widths, option
#: giving the steps per epoch: the small one's plain step is ~0.3 ms, so it needs more steps to time).
SIZES = {
    "3x64 on 7x7": (7, (64, 64, 64), "small_steps"),
    "4x256 on 28x28": (28, (256, 256, 256, 256), "steps"),
}
BATCH = 128
WEIGHT = 0.1
PAPER_STEPS = 40 * 430  # 20 + 20 epochs of ceil(55,000 / 128) steps


def _data(side: int, n_train: int):
    import numpy as np

    rng = np.random.default_rng(0)
    n = n_train + 512
    y = rng.integers(0, 10, size=n)
    x = rng.integers(0, 60, size=(n, side, side)).astype(np.uint8)
    for c in range(10):  # a learnable pattern: a bright pixel per class
        x[y == c, c % side, (c * 3) % side] += 150
    return {
        "x_train": x[:n_train],
        "y_train": y[:n_train],
        "x_val": x[n_train : n_train + 256],
        "y_val": y[n_train : n_train + 256],
        "x_test": x[n_train + 256 :],
        "y_test": y[n_train + 256 :],
    }


def _train_seconds(data: dict, widths: tuple[int, ...], weight: float, epochs: int) -> tuple[float, list]:
    from clusterability.io.npz import load_weights
    from clusterability.train.config import TrainConfig
    from clusterability.train.training import train_and_prune

    config = TrainConfig(epochs=epochs, prune_epochs=0, batch_size=BATCH, widths=widths, regularizer_weight=weight)
    out = Path("/tmp") / f"bench_regularizer_{weight}.npz"
    metrics = train_and_prune(data, config, seed=0, threads=1, out_weights_unpruned=out)
    return metrics["wall_seconds"]["train"], load_weights(out)


def _per_call(fn, repeats: int = 20) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="training steps per epoch of the 4x256 MLP")
    parser.add_argument("--small-steps", type=int, default=1000, help="training steps per epoch of the 3x64 MLP")
    parser.add_argument("--epochs", type=int, nargs=2, default=(1, 3), metavar=("E1", "E2"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from clusterability.threads import limit_threads, set_thread_env
    from clusterability.train.regularizer import laplacian_eigenpairs, normalize_input_norms

    set_thread_env(1)
    e1, e2 = args.epochs
    results = {}
    with limit_threads(1):
        for name, (side, widths, option) in SIZES.items():
            steps = getattr(args, option)
            data = _data(side, steps * BATCH)
            per_step: dict[str, list[float]] = {"plain": [], "regularized": []}
            weights = None
            for _ in range(args.repeats):
                for program, weight in (("plain", 0.0), ("regularized", WEIGHT)):
                    t1, _ = _train_seconds(data, widths, weight, e1)
                    t2, trained = _train_seconds(data, widths, weight, e2)
                    per_step[program].append((t2 - t1) / ((e2 - e1) * steps))
                    if weight:
                        weights = trained
            kernels = list(weights.kernels)
            biases = list(weights.biases)
            plain = statistics.median(per_step["plain"])
            regularized = statistics.median(per_step["regularized"])
            results[name] = {
                "plain_ms": 1e3 * plain,
                "regularized_ms": 1e3 * regularized,
                "ratio": regularized / plain,
                "eigenpairs_ms": 1e3 * _per_call(lambda k=kernels: laplacian_eigenpairs(k, 4)),
                "normalization_ms": 1e3 * _per_call(lambda k=kernels, b=biases: normalize_input_norms(k, b)),
                "paper_network_minutes": {
                    "plain": PAPER_STEPS * plain / 60,
                    "regularized": PAPER_STEPS * regularized / 60,
                },
                "runs": per_step,
            }
    print(f"{platform.processor() or platform.machine()}, one thread, batch {BATCH}, weight {WEIGHT}, k = 4")
    print("| MLP | plain step | regularized step | ratio | of which: eigenvectors | Algorithm 2 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        print(
            f"| {name} | {r['plain_ms']:.2f} ms | {r['regularized_ms']:.2f} ms | {r['ratio']:.1f}x | "
            f"{r['eigenpairs_ms']:.2f} ms | {r['normalization_ms']:.2f} ms |"
        )
    paper = results["4x256 on 28x28"]["paper_network_minutes"]
    print(
        f"One paper-scale 784-256x4-10 network (20 + 20 epochs, {PAPER_STEPS} steps) on one core: "
        f"{paper['plain']:.1f} min plain, {paper['regularized']:.1f} min regularized (training steps only)."
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
