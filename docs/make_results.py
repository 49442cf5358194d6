"""Run the P1 tables (or P2's MLP or section 4 part) at a scale on this machine and write them, with where
they came from, into the docs' results pages.

    python docs/make_results.py --scale quick --cores 2 [--mirror ../shared/datasets]
    python docs/make_results.py --scale quick --cores 2 --target paper2_mlp [--mirror ...]
    python docs/make_results.py --scale paper --cores 2 --target paper2_promote --files results/p2/table1.csv ...
    (make readme-results RESULTS_SCALE=quick MIRROR=../shared/datasets [RESULTS_TARGET=paper2_mlp])

Each part has a page whose generated part lies between two markers; the prose around them is
written by hand and left as it is. The README holds no numbers: it links the pages.

- ``paper1`` (default): runs ``snakemake paper1`` in a work folder (``.results-run/<scale>/``, not in
  git) and records how in its ``run.json`` (command, commit, machine, wall time), then fills the block
  between ``<!-- results:begin -->`` and ``<!-- results:end -->`` of ``docs/results.md``: the projected
  core-hours at the papers' settings in a sentence, every P1 table built (Table 1 beside the paper's
  values, P1 Table 1), and the projected core-hours per table.
- ``--target paper2_mlp``: a work folder of its own (``.results-run/<scale>-paper2_mlp/``, so its wall
  time is that of a fresh run); the block between ``<!-- results-p2-mlp:begin -->`` and
  ``<!-- results-p2-mlp:end -->`` of ``docs/results_p2_mlp.md``: the projected core-hours, every P2 MLP
  table built and the projection per table.
- ``--target paper2_promote`` (P2 section 4): the same with ``.results-run/<scale>-paper2_promote/`` and
  the block between ``<!-- results-p2-promote:begin -->`` and ``<!-- results-p2-promote:end -->`` of
  ``docs/results_p2_promote.md``: P2 Table 1, Table A.13 and the regularizer sweep beside the paper's
  numbers, every table built and each family's training minutes. ``--files`` builds some files of the
  part only (say, its MLP tables at the paper's settings, where its CNNs and VGGs are GPU work).

Every block starts with the commit, the scale, the machine, its TensorFlow numerics fingerprint, the
date and the wall time of the run; no number in it is typed by hand. ``--render-only`` writes the blocks
again from the last run's ``run.json`` and results, without running anything.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
#: docs/results.md's second block: P1 tables run at ``--scale paper`` (those of Table 1's networks, say).
PAPER_BEGIN, PAPER_END = "<!-- results-paper:begin -->", "<!-- results-paper:end -->"
P2_MLP = "paper2_mlp"
P2_BEGIN, P2_END = "<!-- results-p2-mlp:begin -->", "<!-- results-p2-mlp:end -->"
P2_PROMOTE = "paper2_promote"
PROMOTE_BEGIN, PROMOTE_END = "<!-- results-p2-promote:begin -->", "<!-- results-p2-promote:end -->"
# P2 Table 1 and Table A.13 as printed (Filan, Casper, Hod et al. 2021): n-cut, dist. n-cuts mean and sd,
# networks below all 50 shuffles, train and test accuracy.
PAPER_P2_TABLE1 = {
    ("plain", False): (10.020, 10.035, 0.030, "2/10", 0.955, 0.957),
    ("plain", True): (7.11, 7.43, 0.12, "4/10", 0.930, 0.934),
    ("regularized", False): (8.93, 8.14, 0.23, "1/10", 0.961, 0.959),
    ("regularized", True): (5.51, 6.31, 0.20, "7/10", 0.888, 0.896),
}
PAPER_P2_A13 = {
    ("mnist", False): (8.718, 10.065, 0.031, "5/5", 0.996, 0.979),
    ("mnist", True): (5.750, 9.200, 0.038, "5/5", 1.000, 0.983),
    ("fashion_mnist", False): (8.746, 10.022, 0.038, "5/5", 0.938, 0.892),
    ("fashion_mnist", True): (6.265, 9.065, 0.035, "5/5", 0.980, 0.893),
}
# P1 Table 1 as printed in the paper (Filan, Hod et al. 2020): n-cut mean, sd; shuffles' mean; test accuracy.
PAPER_TABLE1 = {
    ("mnist", False): (2.000, 0.035, 2.042, 0.984),
    ("mnist", True): (1.840, 0.015, 2.039, 0.979),
    ("fashion_mnist", False): (1.880, 0.030, 1.992, 0.893),
    ("fashion_mnist", True): (1.726, 0.022, 2.013, 0.869),
    ("cifar10", False): (2.06, 0.14, 2.001, 0.415),
    ("cifar10", True): (1.840, 0.089, 1.997, 0.422),
}
NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion", "cifar10": "CIFAR-10"}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def _row(table: pd.DataFrame, r: pd.Series) -> str:
    ncut = f"{r.ncut_mean:.3f} ± {r.ncut_std:.3f}" if pd.notna(r.ncut_std) else f"{r.ncut_mean:.3f}"
    return (
        f"| {NAMES.get(r.dataset, r.dataset)} | {'yes' if r.dropout else 'no'} | {r.n_networks} | {r.prop_sig:.2g} "
        f"| {r.train_acc:.3f} | {r.test_acc:.3f} | {ncut} | {r.dist_ncut_mean:.3f} ± {r.dist_ncut_std:.3f} |"
    )


def markdown_table(table: pd.DataFrame, with_paper: bool) -> str:
    head = "| dataset | dropout | networks | prop. sig. | train acc. | test acc. | n-cuts | dist. n-cuts |"
    lines = [head, "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |"]
    if with_paper:
        lines[0] += " paper: n-cuts, dist. mean, test acc. |"
        lines[1] += " --- |"
    for _, r in table.iterrows():
        line = _row(table, r)
        if with_paper:
            p = PAPER_TABLE1.get((r.dataset, bool(r.dropout)))
            line += f" {p[0]} ± {p[1]}, {p[2]}, {p[3]} |" if p else " |"
        lines.append(line)
    return "\n".join(lines)


def provenance(record: dict[str, object], workdir: Path) -> str:
    """Where the numbers come from: command, commit, scale, machine, fingerprint, date, wall time."""
    metrics = next(workdir.glob("results/networks/*/run0/metrics.json"), None)
    fingerprint = json.loads(metrics.read_text())["numerics_fingerprint"] if metrics else "unknown"
    files = list(record.get("files") or [])
    settings = " ".join(f"'{s}'" for s in record.get("set") or [])
    built = " ".join(files or [str(record["target"])])
    return (
        f"Generated by `python docs/make_results.py "
        f"--scale {record['scale']} --cores {record['cores']} --target {record['target']}"
        f"{' --files ' + ' '.join(files) if files else ''}{' --set ' + settings if settings else ''}` at commit "
        f"`{record['commit']}`, scale **{record['scale']}**, on {record['machine']} (TensorFlow numerics "
        f"fingerprint `{fingerprint}`), {record['date']}; `snakemake {built}` took "
        f"{float(record['seconds']) / 60:.1f} min with `--cores {record['cores']}`"
        + (
            " (it resumed an interrupted run in the same folder: the time is the resumed part's; the per-job "
            "times below are every job's)."
            if record.get("resumed")
            else "."
        )
        + "\n\n"
        + code_check(str(record["commit"]))
    )


#: The pages with a generated block, and their markers.
PAGES = {
    "p1": ("results.md", BEGIN, END),
    "p1_paper": ("results.md", PAPER_BEGIN, PAPER_END),
    "p2_mlp": ("results_p2_mlp.md", P2_BEGIN, P2_END),
    "p2_promote": ("results_p2_promote.md", PROMOTE_BEGIN, PROMOTE_END),
}
_COMMIT = re.compile(r"at commit `([0-9a-f]{7,40})`")
_CHECK = re.compile(r"^Code check: .*$", re.M)


def _machine_description() -> str:
    from clusterability.workflow.record import machine_description

    return machine_description()


def code_check(commit: str) -> str:
    """Which jobs that make numbers have changed in logic since ``commit`` (clusterability.workflow.record)."""
    from clusterability.workflow.record import code_hashes, code_hashes_at, stale_note

    return stale_note(code_hashes_at(REPO, commit), code_hashes(REPO), commit)


def update_code_checks() -> None:
    """Write each page's code check again (after the code changed), leaving the rest of its block as it is."""
    for page, begin, end in PAGES.values():
        path = DOCS / page
        text = path.read_text()
        head, block = text.split(begin, 1)
        block, tail = block.split(end, 1)
        commit = _COMMIT.search(block).group(1)
        check = code_check(commit)
        if _CHECK.search(block):
            block = _CHECK.sub(lambda _, check=check: check, block, count=1)
        else:
            first, _, rest = block.lstrip("\n").partition("\n")
            block = f"\n{first}\n\n{check}\n{rest}"
        path.write_text(f"{head}{begin}{block}{end}{tail}")
        print(f"docs/{page}: {check}")


