"""Benchmark: the cost of training and pruning one MLP, against a plain tf_keras loop.

Each measurement is a fresh Python process on one thread (TensorFlow's
intra/inter-op pools and BLAS at 1), so fixed costs (the TensorFlow import, the
model build, tracing) are paid as in a workflow job. Two epoch counts E1 < E2
are run for each program; per-epoch seconds of a phase are
``(t_phase(E2) - t_phase(E1)) / (E2 - E1)`` so fixed costs cancel, and the fixed
cost per network is the process's wall time at E1 minus E1 epochs of each phase.

Programs, run interleaved (pipeline, plain, pipeline, plain, ...) and summarised
by the median over ``--repeats``:

``pipeline``
    :func:`clusterability.train.training.train_and_prune` (op determinism on, the
    pipeline's pruning implementation), timed by the ``wall_seconds`` it reports.
``plain``
    The loop anyone would write: ``Sequential`` of the same layers, ``fit`` on
    float32 arrays, Adam, batch 128, then ``prune_low_magnitude`` with the same
    ``PolynomialDecay`` and ``UpdatePruningStep``; op determinism on too, so the
    comparison is like for like (``--plain-nondeterministic`` turns it off).

It also measures the matmul throughput of TensorFlow on this machine for the
MLP's shapes and prints each phase against that FLOP bound (multiply-adds per
epoch: forward 1x, backward 2x, less the first layer's input gradient).

    python benchmarks/bench_training.py [--n-train 55000] [--epochs 1 3] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

WIDTHS = (784, 256, 256, 256, 256, 10)


# ---------------------------------------------------------------------------- worker side


def _data(n_train: int):
    import numpy as np

    rng = np.random.default_rng(0)
    n = n_train + 2000
    y = rng.integers(0, 10, size=n)
    x = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for c in range(10):  # a learnable pattern: a bright band per class
        x[y == c, 2 + 2 * c : 4 + 2 * c, :] += 150
    return {
        "x_train": x[:n_train],
        "y_train": y[:n_train],
        "x_val": x[n_train : n_train + 1000],
        "y_val": y[n_train : n_train + 1000],
        "x_test": x[n_train + 1000 :],
        "y_test": y[n_train + 1000 :],
    }


def _worker_pipeline(n_train: int, epochs: int) -> dict:
    from clusterability.train.config import TrainConfig
    from clusterability.train.training import train_and_prune

    data = _data(n_train)
    metrics = train_and_prune(data, TrainConfig(epochs=epochs, prune_epochs=epochs), seed=0, threads=1)
    return {key: metrics["wall_seconds"][key] for key in ("setup", "train", "prune", "evaluate")}


def _worker_plain(n_train: int, epochs: int, deterministic: bool) -> dict:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    data = _data(n_train)
    x = data["x_train"].astype("float32") / 255.0
    y = data["y_train"].astype("int32")
    model = keras.Sequential(
        [keras.Input((28, 28)), keras.layers.Flatten()]
        + [keras.layers.Dense(w, activation="relu") for w in WIDTHS[1:-1]]
        + [keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=0)
    t1 = time.perf_counter()
    steps = epochs * -(-len(x) // 128)
    schedule = tfmot.sparsity.keras.PolynomialDecay(0.5, 0.9, begin_step=0, end_step=steps, power=3, frequency=10)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    pruned.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    pruned.fit(x, y, batch_size=128, epochs=epochs, verbose=0, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    t2 = time.perf_counter()
    return {"train": t1 - t0, "prune": t2 - t1}


def _worker_matmul_gflops() -> float:
    """TensorFlow's single-thread float32 GFLOP/s on the MLP's forward and backward matmuls."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    b = 128
    pairs = list(zip(WIDTHS[:-1], WIDTHS[1:]))
    xs = [tf.random.uniform((b, i)) for i, _ in pairs]
    ws = [tf.random.uniform((i, o)) for i, o in pairs]
    gs = [tf.random.uniform((b, o)) for _, o in pairs]

    @tf.function
    def step():
        out = []
        for x, w, g in zip(xs, ws, gs):
            out.append(tf.reduce_sum(tf.matmul(x, w)))  # forward
            out.append(tf.reduce_sum(tf.matmul(x, g, transpose_a=True)))  # weight gradient
            out.append(tf.reduce_sum(tf.matmul(g, w, transpose_b=True)))  # input gradient
        return tf.add_n(out)

    step()
    reps = 200
    t0 = time.perf_counter()
    for _ in range(reps):
        step().numpy()
    seconds = (time.perf_counter() - t0) / reps
    flops = 3 * 2 * b * sum(i * o for i, o in pairs)
    return flops / seconds / 1e9


