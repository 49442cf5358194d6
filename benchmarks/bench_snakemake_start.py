"""Benchmark: what a Snakemake invocation of this workflow costs before its first job (issue 20 section 5).

Every ``snakemake`` command, every test that runs one and every SLURM job (which runs Snakemake again) reads
the workflow: the config and the experiment catalogue, and each rule's ``code`` parameter, the hash of its
script's and library modules' logic (``clusterability.workflow.provenance.code_hash``). The hashes are cached
by content in ``lib/clusterability/__pycache__/code-hashes.json``. This runs the same dry run of a small target
``--repeats`` times each way, interleaved (cold, warm, cold, ...): *cold* with the cache file removed first
(every script's hash computed: what the first invocation after a change of the library pays), *warm* with it
in place, and prints the median wall and CPU seconds (user + system of the Snakemake process, ``os.times()``
of the children) and their ratio. It puts the cache file back as it found it.

    python benchmarks/bench_snakemake_start.py [--repeats 5] [--target results/data/mnist.npz]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from clusterability.workflow.provenance import CACHE_FILE, PACKAGE_DIR  # noqa: E402

SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def _dry_run(workdir: Path, target: str) -> tuple[float, float]:
    """Wall and CPU seconds of ``snakemake --dry-run -- target`` in ``workdir``."""
    before, t0 = os.times(), time.perf_counter()
    proc = subprocess.run(
        [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--dry-run"]
        + ["--quiet", "rules", "--", target],
        capture_output=True,
        text=True,
    )
    wall, after = time.perf_counter() - t0, os.times()
    if proc.returncode != 0:
        raise SystemExit(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--target", default="results/data/mnist.npz", help="a target with few jobs")
    args = parser.parse_args()
    cache = PACKAGE_DIR / CACHE_FILE
    kept = cache.read_bytes() if cache.is_file() else None
    runs: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": []}
    try:
        with tempfile.TemporaryDirectory() as workdir:
            _dry_run(Path(workdir), args.target)  # the interpreter's and the libraries' files in the page cache
            for _ in range(args.repeats):
                for way in ("cold", "warm"):
                    if way == "cold":
                        cache.unlink(missing_ok=True)
                    runs[way].append(_dry_run(Path(workdir), args.target))
    finally:
        if kept is not None:
            cache.write_bytes(kept)
    print(f"snakemake --dry-run -- {args.target}, median of {args.repeats} (cold: code hashes computed; warm: cached)")
    median = {way: [statistics.median(r[i] for r in rs) for i in (0, 1)] for way, rs in runs.items()}
    for way, (wall, cpu) in median.items():
        print(f"  {way}: {wall:.2f} s wall, {cpu:.2f} s CPU")
    (cold_wall, cold_cpu), (warm_wall, warm_cpu) = median["cold"], median["warm"]
    print(f"  warm / cold: {warm_wall / cold_wall:.2f} wall, {warm_cpu / cold_cpu:.2f} CPU")


if __name__ == "__main__":
    main()