def replace_block(text: str, block: str, begin: str = BEGIN, end: str = END, name: str = "docs/results.md") -> str:
    """``text`` with what lies between ``begin`` and ``end`` replaced by ``block``; ``name`` names it in errors."""
    if begin not in text or end not in text:
        raise SystemExit(f"{name} has no {begin} ... {end} block to fill: put the two markers back where it goes")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}\n{end}{tail}"


def fill_page(page: str, block: str, begin: str, end: str) -> None:
    """Write ``block`` between the markers of ``docs/<page>``; the hand-written prose around them stays."""
    path = DOCS / page
    path.write_text(replace_block(path.read_text(), block, begin, end, name=f"docs/{page}"))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.3g}" if abs(value) < 1e-3 and value else f"{value:.3f}"
    return str(value)


def csv_markdown(table: pd.DataFrame) -> str:
    """A CSV table as a Markdown table, floats to 3 decimals."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def paper_tables(workdir: Path, paper: str = "p1") -> dict[str, str]:
    """name -> title of every table of ``paper`` in the catalogue that the run built, in the catalogue's order."""
    from clusterability.workflow.config import load_workflow_config

    config, _ = load_workflow_config(REPO)
    return {
        name: entry.get("title", name)
        for name, entry in config["tables"].items()
        if entry.get("paper") == paper and (workdir / "results" / f"{name}.csv").is_file()
    }


