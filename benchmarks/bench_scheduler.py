"""Benchmark: Snakemake's own CPU with and without one pending scheduler wake-up at a time (issue 20 section 5).

``clusterability.workflow.scheduling.coalesce_reevaluations`` (applied by rules/common.smk) stops Snakemake 9
from adding a scheduler wake-up per second for every job that finishes while others wait for a core. This
runs the same workflow both ways, interleaved (``--repeats`` times each), each in a fresh folder, and prints
per way the median of: wall seconds, Snakemake's own CPU seconds (its process: user + system, without the
jobs), and the scheduler passes that selected jobs.

* ``--workflow sleep`` (default): a Snakefile of ``--jobs`` shell jobs that each sleep ``--seconds``, on
  ``--cores`` cores; the way with the change applies it before Snakemake starts;
* ``--workflow paper1``: the repository's tiny ``paper1`` on the tests' synthetic mirror (about 100 s a run
  on 2 cores); the way without the change marks Snakemake's method as done, so that rules/common.smk leaves it.

    python benchmarks/bench_scheduler.py [--workflow sleep] [--jobs 200] [--seconds 0.2] [--cores 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from synthetic_mirror import write_mirror  # noqa: E402
from workflow_helpers import tiny_config_args  # noqa: E402

SLEEP_SNAKEFILE = """
rule all:
    input: expand("out/{{i}}.txt", i=range({jobs}))

rule sleep:
    output: "out/{{i}}.txt"
    shell: "sleep {seconds}; touch {{output}}"
"""

# Runs Snakemake's command line in this process: argv[1] is "on" or "off", argv[2] where to write the figures.
RUNNER = """
import json, resource, sys
from snakemake.scheduling.job_scheduler import JobScheduler
from clusterability.workflow import scheduling

if sys.argv[1] == "on":
    assert scheduling.coalesce_reevaluations()
else:  # rules/common.smk then finds it done and leaves Snakemake's own method
    setattr(JobScheduler._schedule_reevalutation, scheduling._MARK, True)
passes = 0
select = JobScheduler.job_selector
def counted(self, jobs):
    global passes
    passes += 1
    return select(self, jobs)
JobScheduler.job_selector = counted
from snakemake.cli import main
try:
    main(sys.argv[3:])
except SystemExit as exc:
    code = exc.code
usage = resource.getrusage(resource.RUSAGE_SELF)
with open(sys.argv[2], "w") as out:
    json.dump({"code": code, "cpu": usage.ru_utime + usage.ru_stime, "passes": passes}, out)
"""


def _run(way: str, args: list[str], folder: Path) -> dict[str, float]:
    """One Snakemake run with the change ``on`` or ``off``: wall seconds (with the exit), its CPU, passes."""
    figures = folder / f"figures_{way}.json"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUNNER, way, str(figures), *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    result = json.loads(figures.read_text()) if figures.is_file() else {"code": proc.returncode}
    if result["code"] not in (0, None):
        raise SystemExit(f"snakemake failed ({result['code']}):\n{proc.stderr[-3000:]}")
    return {"wall": wall, "cpu": result["cpu"], "passes": result["passes"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflow", choices=("sleep", "paper1"), default="sleep")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=0.2)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="bench_scheduler_") as tmp:
        root = Path(tmp)
        if args.workflow == "sleep":
            (root / "Snakefile").write_text(SLEEP_SNAKEFILE.format(jobs=args.jobs, seconds=args.seconds))
            base = ["--snakefile", str(root / "Snakefile"), "--cores", str(args.cores), "--quiet", "all"]
            what = f"{args.jobs} jobs of `sleep {args.seconds}` on {args.cores} cores"
        else:
            write_mirror(root / "mirror")
            config = tiny_config_args(root / "mirror")
            base = ["--snakefile", str(REPO / "Snakefile"), "--cores", str(args.cores), *config, "--", "paper1"]
            what = f"the tiny paper1 on {args.cores} cores"
        for i in range(args.repeats):
            for way in ("off", "on"):
                folder = root / f"{way}{i}"
                folder.mkdir()
                runs[way].append(_run(way, ["--directory", str(folder), *base], folder))
                print(f"  {way} {i + 1}: {runs[way][-1]}", flush=True)
    print(f"{what}, medians of {args.repeats}:")
    print("| Snakemake | wall s | its own CPU s | passes that selected jobs |\n|---|---:|---:|---:|")
    medians = {way: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for way, rs in runs.items()}
    for way, label in (("off", "as released"), ("on", "one pending wake-up")):
        m = medians[way]
        print(f"| {label} | {m['wall']:.1f} | {m['cpu']:.2f} | {m['passes']:.0f} |")
    print(f"ratio of Snakemake's own CPU: {medians['on']['cpu'] / medians['off']['cpu']:.2f}")


if __name__ == "__main__":
    main()
