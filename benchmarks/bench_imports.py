"""Benchmark: what a job's imports cost, per process (issue 20 section 5, issue 22 section 2).

Most of the tiny run's CPU (the test suite's critical path) and a good part of a paper-scale training job's
fixed cost is paid once per process, before any work: importing TensorFlow in a training job, numba and
scipy.sparse in a clustering job, seaborn in a figure job. This imports what each kind of job imports, in a
fresh interpreter each time, ``--repeats`` times interleaved, and prints the median CPU seconds (user +
system of the child, ``os.times()``) and wall seconds.

``--alternative NAME=DIR`` adds the same imports with ``DIR`` first on ``PYTHONPATH`` (a folder made by ``pip
install --no-deps --target DIR <package>==<version>``), side by side in the same run, and prints the ratio
of each import's CPU seconds with it to without it. That is how the ``ml_dtypes`` pin of pyproject.toml was
chosen (TensorFlow imports ml_dtypes; benchmarks/README.md, "Imports").

    python benchmarks/bench_imports.py [--repeats 7] [--alternative ml_dtypes-0.7.0=/tmp/mldt_0.7.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

#: What each kind of job imports before its work (the workflow scripts' imports), as one statement.
IMPORTS = {
    "ml_dtypes": "import ml_dtypes",
    "training (tensorflow, tf_keras, tfmot)": "import clusterability.train.runtime as r; r.import_tf(threads=1)",
    "clustering (numba, scipy.sparse)": "import clusterability.core.build, clusterability.core.measure",
    "figure (seaborn)": "import seaborn",
    "table (pandas)": "import pandas",
}


def _run(statement: str, pythonpath: str | None, cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds of a fresh interpreter running ``statement``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    before, t0 = os.times(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", statement], cwd=cwd, env=env, capture_output=True, text=True)
    wall, after = time.perf_counter() - t0, os.times()
    if proc.returncode != 0:
        raise SystemExit(f"{statement!r} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--alternative", action="append", default=[], metavar="NAME=DIR")
    args = parser.parse_args()
    ways: dict[str, str | None] = {"installed": None}
    for item in args.alternative:
        name, _, folder = item.partition("=")
        ways[name] = folder
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {(i, w): [] for i in IMPORTS for w in ways}
    # An empty working folder: a module beside the current one would shadow the libraries' own imports.
    with tempfile.TemporaryDirectory() as cwd:
        for statement in IMPORTS.values():  # the files in the page cache
            _run(statement, None, cwd)
        for _ in range(args.repeats):
            for name, statement in IMPORTS.items():
                for way, folder in ways.items():
                    runs[name, way].append(_run(statement, folder, cwd))
    print(f"Imports in a fresh interpreter, median of {args.repeats} (CPU = user + system seconds)")
    for name in IMPORTS:
        base_cpu = statistics.median(cpu for _, cpu in runs[name, "installed"])
        for way in ways:
            wall = statistics.median(w for w, _ in runs[name, way])
            cpu = statistics.median(c for _, c in runs[name, way])
            ratio = "" if way == "installed" else f", {cpu / base_cpu:.2f}x the installed CPU"
            print(f"  {name:40s} {way:20s} {cpu:6.2f} s CPU {wall:6.2f} s wall{ratio}")


if __name__ == "__main__":
    main()
