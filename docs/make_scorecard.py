"""Record a run at the papers' settings under docs/, and write the scorecard page from what is recorded.

    python docs/make_scorecard.py record --workdir WORK --started "..." --finished "..." [--scale fidelity]
    python docs/make_scorecard.py record --as p1_paper --scale paper --workdir WORK --started ... --finished ...
    python docs/make_scorecard.py render            (make scorecard-docs: every recorded run)

``record`` copies the tables the run in ``WORK`` built into ``docs/<name>/tables/`` with a ``run.json``:
commit, machine, dates, command, numerics fingerprints and the code hash of every workflow script of the
checkout that ran (``--checkout``, by default ``WORK``) (:mod:`clusterability.workflow.record`). The
recorded runs (``RECORDS``): ``fidelity`` (the default; rule ``fidelity``'s tables, one network per
family) and ``p1_paper`` (every table the run built, at ``scale: paper``). ``render`` scores each recorded
run's tables against the papers' numbers (``config/papers/``) and writes its page (``docs/scorecard.md``,
``docs/scorecard_p1_paper.md``) and ``docs/<name>/scorecard.csv``, running nothing; the fidelity run also
fills the README's block. ``tests/unit/test_record.py`` renders them again and compares.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORDED = REPO / "docs" / "fidelity"
PAGE = REPO / "docs" / "scorecard.md"
#: The runs recorded under docs/ (``docs/<name>/``) and their pages; ``fidelity`` also fills the README's block.
RECORDS = {
    "fidelity": (RECORDED, PAGE),
    "p1_paper": (REPO / "docs" / "p1_paper", REPO / "docs" / "scorecard_p1_paper.md"),
}
README = REPO / "README.md"
BEGIN, END = "<!-- scorecard:begin -->", "<!-- scorecard:end -->"
#: The README's parts of the papers (the catalogue's ``paper`` of each table) and their targets.
PARTS = {
    "p1": ("P1", "`snakemake paper1`: Tables 1-4 and A.1-A.19, figures 1-6 and A.1-A.6"),
    "p2_mlp": ("P2, MLPs", "`snakemake paper2_mlp`: Tables A.1-A.7 and A.16-A.21, figures 1-5, A.1, A.6, A.7"),
    "p2_cnn": ("P2, CNNs", "`snakemake paper2_cnn`: Tables A.8-A.12, figures 6-12 and A.2-A.4"),
    "p2_promote": ("P2 section 4", "`snakemake paper2_promote`: Tables 1 and A.13-A.15, figures 13-15 and A.5"),
}
VERDICTS = ("agrees", "close", "differs")


def load(scale: str):
    """The configuration (config.yaml, its catalogue and ``config/scales/<scale>.yaml``) and its experiments."""
    from clusterability.workflow.config import load_workflow_config

    return load_workflow_config(REPO, scale)


def readme_block(card, infos, record: dict) -> str:
    """The README's table of what is built and what is verified, per part, from the recorded run's scorecard."""
    from clusterability.workflow.scorecard import summary_line

    lines = [
        f"Recorded run at the `{record['scale']}` scale, commit `{record['commit']}`, {record['finished']} "
        f"([docs/scorecard.md](docs/scorecard.md)): **{summary_line(card)}**.",
        "",
        "| part | every table and figure is a target of | paper tables scored at the papers' settings: numbers "
        "that agree / are close / differ |",
        "| --- | --- | --- |",
    ]
    scored = card[card["verdict"].isin(VERDICTS)]
    for part, (name, targets) in PARTS.items():
        cells = []
        for paper_table, rows in scored[scored["table"].map(lambda t: infos[t].paper) == part].groupby(
            "paper_table", sort=False
        ):
            counts = rows["verdict"].value_counts()
            cells.append(f"{paper_table} {' / '.join(str(int(counts.get(v, 0))) for v in VERDICTS)}")
        gpu = part == "p2_cnn" or any(infos[t].gpu for t in infos if infos[t].paper == part)
        lines.append(f"| {name} | {targets} | {'; '.join(cells) or 'none run'}{' (CNNs: GPU work)' if gpu else ''} |")
    return "\n".join(lines)


def fill_readme(block: str, readme: Path = README) -> None:
    """Replace the README's text between the scorecard markers with ``block``."""
    from clusterability.workflow.record import write_page

    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} block to fill")
    head, rest = text.split(BEGIN, 1)
    write_page(readme, f"{head}{BEGIN}\n{block}\n{END}{rest.split(END, 1)[1]}")


def render(
    folder: Path = RECORDED, page: Path = PAGE, readme: Path | None = README, label: str = "docs/fidelity"
) -> str:
    """Write the scorecard page and CSV of the run recorded in ``folder``, and the README's block (unless
    ``readme`` is None); returns its summary line."""
    from clusterability.report.tables import write_csv
    from clusterability.workflow.record import code_hashes, read_record, render_scorecard, write_page
    from clusterability.workflow.scorecard import paper_files, summary_line, table_infos

    record = read_record(folder)
    config, experiments = load(record["scale"])
    infos = table_infos(experiments, config)
    card, text = render_scorecard(
        folder, infos, paper_files(REPO / "config" / "papers"), code_hashes(REPO), label=label
    )
    write_page(page, text)
    write_csv(card, folder / "scorecard.csv")
    if readme is not None:
        fill_readme(readme_block(card, infos, record), readme)
    return summary_line(card)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    rec = sub.add_parser("record", help="copy a run's tables and its provenance into docs/<name>")
    rec.add_argument(
        "--as",
        dest="name",
        choices=list(RECORDS),
        default="fidelity",
        help="which recorded run this is (fidelity: rule fidelity's tables; otherwise every table built)",
    )
    rec.add_argument("--workdir", type=Path, required=True, help="the run's work folder (its results/)")
    rec.add_argument("--checkout", type=Path, help="the clone that ran it (default: --workdir)")
    rec.add_argument("--scale", default="fidelity")
    rec.add_argument("--started", required=True, help="when the run started (UTC)")
    rec.add_argument("--finished", required=True, help="when its last job finished (UTC)")
    rec.add_argument("--command", default="make fidelity MIRROR=../shared/datasets")
    sub.add_parser("render", help="write each recorded run's page (docs/scorecard.md from docs/fidelity, ...)")
    args = parser.parse_args()

    from clusterability.errors import InputError
    from clusterability.workflow.record import RUN_FILE, record_run
    from clusterability.workflow.scorecard import fidelity_tables, git_commit

    try:
        if args.action == "record":
            checkout = args.checkout or args.workdir
            _, experiments = load(args.scale)
            folder = RECORDS[args.name][0]
            tables = (
                fidelity_tables(experiments) + fidelity_tables(experiments, gpu=True)
                if args.name == "fidelity"
                else list(experiments.tables)
            )
            record = record_run(
                args.workdir,
                folder,
                tables,
                checkout=checkout,
                commit=git_commit(checkout),
                scale=args.scale,
                command=args.command,
                started=args.started,
                finished=args.finished,
            )
            print(f"recorded {len(record['tables'])} tables of commit {record['commit']} in {folder}")
        for name, (folder, page) in RECORDS.items():
            if (folder / RUN_FILE).is_file():
                readme = README if name == "fidelity" else None
                label = folder.relative_to(REPO).as_posix()
                print(f"{page.relative_to(REPO)}: {render(folder, page, readme, label)}")
    except InputError as exc:
        sys.exit(f"make_scorecard: error: {exc}")


if __name__ == "__main__":
    main()
