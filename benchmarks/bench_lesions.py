"""Benchmark: seconds per lesion of P1's lesion experiments, batched numpy against one lesion at a time.

On a P1-sized MLP (784-256x4-10, 90 % of the weights zero, 10,000 test
images; or a trained network and its clustering, ``--weights/--clustering/--data``)
with ten sub-modules per hidden layer, it times side by side in one process:

``batched``
    :class:`clusterability.lesions.MLPLesioner`: the intact activations are
    computed once, lesions go through the network in batches (mask tensors),
    and lesions that agree on their first layers share them.
``one_by_one``
    The same numpy forward pass for each lesion alone: copy the kernels, zero
    the columns into the lesioned neurons, run the whole network.
``keras`` (``--keras``)
    What the original code did for each lesion: set the lesioned weights on a
    Keras model and ``evaluate`` it on the test set (one thread).

Workloads: P1's single lesions (every sub-module and ``--random-sets`` random
sets of its size) and double lesions (``--pairs`` pairs of sub-modules in
different layers, each with 2 x ``--pair-random-sets`` random stand-ins). It
prints milliseconds per lesion and the projected time of the paper's workload:
all single lesions and every pair of sub-modules (P1 figure A.6).

    python benchmarks/bench_lesions.py [--threads 2] [--keras] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

WIDTHS = (784, 256, 256, 256, 256, 10)


def _synthetic(n_test: int, k: int, seed: int = 0):
    """A random MLP with 90 % of its kernel entries zero, images, and k clusters per hidden layer."""
    import numpy as np

    from clusterability.core.network import NetworkWeights
    from clusterability.lesions import submodules

    rng = np.random.default_rng(seed)
    kernels, biases = [], []
    for fan_in, fan_out in zip(WIDTHS[:-1], WIDTHS[1:], strict=True):
        kernel = rng.normal(0, np.sqrt(2 / fan_in) * 3, (fan_in, fan_out)).astype(np.float32)
        kernel[rng.random(kernel.shape) < 0.9] = 0
        kernels.append(kernel)
        biases.append(rng.normal(0, 0.05, fan_out).astype(np.float32))
    x = rng.integers(0, 256, (n_test, 28, 28)).astype(np.uint8)
    y = rng.integers(0, 10, n_test)
    labels = np.concatenate([np.full(WIDTHS[0], -1), *(rng.integers(0, k, w) for w in WIDTHS[1:-1]), np.full(10, -1)])
    weights = NetworkWeights(tuple(kernels), tuple(biases))
    return weights, x, y, submodules(labels, WIDTHS)


def _one_by_one(weights, x, y, lesions) -> list[float]:
    import numpy as np

    h0 = x.reshape(len(x), -1).astype(np.float32) / np.float32(255)
    out = []
    for lesion in lesions:
        h = h0
        for i, (kernel, bias) in enumerate(zip(weights.kernels, weights.biases, strict=True)):
            kernel = kernel.copy()
            kernel[:, list(lesion.get(i + 1, []))] = 0
            h = h @ kernel + bias
            if i < len(weights.kernels) - 1:
                h = np.maximum(h, 0)
        out.append(float(np.mean(np.argmax(h, axis=1) == y)))
    return out


def _keras(weights, x, y, lesions, threads: int) -> list[float]:
    import numpy as np

    from clusterability.train.runtime import import_tf

    _, keras, _ = import_tf(threads=threads)
    model = keras.Sequential(
        [keras.layers.Flatten(input_shape=(28, 28))]
        + [keras.layers.Dense(w, activation="relu") for w in WIDTHS[1:-1]]
        + [keras.layers.Dense(WIDTHS[-1], activation="softmax")]
    )
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    xs = x.astype(np.float32) / 255
    out = []
    for lesion in lesions:
        values = []
        for i, (kernel, bias) in enumerate(zip(weights.kernels, weights.biases, strict=True)):
            kernel = kernel.copy()
            kernel[:, list(lesion.get(i + 1, []))] = 0
            values += [kernel, bias]
        model.set_weights(values)
        out.append(float(model.evaluate(xs, y, batch_size=1024, verbose=0, return_dict=True)["accuracy"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (default 2)")
    parser.add_argument("--weights", help="a trained network's weights .npz (default: a random P1-sized MLP)")
    parser.add_argument("--clustering", help="its clustering network.json (k = 10 in P1)")
    parser.add_argument("--data", help="its prepared dataset .npz (test split)")
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--random-sets", type=int, default=100)
    parser.add_argument("--pair-random-sets", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=12, help="pairs timed for the double lesions")
    parser.add_argument("--reference-lesions", type=int, default=40, help="lesions timed one by one")
    parser.add_argument("--keras", action="store_true", help="also time Keras evaluate per lesion (TensorFlow)")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()

    from clusterability.threads import set_thread_env

    set_thread_env(args.threads)
    import numpy as np

    from clusterability.lesions import MLPLesioner, all_pairs, double_lesions, load_lesion_inputs, single_lesions
    from clusterability.threads import limit_threads

    with limit_threads(args.threads):
        if args.weights:
            lesioner, modules = load_lesion_inputs(args.weights, args.clustering, args.data)
            from clusterability.data.prepare import load_prepared
            from clusterability.io.npz import load_weights

            weights, data = load_weights(args.weights), load_prepared(args.data)
            x, y = data["x_test"], data["y_test"]
        else:
            weights, x, y, modules = _synthetic(args.n_test, k=10)
            lesioner = MLPLesioner(weights, x, y)
        pairs = [p for p in all_pairs(modules) if p[0].layer != p[1].layer]
        pairs = [pairs[i] for i in np.linspace(0, len(pairs) - 1, min(args.pairs, len(pairs))).astype(int)]
        n_all_pairs = len(all_pairs(modules))

        t = time.perf_counter()
        singles = single_lesions(lesioner, modules, args.random_sets, seed=0)
        single_s = time.perf_counter() - t
        n_single = len(modules) * (1 + args.random_sets)
        damages = {s.submodule.name: s.damage for s in singles}
        t = time.perf_counter()
        double_lesions(lesioner, pairs, damages, args.pair_random_sets, seed=0)
        double_s = time.perf_counter() - t
        n_double = len(pairs) * (1 + 2 * args.pair_random_sets)

        rng = np.random.default_rng(1)
        sample = []
        for _ in range(args.reference_lesions):
            m = modules[rng.integers(len(modules))]
            sample.append({m.layer: m.neurons})
        t = time.perf_counter()
        reference = _one_by_one(weights, x, y, sample)
        one_s = (time.perf_counter() - t) / len(sample)
        assert np.allclose(reference, lesioner.accuracies(sample)), "batched and one-by-one accuracies differ"
        keras_s = None
        if args.keras:
            _keras(weights, x, y, sample[:2], args.threads)  # warm-up: import, tracing
            t = time.perf_counter()
            _keras(weights, x, y, sample, args.threads)
            keras_s = (time.perf_counter() - t) / len(sample)

    per_single, per_double = single_s / n_single, double_s / n_double
    figures = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "threads": args.threads,
        "network": args.weights or "random P1-sized MLP, 90 % zeros",
        "n_test": len(y),
        "submodules": len(modules),
        "ms_per_lesion": {
            "batched_single": 1000 * per_single,
            "batched_double": 1000 * per_double,
            "one_by_one": 1000 * one_s,
            **({"keras": 1000 * keras_s} if keras_s else {}),
        },
        "single_lesions_s": single_s,
        "all_pairs": n_all_pairs,
        "projected_all_pairs_s": per_double * n_all_pairs * (1 + 2 * args.pair_random_sets),
    }
    print(f"{len(modules)} sub-modules, {len(y)} test images, {args.threads} threads")
    print(f"single lesions:  {n_single} lesions in {single_s:.1f} s = {1000 * per_single:.2f} ms per lesion")
    print(f"double lesions:  {n_double} lesions in {double_s:.1f} s = {1000 * per_double:.2f} ms per lesion")
    print(f"one by one:      {1000 * one_s:.2f} ms per lesion ({one_s / per_single:.1f}x the batched single lesions)")
    if keras_s:
        print(f"keras evaluate:  {1000 * keras_s:.2f} ms per lesion ({keras_s / per_single:.1f}x)")
    print(
        f"projected: every pair ({n_all_pairs} pairs x {1 + 2 * args.pair_random_sets} lesions) "
        f"{figures['projected_all_pairs_s'] / 60:.1f} min"
    )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=1)


if __name__ == "__main__":
    sys.exit(main())
