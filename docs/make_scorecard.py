"""Record a run at the papers' settings under docs/, and write the scorecard page from what is recorded.

    python docs/make_scorecard.py record --workdir WORK --started "..." --finished "..." [--scale fidelity]
    python docs/make_scorecard.py render            (make scorecard-docs)

``record`` copies the tables the run in ``WORK`` built (rule ``fidelity``'s, at the run's scale) into
``docs/fidelity/tables/`` with a ``run.json``: commit, machine, dates, command, numerics fingerprints
and the code hash of every workflow script of the checkout that ran (``--checkout``, by default
``WORK``) (:mod:`clusterability.workflow.record`). ``render`` scores the recorded tables against the
papers' numbers (``config/papers/``) and writes ``docs/scorecard.md`` and ``docs/fidelity/scorecard.csv``,
running nothing; ``tests/unit/test_record.py`` renders them again and compares.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RECORDED = REPO / "docs" / "fidelity"
PAGE = REPO / "docs" / "scorecard.md"


def load(scale: str):
    """The configuration (config.yaml, its catalogue and ``config/scales/<scale>.yaml``) and its experiments."""
    from clusterability.workflow.config import load_config, merge

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    scale_file = REPO / "config" / "scales" / f"{scale}.yaml"
    if scale != "paper":
        config = merge(config, yaml.safe_load(scale_file.read_text()))
    return load_config(
        config,
        REPO / "schemas" / "config.schema.yaml",
        paths=False,
        base=REPO,
        catalogue_schema=REPO / "schemas" / "experiments.schema.yaml",
    )


def render(folder: Path = RECORDED, page: Path = PAGE) -> str:
    """Write the scorecard page and CSV of the run recorded in ``folder``; returns its summary line."""
    from clusterability.report.tables import write_csv
    from clusterability.workflow.record import code_hashes, read_record, render_scorecard, write_page
    from clusterability.workflow.scorecard import paper_files, summary_line, table_infos

    record = read_record(folder)
    config, experiments = load(record["scale"])
    card, text = render_scorecard(
        folder, table_infos(experiments, config), paper_files(REPO / "config" / "papers"), code_hashes(REPO)
    )
    write_page(page, text)
    write_csv(card, folder / "scorecard.csv")
    return summary_line(card)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    rec = sub.add_parser("record", help="copy a run's tables and its provenance into docs/fidelity")
    rec.add_argument("--workdir", type=Path, required=True, help="the run's work folder (its results/)")
    rec.add_argument("--checkout", type=Path, help="the clone that ran it (default: --workdir)")
    rec.add_argument("--scale", default="fidelity")
    rec.add_argument("--started", required=True, help="when the run started (UTC)")
    rec.add_argument("--finished", required=True, help="when its last job finished (UTC)")
    rec.add_argument("--command", default="make fidelity MIRROR=../shared/datasets")
    sub.add_parser("render", help="write docs/scorecard.md from docs/fidelity")
    args = parser.parse_args()

    from clusterability.errors import InputError
    from clusterability.workflow.record import record_run
    from clusterability.workflow.scorecard import fidelity_tables, git_commit

    try:
        if args.action == "record":
            checkout = args.checkout or args.workdir
            _, experiments = load(args.scale)
            record = record_run(
                args.workdir,
                RECORDED,
                fidelity_tables(experiments) + fidelity_tables(experiments, gpu=True),
                checkout=checkout,
                commit=git_commit(checkout),
                scale=args.scale,
                command=args.command,
                started=args.started,
                finished=args.finished,
            )
            print(f"recorded {len(record['tables'])} tables of commit {record['commit']} in {RECORDED}")
        print(f"{PAGE.relative_to(REPO)}: {render()}")
    except InputError as exc:
        sys.exit(f"make_scorecard: error: {exc}")


if __name__ == "__main__":
    main()