def p2_mlp_costs(workdir: Path) -> tuple[list[str], str]:
    """Projected paper-scale core-hours of P2's MLP tables from this run's job times, and a summary sentence."""
    from clusterability.workflow.costs import project_costs, project_total

    _, paper, units, names = _projection(workdir, "p2_mlp")
    p1 = {(f.network, r) for t in paper.paper_targets("p1") if t in paper.tables for f, r in paper.networks(t)}
    mine = {(f.network, r) for t in names for f, r in paper.networks(t)}
    lines = [
        "| table | networks | epochs | clusterings | shuffles | training core-h | clustering core-h | total core-h |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total = project_total(paper, units, names, name="**paper2_mlp**")
    for c in [*project_costs(paper, units, names), total]:
        lines.append(
            f"| {c.name} | {c.networks} | {c.trained_epochs:,} | {c.clusterings} | {c.shuffles:,} "
            f"| {c.training_hours:.1f} | {c.clustering_hours:.1f} | {c.hours:.1f} |"
        )
    summary = (
        "Projected from this run's job times (`clusterability.workflow.costs`), P2's MLP part at the papers' "
        f"settings is "
        f"{total.hours:,.0f} core-hours on its own ({total.training_hours:,.0f} to train its {total.networks} "
        f"networks, {total.clustering_hours:,.1f} to cluster them and their {total.shuffles:,} shuffles); "
        f"{len(mine & p1)} of those networks are P1's, so after `paper1` only {len(mine - p1)} are trained anew. "
        f"Per table below."
    )
    return lines, summary


def write_p2_mlp(record: dict[str, object], workdir: Path) -> None:
    """The block of docs/results_p2_mlp.md: projected costs, every P2 MLP table built, the projection per table."""
    where = provenance(record, workdir)
    cost_table, cost_summary = p2_mlp_costs(workdir)
    parts = [where, "", cost_summary, ""]
    tables = paper_tables(workdir, "p2_mlp")
    for name, title in tables.items():
        parts += [
            f"## {title}, `results/{name}.csv`",
            "",
            csv_markdown(pd.read_csv(workdir / "results" / f"{name}.csv")),
        ]
        parts += [""]
    parts += [
        "## Projected core-hours at the papers' settings",
        "",
        "Each table built alone at `scale: paper` (5 networks per P2 family, 20 + 20 epochs, 50 shuffles at "
        "k = 12, 320 for the k-sweep), projected by `clusterability.workflow.costs` from the job times of the run "
        "above; "
        "the last row counts what tables share once.",
        "",
        *cost_table,
        "",
    ]
    fill_page("results_p2_mlp.md", "\n".join(parts), P2_BEGIN, P2_END)
    print(f"wrote the block of docs/results_p2_mlp.md ({len(tables)} tables; {where})")


def _against_paper(table: pd.DataFrame, key: str, paper: dict | None = None, label: str | None = None) -> str:
    """A P2 summary table (n-cut, dist. n-cuts, significant, accuracies), beside the paper's numbers if given."""
    quote = "| paper: n-cut, dist. n-cuts, sig., train, test |" if paper is not None else "|"
    lines = [
        f"| {label or key} | pruned | networks | n-cut | dist. n-cuts | prop. sig. | train acc. | test acc. {quote}",
        "| --- | --- | ---: | --- | --- | ---: | ---: | ---: |" + (" --- |" if paper is not None else ""),
    ]
    for _, r in table.iterrows():
        ncut = f"{r.ncut_mean:.3f} ± {r.ncut_std:.3f}" if pd.notna(r.ncut_std) else f"{r.ncut_mean:.3f}"
        name = f"{r[key]:g}" if isinstance(r[key], float) else NAMES.get(r[key], r[key])
        line = (
            f"| {name} | {'yes' if r.pruned else 'no'} | {r.n_networks} | {ncut} "
            f"| {r.mean_dist_mean:.3f} ± {r.mean_dist_std:.3f} | {r.prop_sig:.2g} | {r.train_acc:.3f} "
            f"| {r.test_acc:.3f} |"
        )
        if paper is not None:
            p = paper.get((r[key], bool(r.pruned)))
            line += f" {p[0]}, {p[1]} ± {p[2]}, {p[3]}, {p[4]}, {p[5]} |" if p else " |"
        lines.append(line)
    return "\n".join(lines)


def write_p2_promote(record: dict[str, object], workdir: Path) -> None:
    """The block of docs/results_p2_promote.md: P2 Table 1, A.13 and the sweep beside the paper, every table built."""
    where = provenance(record, workdir)
    parts = [where, "", "## Beside the paper's numbers", ""]
    for name, key, paper, caption in (
        ("p2/table1", "regime", PAPER_P2_TABLE1, "P2 Table 1, 3x64 MLPs on 7x7 MNIST without and with the regularizer"),
        ("p2/tableA13", "dataset", PAPER_P2_A13, "P2 Table A.13, clusterably initialized MLPs"),
    ):
        path = workdir / "results" / f"{name}.csv"
        if path.is_file():
            parts += [f"{caption}:", "", _against_paper(pd.read_csv(path), key, paper), ""]
    sweep = workdir / "results" / "p2" / "regularizer_sweep.csv"
    if sweep.is_file():
        parts += [
            "The regularizer (input norms projected) on the 784-256×4-10 MLP on MNIST, by weight (not in P2; "
            "weight 0 is `mnist_plain`):",
            "",
            _against_paper(pd.read_csv(sweep), "regularizer_weight", label="weight"),
            "",
        ]
    tables = paper_tables(workdir, "p2_promote")
    for name, title in tables.items():
        table = pd.read_csv(workdir / "results" / f"{name}.csv")
        parts += [f"## {title}, `results/{name}.csv`", "", csv_markdown(table), ""]
    trained = sorted(workdir.glob("results/networks/*/run*/metrics.json"))
    seconds: dict[str, list[float]] = {}
    for path in trained:
        seconds.setdefault(path.parent.parent.name, []).append(json.loads(path.read_text())["wall_seconds"]["total"])
    parts += [
        "## Training time per network",
        "",
        "Each job on one thread (`wall_seconds.total` of its `metrics.json`: set-up, training, pruning, evaluation).",
        "",
        "| family | networks | minutes per network (mean) |",
        "| --- | ---: | ---: |",
        *(f"| {f} | {len(t)} | {sum(t) / len(t) / 60:.1f} |" for f, t in seconds.items()),
        "",
    ]
    fill_page("results_p2_promote.md", "\n".join(parts), PROMOTE_BEGIN, PROMOTE_END)
    print(f"wrote the block of docs/results_p2_promote.md ({len(tables)} tables; {where})")


def _projection(workdir: Path, part: str):
    """The paper-scale config, its experiments, this run's unit costs and the tables of ``part`` (``p1``, ...)."""
    from clusterability.workflow.config import load_workflow_config
    from clusterability.workflow.costs import measure_unit_costs

    config, paper = load_workflow_config(REPO)
    units = measure_unit_costs(workdir, lesion_threads=config["resources"]["lesion"]["threads"])
    return config, paper, units, [n for n in paper.paper_targets(part) if n in paper.tables]


def cost_lines(workdir: Path) -> tuple[list[str], str]:
    """Projected paper-scale core-hours of every P1 table, from this run's job times (clusterability.workflow.costs).

    Returns the Markdown table (and the kilo-epoch line) and a one-sentence summary for the top of the page.
    """
    from clusterability.workflow.costs import project_costs, project_total

    config, paper, units, names = _projection(workdir, "p1")
    lines = [
        "| table | networks | epochs | clusterings | shuffles | lesions | training core-h | clustering core-h "
        "| lesion core-h | total core-h |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    random_sets = (config["lesions"]["random_sets"], config["lesions"]["pair_random_sets"])
    total = project_total(paper, units, names, name="**paper1**", random_sets=random_sets)
    for c in [*project_costs(paper, units, names, random_sets), total]:
        lines.append(
            f"| {c.name} | {c.networks} | {c.trained_epochs:,} | {c.clusterings} | {c.shuffles:,} | {c.lesions:,} "
            f"| {c.training_hours:.1f} | {c.clustering_hours:.1f} | {c.lesion_hours:.2f} | {c.hours:.1f} |"
        )
    kilo = paper.families["random_kilo_plain"]
    unit = units.training[kilo.network]
    kilo_line = (
        f"one kilo-epoch network ({kilo.train.epochs:,} + {kilo.train.prune_epochs} pruning epochs on the random "
        f"dataset), on one core: {unit.seconds(kilo) / 3600:.1f} h ({unit.per_epoch:.2f} s per training epoch, "
        f"{unit.per_prune_epoch:.2f} s per pruning epoch, {unit.fixed:.0f} s fixed, as measured in this run)"
    )
    lines += ["", kilo_line[0].upper() + kilo_line[1:] + "."]
    summary = (
        f"Projected from this run's job times (`clusterability.workflow.costs`), all of P1 at the papers' settings is "
        f"{total.hours:,.0f} core-hours ({total.training_hours:,.0f} to train its {total.networks} networks, "
        f"{total.clustering_hours:,.0f} to cluster them and their {total.shuffles:,} shuffles, "
        f"{total.lesion_hours * 60:,.0f} core-minutes for the {total.lesions:,} lesions), and {kilo_line}; "
        f"per table below."
    )
    return lines, summary


def table_sections(workdir: Path, tables: dict[str, str], heading: str) -> list[str]:
    """Each built table under a heading of its title and file; Table 1 beside the paper's values."""
    parts = []
    for name, title in tables.items():
        table = pd.read_csv(workdir / "results" / f"{name}.csv")
        parts += [f"{heading} {title}, `results/{name}.csv`", ""]
        parts += [markdown_table(table, with_paper=True) if name == "table1" else csv_markdown(table), ""]
    return parts


def write_p1(record: dict[str, object], workdir: Path) -> None:
    """The block of docs/results.md: projected costs, every P1 table built (Table 1 beside the paper's)."""
    where = provenance(record, workdir)
    tables = paper_tables(workdir)
    cost_table, cost_summary = cost_lines(workdir)
    parts = [where, "", cost_summary, ""]
    parts += table_sections(workdir, tables, "##")
    parts += [
        "## Projected core-hours at the papers' settings",
        "",
        "Each table built alone at `scale: paper` (10 networks per family, 20 + 20 epochs, 320 shuffles), "
        "projected by `clusterability.workflow.costs` from the job times of the run above (one thread per job, two per "
        "lesion job); the last row counts every network, clustering, shuffle and lesion that tables share once, "
        "as the workflow does. Lesions: as many sub-modules and pairs as this run's clustering of the network "
        "has, each with the paper's random sets (100 per sub-module, 50 per pair and side).",
        "",
        *cost_table,
        "",
    ]
    fill_page("results.md", "\n".join(parts), BEGIN, END)
    print(f"wrote the block of docs/results.md ({len(tables)} tables; {where})")


def write_p1_paper(record: dict[str, object], workdir: Path) -> None:
    """docs/results.md's block of a run at the papers' settings: every P1 table it built, Table 1 beside the
    paper's numbers; the row-by-row comparison is the scorecard's (docs/scorecard_p1_paper.md)."""
    where = provenance(record, workdir)
    tables = paper_tables(workdir)
    parts = [
        where,
        "",
        "Each number against the paper's, with the paper's spread and a verdict: "
        "[scorecard_p1_paper.md](scorecard_p1_paper.md) (`python docs/make_scorecard.py record --as p1_paper`).",
        "",
    ]
    parts += table_sections(workdir, tables, "###")
    fill_page("results.md", "\n".join(parts), PAPER_BEGIN, PAPER_END)
    print(f"wrote the paper-scale block of docs/results.md ({len(tables)} tables; {where})")


def run_workflow(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    """Run ``snakemake TARGET`` in ``workdir``; record and return how (``run.json`` beside the results)."""
    commit = _git("rev-parse", "--short", "HEAD") + (
        " (with uncommitted changes)" if _git("status", "--porcelain") else ""
    )
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", args.cores]
    if args.scale != "paper":
        cmd += ["--configfile", str(REPO / "config" / "scales" / f"{args.scale}.yaml")]
    settings = ([f"datasets={json.dumps({'mirror': str(Path(args.mirror).resolve())})}"] if args.mirror else []) + list(
        args.set or []
    )
    if settings:
        cmd += ["--config", *settings]
    resumed = any((workdir / "results" / "networks").glob("*/*/metrics.json"))
    started = time.perf_counter()
    subprocess.run([*cmd, "--", *(args.files or [args.target])], check=True)
    record = {
        "scale": args.scale,
        "cores": args.cores,
        "target": args.target,
        "files": args.files or [],
        "set": args.set or [],
        "commit": commit,
        "seconds": time.perf_counter() - started,
        "resumed": resumed,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine_description(),
    }
    (workdir / "run.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="quick", help="paper, or a file name of config/scales/ (default quick)")
    parser.add_argument("--cores", default="all")
    parser.add_argument("--mirror", help="local folder with the raw dataset files (default: download)")
    parser.add_argument(
        "--target",
        default="paper1",
        help="what to build: paper1 (default), paper2_mlp, paper2_promote, or one table, e.g. results/table1.csv",
    )
    parser.add_argument(
        "--files",
        nargs="+",
        help="build only these files of the target's part (e.g. results/p2/table1.csv), not all of it",
    )
    parser.add_argument(
        "--set",
        nargs="+",
        metavar="KEY=VALUE",
        help="more Snakemake --config settings, recorded with the run, e.g. "
        "'clustering={\"chunk_size\": 320}' (shuffles per job: the numbers do not depend on it)",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="do not run: write the docs again from the last run of this scale (its run.json)",
    )
    parser.add_argument(
        "--code-checks",
        action="store_true",
        help="only write each page's code check again: which jobs changed in logic since its run's commit",
    )
    args = parser.parse_args()
    if args.code_checks:
        update_code_checks()
        return

    own = args.target in (P2_MLP, P2_PROMOTE)  # a part with a work folder (and docs) of its own
    workdir = REPO / ".results-run" / (f"{args.scale}-{args.target}" if own else args.scale)
    workdir.mkdir(parents=True, exist_ok=True)
    record = json.loads((workdir / "run.json").read_text()) if args.render_only else run_workflow(args, workdir)
    if args.target == P2_MLP:
        write_p2_mlp(record, workdir)
        return
    if args.target == P2_PROMOTE:
        write_p2_promote(record, workdir)
        return
    if args.scale == "paper":
        write_p1_paper(record, workdir)
        return
    write_p1(record, workdir)


if __name__ == "__main__":
    main()
