"""Benchmark: `make install`'s two compile steps, one process against all cores (issue 20 section 5).

``make install`` ends with ``python -m clusterability.workflow.precompile``. It writes the bytecode of the
environment's packages and of the library (pip runs with ``--no-compile``), then compiles numba's functions
(``clusterability.workflow.precompile``). Both steps run on every core. This measures each step both ways,
interleaved (one way, the other, ``--repeats`` times), from scratch each time:

* *bytecode*: ``compileall`` of a copy of the environment's ``.py`` files (``--packages``: the environment's
  packages whose names start with one of these, default all), every ``__pycache__`` deleted before each
  run, with 1 worker against one per core;
* *numba*: ``precompile(workers=1)`` against ``precompile(workers=2)`` (k-means compiled in a second
  process) in a fresh interpreter, on a copy of the library whose numba cache (``*.nbi``, ``*.nbc``) is
  deleted before each run.

It prints the median wall and CPU seconds (user + system, ``os.times()`` of the children) of each and the
ratio. Everything happens in a temporary folder; the library and the environment are only read.

    python benchmarks/bench_install.py [--repeats 3] [--steps bytecode,numba] [--packages tensorflow,numpy]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from clusterability.workflow.precompile import PACKAGE, environment_packages, usable_cores  # noqa: E402

# (quiet=2 and no exit status: some modules of the environment do not compile, and pip leaves them too)
BYTECODE = "import compileall, sys; compileall.compile_dir(sys.argv[1], quiet=2, workers=int(sys.argv[2]))"
NUMBA = "import sys; from clusterability.workflow.precompile import precompile; precompile(workers=int(sys.argv[1]))"


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of ``cmd`` (its user + system, and its children's)."""
    before, t0 = os.times(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, after = time.perf_counter() - t0, os.times()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def _copy_sources(packages: list[str], into: Path) -> int:
    """Copy the ``.py`` files of the environment's packages (those named in ``packages``, or all) into ``into``."""
    n = 0
    for root in environment_packages():
        for source in root.rglob("*.py"):
            relative = source.relative_to(root)
            if packages and not relative.parts[0].startswith(tuple(packages)):
                continue
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            n += 1
    return n


def _delete(folder: Path, patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        for path in list(folder.rglob(pattern)):  # listed first: the walk must not descend into what is removed
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", default="bytecode,numba")
    parser.add_argument("--packages", default="", help="comma-separated package-name prefixes (default: all)")
    args = parser.parse_args()
    cores = usable_cores()
    runs: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_install_") as tmp:
        steps = args.steps.split(",")
        ways: list[tuple[str, list[str], dict[str, str] | None, Path, tuple[str, ...]]] = []
        if "bytecode" in steps:
            sources = Path(tmp) / "sources"
            n = _copy_sources([p for p in args.packages.split(",") if p], sources)
            print(f"bytecode: {n} modules of {', '.join(map(str, environment_packages()))}")
            for workers in (1, cores):
                cmd = [sys.executable, "-c", BYTECODE, str(sources), str(workers)]
                ways.append((f"bytecode, {workers} worker{'s' * (workers > 1)}", cmd, None, sources, ("__pycache__",)))
        if "numba" in steps:
            library = Path(tmp) / "lib"
            shutil.copytree(PACKAGE, library / PACKAGE.name)
            env = dict(os.environ, PYTHONPATH=str(library))
            for workers in (1, 2):
                cmd = [sys.executable, "-c", NUMBA, str(workers)]
                ways.append((f"numba, {workers} process{'es' * (workers > 1)}", cmd, env, library, ("*.nbi", "*.nbc")))
        for _ in range(args.repeats):
            for name, cmd, env, folder, patterns in ways:
                _delete(folder, patterns)
                runs.setdefault(name, []).append(_timed(cmd, env))
    print(f"{'':26s} {'wall s':>8s} {'CPU s':>8s}   (median of {args.repeats}, {cores} cores)")
    medians = {name: [statistics.median(x) for x in zip(*values)] for name, values in runs.items()}
    for name, (wall, cpu) in medians.items():
        print(f"{name:26s} {wall:8.1f} {cpu:8.1f}")
    for step in ("bytecode", "numba"):
        pair = [m for name, m in medians.items() if name.startswith(step)]
        if len(pair) == 2:
            print(f"{step}: all cores / one, wall {pair[1][0] / pair[0][0]:.2f}, CPU {pair[1][1] / pair[0][1]:.2f}")


if __name__ == "__main__":
    main()
