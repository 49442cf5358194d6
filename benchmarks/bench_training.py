"""Benchmark: the cost of training and pruning one MLP, against a plain tf_keras loop.

Each measurement is a fresh Python process on one thread (TensorFlow's
intra/inter-op pools and BLAS at 1), so fixed costs (the TensorFlow import, the
model build, tracing, evaluation, saving, the process's exit) are paid as in a
workflow job. A Keras callback in the worker times every ``fit`` (a phase): its
first step (building the input pipeline, tracing and optimizing the step
function, one step) apart from the steps after it. A phase's *epoch* seconds
are those later steps' wall (and CPU) seconds, scaled to all its steps, per
epoch; the *fixed cost per network* is the process's wall (CPU) seconds less
the epochs of both phases: what a job pays whatever its epochs. CPU seconds (user +
system, all threads) are what a loaded machine inflates least.

Programs, run interleaved (pipeline, baseline, plain, pipeline, ...) and
summarised by the median over ``--repeats``:

``pipeline``
    :func:`clusterability.train.training.train_and_prune` as the ``train_network``
    job runs it: the dataset read from a prepared ``.npz``
    (:func:`clusterability.data.prepare.load_prepared`), every output written;
    also the ``wall_seconds`` its metrics report.
``baseline`` (with ``--baseline DIR``)
    The same with the ``clusterability`` package found in ``DIR`` (put first on
    ``PYTHONPATH``), e.g. an older commit's: ``git archive REV lib | tar -x -C
    /tmp/old`` then ``--baseline /tmp/old/lib``. Compares two versions side by
    side on a machine whose load drifts.
``plain`` (unless ``--no-plain``)
    The loop anyone would write: ``Sequential`` of the same layers, ``fit`` on
    float32 arrays, Adam, batch 128, then ``prune_low_magnitude`` with the same
    ``PolynomialDecay`` and ``UpdatePruningStep``; op determinism on too, so the
    comparison is like for like (``--plain-nondeterministic`` turns it off).

It also measures the matmul throughput of TensorFlow on this machine for the
MLP's shapes and prints each phase against that FLOP bound (multiply-adds per
epoch: forward 1x, backward 2x, less the first layer's input gradient).

    python benchmarks/bench_training.py [--n-train 55000] [--epochs 2] [--repeats 3]
        [--baseline DIR] [--no-plain] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTHS = (784, 256, 256, 256, 256, 10)
PHASES = ("setup", "train", "prune", "evaluate")


# ---------------------------------------------------------------------------- data


def _arrays(n_train: int) -> dict:
    """MNIST-sized synthetic images (uint8, 28x28, 10 classes): ``n_train`` to train on, 1,000 each to validate
    and test."""
    import numpy as np

    rng = np.random.default_rng(0)
    n = n_train + 2000
    y = rng.integers(0, 10, size=n).astype(np.uint8)
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


def _write_dataset(path: Path, n_train: int) -> None:
    """The synthetic images as a prepared dataset (the file a ``train_network`` job reads)."""
    import numpy as np

    from clusterability.atomic import write_npz

    write_npz(path, name=np.array("synthetic_mnist"), **_arrays(n_train))


# ---------------------------------------------------------------------------- worker side


def _time_every_fit(keras, phases: list[dict]) -> None:
    """Time every ``keras.Model.fit`` of this process: a dict per call in ``phases`` (see the module docstring)."""

    class PhaseClock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self._supports_tf_logs = True  # no conversion of the logs at every step
            self.record = {"steps": 0}

        def _now(self) -> tuple[float, float]:
            return time.perf_counter(), time.process_time()

        def on_train_begin(self, logs=None) -> None:
            self.record["begin"] = self._now()

        def on_train_batch_end(self, batch, logs=None) -> None:
            self.record["steps"] += 1
            self.record.setdefault("first_step", self._now())

        def on_train_end(self, logs=None) -> None:
            self.record["end"] = self._now()

    fit = keras.Model.fit

    def timed_fit(self, *args, callbacks=None, **kwargs):
        clock = PhaseClock()
        started = (time.perf_counter(), time.process_time())
        try:
            return fit(self, *args, callbacks=[*(callbacks or []), clock], **kwargs)
        finally:
            phases.append({**clock.record, "called": started, "epochs": kwargs.get("epochs", 1)})

    timed_fit._timed = True
    keras.Model.fit = timed_fit


def _epochs_seconds(phase: dict) -> tuple[float, float]:
    """Wall and CPU seconds of a phase's epochs: the steps after the first, scaled to all its steps."""
    steps = phase["steps"]
    if steps < 2:
        return 0.0, 0.0
    scale = steps / (steps - 1)
    return tuple(scale * (phase["end"][i] - phase["first_step"][i]) for i in (0, 1))