def worker(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    if args.worker == "pipeline":
        result = _worker_pipeline(args.n_train, args.worker_epochs)
    elif args.worker == "plain":
        result = _worker_plain(args.n_train, args.worker_epochs, not args.plain_nondeterministic)
    else:
        result = {"gflops": _worker_matmul_gflops()}
    result["process"] = time.perf_counter() - start
    print("RESULT " + json.dumps(result))


# ---------------------------------------------------------------------------- driver side


def _run(kind: str, n_train: int, epochs: int, extra: list[str]) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = "1"
    cmd = [sys.executable, __file__, "--worker", kind, "--n-train", str(n_train), "--worker-epochs", str(epochs)]
    started = time.perf_counter()
    proc = subprocess.run(cmd + extra, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{kind} worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["wall"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=55000, help="training images (MNIST: 55,000)")
    parser.add_argument("--epochs", type=int, nargs=2, default=(1, 3), metavar=("E1", "E2"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plain-nondeterministic", action="store_true")
    parser.add_argument("--json", help="write the measurements here")
    parser.add_argument("--worker", choices=("pipeline", "plain", "matmul"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-epochs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    extra = ["--plain-nondeterministic"] if args.plain_nondeterministic else []
    e1, e2 = args.epochs
    runs: dict[tuple[str, int], list[dict]] = {}
    for _ in range(args.repeats):
        for epochs in (e1, e2):
            for kind in ("pipeline", "plain"):
                runs.setdefault((kind, epochs), []).append(_run(kind, args.n_train, epochs, extra))
    gflops = _run("matmul", args.n_train, 0, [])["gflops"]

    def med(kind: str, epochs: int, key: str) -> float:
        return statistics.median(r[key] for r in runs[(kind, epochs)])

    summary = {}
    for kind in ("pipeline", "plain"):
        per_epoch = {phase: (med(kind, e2, phase) - med(kind, e1, phase)) / (e2 - e1) for phase in ("train", "prune")}
        fixed = med(kind, e1, "wall") - e1 * (per_epoch["train"] + per_epoch["prune"])
        summary[kind] = {"per_epoch": per_epoch, "fixed": fixed}
    pairs = list(zip(WIDTHS[:-1], WIDTHS[1:]))
    madds = args.n_train * (3 * sum(i * o for i, o in pairs) - pairs[0][0] * pairs[0][1])
    bound = 2 * madds / (gflops * 1e9)

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, one thread; "
        f"{args.n_train} images, batch 128, epochs {e1} and {e2}, median of {args.repeats}"
    )
    print(f"TensorFlow matmul throughput: {gflops:.1f} GFLOP/s -> FLOP bound {bound:.2f} s per epoch")
    print()
    print("| phase | pipeline s/epoch | plain s/epoch | pipeline / plain | pipeline / FLOP bound |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for phase in ("train", "prune"):
        p, q = summary["pipeline"]["per_epoch"][phase], summary["plain"]["per_epoch"][phase]
        print(f"| {phase} | {p:.2f} | {q:.2f} | {p / q:.2f} | {p / bound:.2f} |")
    p, q = summary["pipeline"]["fixed"], summary["plain"]["fixed"]
    print(f"| fixed cost per network (s) | {p:.1f} | {q:.1f} | {p / q:.2f} | |")
    setup, evaluate = med("pipeline", e1, "setup"), med("pipeline", e1, "evaluate")
    print(
        f"pipeline fixed cost, as its metrics report it: setup (TensorFlow import, model build) {setup:.1f} s, "
        f"evaluating all splits before and after pruning {evaluate:.1f} s, the rest is process start and import"
    )
    ratio = summary["pipeline"]["per_epoch"]["prune"] / summary["pipeline"]["per_epoch"]["train"]
    plain_ratio = summary["plain"]["per_epoch"]["prune"] / summary["plain"]["per_epoch"]["train"]
    print()
    print(f"pruning epoch / training epoch: pipeline {ratio:.2f}, plain loop {plain_ratio:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "summary": summary,
                    "gflops": gflops,
                    "flop_bound_s": bound,
                    "runs": {f"{k}_{e}": v for (k, e), v in runs.items()},
                },
                fh,
                indent=2,
            )


if __name__ == "__main__":
    main()
