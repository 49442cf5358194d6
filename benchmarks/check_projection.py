"""Check the projected cost of training (clusterability.workflow.costs) against measured networks, and project
the papers' parts from a run's unit costs.

    python benchmarks/check_projection.py UNITS_RUN [--against RUN] [--parts p1 p2_mlp] [--cores 2 16]
        [--first-steps 0.52 0.76] [--lesion-threads 1] [--bench BENCH_JSON]
    python benchmarks/check_projection.py --targets [--parts p1 p2_mlp]

``--targets`` prints the Snakemake targets of a small run that measures every unit cost the parts
need (at the papers' settings, ``--configfile config/scales/fidelity.yaml``): one network per
architecture (the lesioned family's for its own, else the first in the catalogue), that network's
clusterings of each graph at every stage, k and shuffle method the parts use (with the most shuffles
any table takes), the single lesions, and every dataset the parts train on (their sizes).

``UNITS_RUN`` is a results folder (its ``results/networks``, ``results/benchmarks`` and
``results/data``): its jobs give the unit costs, pooled per architecture and graph
(:func:`clusterability.workflow.costs.measure_unit_costs` with the experiments of ``config.yaml``
at the papers' settings). Printed as Markdown:

1. the unit costs of training per architecture: fixed seconds, milliseconds per step of each
   phase (after its first step, which ``--first-steps`` gives: training, pruning);
2. with ``--against RUN``: every trained network of ``RUN`` (say a paper-settings run), its measured
   ``wall_seconds.total`` beside the projection of the same network (its architecture's unit costs
   from ``UNITS_RUN``, its own images and epochs); a network whose architecture ``UNITS_RUN`` did not
   train is listed without a projection;
3. per part (``--parts``; default P1 and P2's MLP part): the projected core-hours (training,
   clustering with shuffles, lesions) and the wall hours on each of ``--cores`` (each network's
   training, clusterings, shuffles and lesions one after another on one core, the networks spread
   over the cores longest first, :func:`~clusterability.workflow.costs.makespan`).

On a loaded machine a job's wall seconds hold its waits for a core. ``--bench`` (the ``--json`` of
``benchmarks/bench_training.py``, run in the same hours) projects the parts a second time with the
training costs in CPU seconds: every architecture's seconds per training step, per pruning step and
fixed are multiplied by the benchmark's CPU seconds over ``UNITS_RUN``'s wall seconds of the same
thing (a step of each phase of the plain 784-256x4-10 MLP; the fixed part by the benchmark's own
CPU over wall). Clustering, shuffles and lesions stay in wall seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def unit_table(units) -> list[str]:
    lines = [
        "| architecture | networks | fixed s | ms per step | ms per pruning step |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, c in sorted(units.architectures.items()):
        ms = [f"{v * 1000:.2f}" if v is not None else "" for v in (c.per_step, c.per_prune_step)]
        lines.append(f"| {name} | {c.networks} | {c.fixed:.1f} | {ms[0]} | {ms[1]} |")
    return lines


def against_table(units, experiments, run: Path, factors: dict[str, float] | None = None) -> list[str]:
    """Every trained network of ``run``: measured seconds beside the projection (and in CPU seconds, with
    ``factors``)."""
    from clusterability.workflow.costs import architecture

    cpu = " projected, CPU s | CPU / measured |" if factors else ""
    lines = [
        f"| network | epochs | steps an epoch | measured s | projected s | projected / measured |{cpu}",
        "| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if factors else ""),
    ]
    sums = [0.0, 0.0, 0.0]
    for path in sorted(run.glob("results/networks/*/run*/metrics.json")):
        metrics = json.loads(path.read_text())
        family = experiments.families.get(path.parent.parent.name)
        if "wall_seconds" not in metrics or family is None:
            continue  # imported (no training), or a family this checkout does not declare
        epochs, total = metrics["epochs_run"], metrics["wall_seconds"]["total"]
        steps = math.ceil(int(metrics["n_train"]) / int(metrics["config"].get("batch_size", 128)))
        line = f"| {family.name}/{path.parent.name} | {epochs['train']} + {epochs['prune']} | {steps} | {total:.0f} |"
        unit = units.architectures.get(architecture(family, experiments))
        if unit is None:
            lines.append(line + " | |" + (" | |" if factors else ""))
            continue
        cost = unit.for_steps(steps)
        projected = [cost.seconds_for(epochs["train"], epochs["prune"])]
        if factors:
            projected.append(scaled(cost, factors).seconds_for(epochs["train"], epochs["prune"]))
        sums = [sums[0] + total, *(a + b for a, b in zip(sums[1:], projected))]
        lines.append(line + "".join(f" {p:.0f} | {p / total:.2f} |" for p in projected))
    if sums[0]:
        lines.append(
            f"| **all projected** | | | {sums[0]:.0f} |"
            + "".join(f" {p:.0f} | {p / sums[0]:.2f} |" for p in sums[1 : 3 if factors else 2])
        )
    return lines


def targets(experiments, parts: list[str]) -> list[str]:
    """Snakemake targets that measure every unit cost of ``parts`` (see the module docstring)."""
    from clusterability.workflow.costs import architecture, clustered_graph

    tables = [n for part in parts for n in experiments.paper_targets(part) if n in experiments.tables]
    lesioned = experiments.lesion_scopes(tables)
    first: dict[str, str] = {}  # architecture or graph -> the family measured
    for family, *_ in lesioned:
        first.setdefault(architecture(experiments.families[family], experiments), family)
    work = [w for t in tables for w in experiments.table_work(t)]
    for w in work:
        family = experiments.families[w.family.network]
        name = first.setdefault(architecture(family, experiments), family.name)
        first.setdefault(clustered_graph(family, experiments), name)
    out, shuffles = set(), {}
    for w in work:
        family = first[clustered_graph(experiments.families[w.family.network], experiments)]
        for stage, methods in w.stages.items():
            out.add(f"results/clustering/{family}/run0/{stage}/k{w.k}/network.json")
            for method in methods:
                where = f"results/clustering/{family}/run0/{stage}/k{w.k}/{method}"
                shuffles[where] = max(shuffles.get(where, 0), w.shuffles)
    out |= {f"{where}/shuffles{n}.json" for where, n in shuffles.items()}
    out |= {f"results/lesions/{f}/run{run}/{stage}/k{k}/single.csv" for f, run, stage, k in lesioned}
    out |= {f"results/data/{experiments.families[w.family.network].dataset}.npz" for w in work}
    return sorted(out)


#: The architecture bench_training.py trains (its WIDTHS, no dropout, batch 128).
BENCH_ARCHITECTURE = "mlp neurons 784+256+256+256+256+10, batch 128"


def cpu_factors(units, bench: dict, n_train: int) -> dict[str, float]:
    """CPU over wall seconds: a training step, a pruning step (the benchmark's CPU seconds over the run's wall
    seconds), the fixed part (the benchmark's CPU over its wall). ``n_train``: the benchmark's ``--n-train``."""
    summary = bench["summary"]["pipeline"]
    steps = math.ceil((n_train + 1000) / 128)  # it trains on its training and validation images
    plain = units.architectures[BENCH_ARCHITECTURE]
    return {
        "train": summary["per_epoch_cpu"]["train"] / steps / plain.per_step,
        "prune": summary["per_epoch_cpu"]["prune"] / steps / plain.per_prune_step,
        "fixed": summary["fixed_cpu"] / summary["fixed"],
    }


def scaled(cost, factors: dict[str, float]):
    """A training cost with its parts multiplied by ``factors`` (:func:`cpu_factors`)."""
    return dataclasses.replace(
        cost,
        fixed=cost.fixed * factors["fixed"],
        first_train=cost.first_train * factors["fixed"],
        first_prune=cost.first_prune * factors["fixed"],
        per_epoch=cost.per_epoch * factors["train"],
        per_prune_epoch=cost.per_prune_epoch * factors["prune"],
    )


def cpu_units(units, factors: dict[str, float]):
    """``units`` with every family's training cost multiplied by ``factors``."""
    return dataclasses.replace(units, training={name: scaled(c, factors) for name, c in units.training.items()})


def part_lines(units, experiments, config, part: str, cores: list[int]) -> list[str]:
    from clusterability.workflow.costs import makespan, project_costs, project_networks, project_total

    tables = [n for n in experiments.paper_targets(part) if n in experiments.tables]
    random_sets = (config["lesions"]["random_sets"], config["lesions"]["pair_random_sets"])
    total = project_total(experiments, units, tables, name=f"**{part}**", random_sets=random_sets)
    lines = [
        "| table | networks | epochs | clusterings | shuffles | lesions | training core-h | clustering core-h "
        "| lesion core-h | total core-h |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in [*project_costs(experiments, units, tables, random_sets), total]:
        lines.append(
            f"| {c.name} | {c.networks} | {c.trained_epochs:,} | {c.clusterings} | {c.shuffles:,} | {c.lesions:,} "
            f"| {c.training_hours:.1f} | {c.clustering_hours:.1f} | {c.lesion_hours:.2f} | {c.hours:.1f} |"
        )
    per_network = project_networks(experiments, units, tables, random_sets)
    (longest, seconds), *_ = sorted(per_network.items(), key=lambda item: -item[1])
    walls = ", ".join(f"{n} cores {makespan(per_network.values(), n) / 3600:.1f} h" for n in cores)
    lines += [
        "",
        f"{part}: {total.hours:.1f} core-hours ({total.training_hours:.1f} training, {total.clustering_hours:.1f} "
        f"clustering and shuffles, {total.lesion_hours:.2f} lesions); wall: {walls}; the longest network's jobs "
        f"({longest[0]} run {longest[1]}) {seconds / 3600:.2f} h.",
    ]
    return lines


def added_lines(units, experiments, config, parts: list[str]) -> list[str]:
    """What each part adds to the parts before it (shared networks, clusterings and shuffles counted once)."""
    from clusterability.workflow.costs import project_total

    random_sets = (config["lesions"]["random_sets"], config["lesions"]["pair_random_sets"])
    lines: list[str] = []
    before: list[str] = []
    for i, part in enumerate(parts):
        tables = [n for n in experiments.paper_targets(part) if n in experiments.tables]
        if before:
            hours = [
                project_total(experiments, units, t, random_sets=random_sets).hours for t in (before, before + tables)
            ]
            lines.append(f"{part} after {', '.join(parts[:i])}: {hours[1] - hours[0]:.1f} core-hours more.")
        before += tables
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("units_run", type=Path, nargs="?", help="results folder whose jobs give the unit costs")
    parser.add_argument("--targets", action="store_true", help="print the targets of a run that measures them")
    parser.add_argument("--against", type=Path, help="results folder whose trained networks to compare with")
    parser.add_argument("--parts", nargs="*", default=["p1", "p2_mlp"], help="parts of the papers to project")
    parser.add_argument("--cores", nargs="*", type=int, default=[2, 16], help="cores to give wall hours for")
    parser.add_argument("--first-steps", nargs=2, type=float, metavar=("TRAIN", "PRUNE"), help="first steps' s")
    parser.add_argument("--lesion-threads", type=int, help="threads of UNITS_RUN's lesion jobs (default: config)")
    parser.add_argument("--bench", type=Path, help="bench_training.py --json output: project in CPU seconds too")
    parser.add_argument("--bench-n-train", type=int, default=55000, help="the --n-train that benchmark ran with")
    args = parser.parse_args()

    from clusterability.workflow.config import load_workflow_config
    from clusterability.workflow.costs import FIRST_STEPS, FirstSteps, measure_unit_costs

    config, experiments = load_workflow_config(REPO)
    if args.targets:
        print(" ".join(targets(experiments, args.parts)))
        return
    if args.units_run is None:
        parser.error("give UNITS_RUN (or --targets)")
    first = FirstSteps(*args.first_steps) if args.first_steps else FIRST_STEPS
    threads = args.lesion_threads or config["resources"]["lesion"]["threads"]
    units = measure_unit_costs(args.units_run, threads, experiments=experiments, first_steps=first)
    print(
        f"Unit costs from {args.units_run} (first steps {first.train} s training, {first.prune} s pruning; "
        f"lesion jobs on {threads} threads); load average now {os.getloadavg()[0]:.1f}.\n"
    )
    out = unit_table(units)
    factors = cpu_factors(units, json.loads(args.bench.read_text()), args.bench_n_train) if args.bench else None
    if factors:
        out += [
            "",
            f"In CPU seconds ({args.bench}): training steps x {factors['train']:.2f}, pruning steps x "
            f"{factors['prune']:.2f}, fixed parts x {factors['fixed']:.2f}.",
        ]
    if args.against:
        out += ["", f"Against {args.against}:", "", *against_table(units, experiments, args.against, factors)]
    for part in args.parts:
        out += ["", *part_lines(units, experiments, config, part, args.cores)]
    out += ["", *added_lines(units, experiments, config, args.parts)]
    if factors:
        out += ["", "In CPU seconds:"]
        for part in args.parts:
            out += ["", *part_lines(cpu_units(units, factors), experiments, config, part, args.cores)]
        out += ["", *added_lines(cpu_units(units, factors), experiments, config, args.parts)]
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