def _worker_pipeline(data_path: str, epochs: int, out_dir: str, phases: list[dict]) -> dict:
    import clusterability.train.training as training
    from clusterability.data.prepare import load_prepared
    from clusterability.train.config import TrainConfig
    from clusterability.train.training import train_and_prune

    fit_phase = training.fit_phase

    def timed_fit_phase(fitting, *args, **kwargs):
        if not getattr(fitting.keras.Model.fit, "_timed", False):  # TensorFlow is imported now, as in a job
            _time_every_fit(fitting.keras, phases)
        return fit_phase(fitting, *args, **kwargs)

    training.fit_phase = timed_fit_phase

    out = Path(out_dir)
    metrics = train_and_prune(
        load_prepared(data_path),
        TrainConfig(epochs=epochs, prune_epochs=epochs),
        seed=0,
        threads=1,
        out_model=out / "model.keras",
        out_weights_unpruned=out / "weights_unpruned.npz",
        out_weights_pruned=out / "weights_pruned.npz",
        out_metrics=out / "metrics.json",
    )
    return {key: metrics["wall_seconds"][key] for key in PHASES}


def _worker_plain(data_path: str, epochs: int, deterministic: bool, phases: list[dict]) -> dict:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import numpy as np
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    _time_every_fit(keras, phases)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    with np.load(data_path) as data:
        x = np.concatenate([data["x_train"], data["x_val"]]).astype("float32") / 255.0
        y = np.concatenate([data["y_train"], data["y_val"]]).astype("int32")
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
    phases: list[dict] = []
    if args.worker in ("pipeline", "baseline"):
        result = _worker_pipeline(args.data, args.worker_epochs, args.out, phases)
    elif args.worker == "plain":
        result = _worker_plain(args.data, args.worker_epochs, not args.plain_nondeterministic, phases)
    else:
        result = {"gflops": _worker_matmul_gflops()}
    for name, phase in zip(("train", "prune"), phases):
        wall, cpu = _epochs_seconds(phase)
        result[f"{name}_epoch"], result[f"{name}_epoch_cpu"] = wall / phase["epochs"], cpu / phase["epochs"]
        result[f"{name}_first_step"] = phase["first_step"][0] - phase["called"][0]
    result["process"] = time.perf_counter() - start
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------- driver side


def _run(kind: str, epochs: int, data: Path, extra: list[str], pythonpath: str | None = None) -> dict:
    """One fresh worker process; its result with the process's ``wall`` and ``cpu`` seconds (user + system)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = "1"
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="bench_training_out_") as out:
        cmd = [sys.executable, __file__, "--worker", kind, "--data", str(data), "--out", out]
        cmd += ["--worker-epochs", str(epochs), *extra]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{kind} worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["wall"] = wall
    result["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def _fixed(result: dict, epochs: int) -> tuple[float, float]:
    """A run's fixed wall and CPU seconds: the process's, less the epochs of both phases."""
    wall = result["wall"] - epochs * (result["train_epoch"] + result["prune_epoch"])
    cpu = result["cpu"] - epochs * (result["train_epoch_cpu"] + result["prune_epoch_cpu"])
    return wall, cpu


def _summary(runs: list[dict], epochs: int) -> dict:
    """Medians over a program's runs: per-epoch seconds of each phase, fixed seconds per network, and the
    seconds of each phase's first step and of the ``wall_seconds`` its metrics report (the pipeline's)."""

    def med(values) -> float:
        return statistics.median(values)

    out = {
        "per_epoch": {phase: med(r[f"{phase}_epoch"] for r in runs) for phase in ("train", "prune")},
        "per_epoch_cpu": {phase: med(r[f"{phase}_epoch_cpu"] for r in runs) for phase in ("train", "prune")},
        "fixed": med(_fixed(r, epochs)[0] for r in runs),
        "fixed_cpu": med(_fixed(r, epochs)[1] for r in runs),
        "first_step": {phase: med(r[f"{phase}_first_step"] for r in runs) for phase in ("train", "prune")},
    }
    if "setup" in runs[0]:
        out["reported"] = {phase: med(r[phase] for r in runs) for phase in PHASES}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=55000, help="training images (MNIST: 55,000)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each phase")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", help="a folder holding another version's clusterability package, to compare")
    parser.add_argument("--no-plain", action="store_true", help="leave out the plain tf_keras loop")
    parser.add_argument("--plain-nondeterministic", action="store_true")
    parser.add_argument("--json", help="write the measurements here")
    parser.add_argument("--worker", choices=("pipeline", "baseline", "plain", "matmul"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-epochs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.baseline and not (Path(args.baseline) / "clusterability" / "__init__.py").is_file():
        parser.error(f"--baseline {args.baseline}: no clusterability/__init__.py there")

    kinds = ["pipeline"] + (["baseline"] if args.baseline else []) + ([] if args.no_plain else ["plain"])
    extra = {"plain": ["--plain-nondeterministic"] if args.plain_nondeterministic else []}
    paths = {"baseline": str(Path(args.baseline).resolve()) if args.baseline else None}
    runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="bench_training_") as tmp:
        data = Path(tmp) / "data.npz"
        _write_dataset(data, args.n_train)
        for _ in range(args.repeats):
            for kind in kinds:
                runs[kind].append(_run(kind, args.epochs, data, extra.get(kind, []), paths.get(kind)))
        gflops = _run("matmul", 0, data, [])["gflops"]

    summary = {kind: _summary(runs[kind], args.epochs) for kind in kinds}
    pairs = list(zip(WIDTHS[:-1], WIDTHS[1:]))
    madds = (args.n_train + 1000) * (3 * sum(i * o for i, o in pairs) - pairs[0][0] * pairs[0][1])
    bound = 2 * madds / (gflops * 1e9)

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, one thread; "
        f"{args.n_train} + 1000 images, batch 128, {args.epochs} + {args.epochs} epochs, median of {args.repeats}; "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(f"TensorFlow matmul throughput: {gflops:.1f} GFLOP/s -> FLOP bound {bound:.2f} s per epoch")
    print()
    print("| | " + " | ".join(kinds) + " | pipeline / FLOP bound |")
    print("| --- |" + " ---: |" * (len(kinds) + 1))
    for phase in ("train", "prune"):
        cells = [f"{summary[k]['per_epoch'][phase]:.2f}" for k in kinds]
        ratio = summary["pipeline"]["per_epoch"][phase] / bound
        print(f"| {phase} epoch (s) | " + " | ".join(cells) + f" | {ratio:.2f} |")
    for key, what in (("fixed", "wall"), ("fixed_cpu", "CPU")):
        print(f"| fixed cost per network, {what} (s) | " + " | ".join(f"{summary[k][key]:.1f}" for k in kinds) + " | |")
    for phase in ("train", "prune"):
        cells = [f"{summary[k]['first_step'][phase]:.2f}" for k in kinds]
        print(f"| of which the {phase} phase's first step (s) | " + " | ".join(cells) + " | |")
    for kind in kinds:
        if "reported" in summary[kind]:
            reported = summary[kind]["reported"]
            print(
                f"{kind}: its metrics report setup (importing TensorFlow, building the model) "
                f"{reported['setup']:.1f} s and evaluating and saving {reported['evaluate']:.1f} s"
            )
    print()
    ratios = [summary[k]["per_epoch"]["prune"] / summary[k]["per_epoch"]["train"] for k in kinds]
    print("pruning epoch / training epoch: " + ", ".join(f"{k} {r:.2f}" for k, r in zip(kinds, ratios)))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"summary": summary, "gflops": gflops, "flop_bound_s": bound, "runs": runs}, fh, indent=2)


if __name__ == "__main__":
    main()
