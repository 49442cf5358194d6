"""A run at the papers' settings, recorded under ``docs/``: its tables, where and when it ran, and the code it ran.

:func:`record_run` copies the tables a run built (small CSVs, no weights) into a folder with a
``run.json``: the commit, the machine, the dates, the scale, the command, the TensorFlow numerics
fingerprint of its trainings, and the code hash of every workflow script at that commit
(:func:`clusterability.workflow.provenance.code_hash`). :func:`render_scorecard` scores the recorded
tables against the papers' numbers (:mod:`clusterability.workflow.scorecard`) without rerunning
anything, and says which jobs' code has changed in logic since the run: a test renders the page again
and compares it with the committed one, so the docs cannot claim numbers for code that no longer
produces them without saying so.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from clusterability.atomic import atomic_path, write_json
from clusterability.errors import InputError
from clusterability.workflow.provenance import code_hash
from clusterability.workflow.scorecard import (
    TOLERANCES,
    TableInfo,
    Tolerances,
    read_facts,
    read_papers,
    read_table,
    score,
    scorecard_markdown,
    shown_path,
)

RUN_FILE = "run.json"
TABLES_FOLDER = "tables"


def machine_description() -> str:
    """The CPU model, its cores, the operating system and architecture of this machine."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def code_hashes(checkout: str | Path) -> dict[str, str]:
    """The code hash of each workflow script of ``checkout`` (a clone or worktree), on its own library."""
    checkout = Path(checkout)
    root = checkout / "lib" / "clusterability"
    return {s.stem: code_hash(s, root) for s in sorted((checkout / "workflow_scripts").glob("*.py"))}


def code_hashes_at(repo: str | Path, commit: str) -> dict[str, str]:
    """:func:`code_hashes` of ``commit`` of the git repository ``repo`` (its library and scripts, from git)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            archive = subprocess.run(
                ["git", "archive", commit, "lib/clusterability", "workflow_scripts"],
                cwd=repo,
                capture_output=True,
                check=True,
                timeout=120,
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise InputError(
                f"{repo}: cannot read commit {commit!r} from git ({exc}); fetch the full history"
            ) from None
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        return code_hashes(tmp)


def stale_note(then: Mapping[str, str], now: Mapping[str, str], commit: str) -> str:
    """One sentence: which jobs that make numbers have changed in logic between ``commit`` (``then``) and now."""
    changed = [name for name in changed_code(then, now) if name in NUMBER_JOBS]
    if not changed:
        return f"Code check: every job that makes these numbers runs the code of `{commit}` (same code hashes)."
    return (
        f"Code check: the code of {', '.join(f'`{n}`' for n in changed)} has changed in logic since `{commit}` "
        "(code hashes, `clusterability.workflow.provenance`): these numbers may no longer be what the code gives."
    )


def fingerprints(workdir: str | Path) -> list[str]:
    """The TensorFlow numerics fingerprints the trainings of ``workdir`` recorded (``metrics.json``)."""
    found = set()
    for path in sorted(Path(workdir, "results", "networks").glob("*/run*/metrics.json")):
        fingerprint = json.loads(path.read_text()).get("numerics_fingerprint")
        if fingerprint:  # imported pretrained networks were not trained here
            found.add(str(fingerprint))
    return sorted(found)


def record_run(
    workdir: str | Path,
    out: str | Path,
    tables: Iterable[str],
    *,
    checkout: str | Path,
    commit: str,
    scale: str,
    command: str,
    started: str,
    finished: str,
) -> dict[str, Any]:
    """Copy the tables of ``workdir`` named ``tables`` that exist into ``out/tables`` and write ``out/run.json``.

    The folder is replaced as a whole (written beside it, then renamed), so a failed recording
    leaves the previous one. Returns the record.
    """
    workdir, out = Path(workdir), Path(out)
    names = [n for n in tables if (workdir / "results" / f"{n}.csv").is_file()]
    if not names:
        raise InputError(f"{workdir}: no table of the run is built (results/<table>.csv); run it first")
    record = {
        "commit": commit,
        "scale": scale,
        "command": command,
        "machine": machine_description(),
        "started": started,
        "finished": finished,
        "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "numerics_fingerprints": fingerprints(workdir),
        "code": code_hashes(checkout),
        "tables": {},
    }
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / TABLES_FOLDER).mkdir(parents=True)
    for name in names:
        target = staging / TABLES_FOLDER / f"{name}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(workdir / "results" / f"{name}.csv", target)
        record["tables"][name] = hashlib.sha256(target.read_bytes()).hexdigest()
    write_json(staging / RUN_FILE, record)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return record


def read_record(folder: str | Path) -> dict[str, Any]:
    """A recorded run's ``run.json``, its tables checked against the sha256 it lists."""
    folder = Path(folder)
    path = folder / RUN_FILE
    if not path.is_file():
        raise InputError(f"{path}: no recorded run here; record one with docs/make_scorecard.py record")
    record = json.loads(path.read_text())
    for name, digest in record["tables"].items():
        table = folder / TABLES_FOLDER / f"{name}.csv"
        if not table.is_file() or hashlib.sha256(table.read_bytes()).hexdigest() != digest:
            raise InputError(f"{table}: missing or not the table the run recorded; record the run again")
    return record


def changed_code(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """The workflow scripts whose code hash differs from the recorded one (or that are new or gone)."""
    return sorted(name for name in set(recorded) | set(current) if recorded.get(name) != current.get(name))


#: The jobs whose code makes a table's numbers: a change here means the recorded numbers may differ.
NUMBER_JOBS = (
    "train_network",
    "cluster_network",
    "shuffle_chunk",
    "gather_shuffles",
    "lesion_single",
    "lesion_pairs",
    "table",
    "prepare_dataset",
    "make_synthetic_dataset",
    "make_paired_dataset",
    "mix_datasets",
    "resize_dataset",
)


def render_scorecard(
    folder: str | Path,
    tables: Mapping[str, TableInfo],
    papers: Mapping[str, str],
    current_code: Mapping[str, str],
    *,
    tol: Tolerances = TOLERANCES,
    label: str = "docs/fidelity",
) -> tuple[pd.DataFrame, str]:
    """The scorecard of the run recorded in ``folder`` (:func:`record_run`) and its page.

    ``tables``: the catalogue's table infos at the run's scale; ``papers``: the paper value files
    (:func:`clusterability.workflow.scorecard.paper_files`); ``current_code``: :func:`code_hashes` of
    the checkout that renders, to say which jobs have changed since the run; ``label``: how the page
    names the folder.
    """
    folder = Path(folder)
    record = read_record(folder)
    values = read_papers(papers, tables)
    facts = read_facts(papers["facts"], tables, shown_path(papers["facts"])) if "facts" in papers else []
    built = {name: read_table(folder / TABLES_FOLDER / f"{name}.csv") for name in record["tables"]}
    card = score(values, tables, built, facts, scale=record["scale"], commit=record["commit"], tol=tol)
    page = scorecard_markdown(card, tables, facts, scale=record["scale"], commit=record["commit"], built=built, tol=tol)
    changed = changed_code(record["code"], current_code)
    numbers = [name for name in changed if name in NUMBER_JOBS]
    lines = [
        "## The recorded run",
        "",
        f"- Commit `{record['commit']}`, scale `{record['scale']}`, on {record['machine']}.",
        f"- Ran {record['started']} to {record['finished']}; recorded {record['recorded']}.",
        f"- Command: `{record['command']}`.",
        "- TensorFlow numerics fingerprints of its trainings: "
        + (", ".join(f"`{f}`" for f in record["numerics_fingerprints"]) or "none (no training)")
        + ".",
        f"- {len(record['tables'])} tables, in `{TABLES_FOLDER}/` beside its `{RUN_FILE}` (`{label}`).",
    ]
    if numbers:
        lines += [
            "",
            f"> **The code of {len(numbers)} of the jobs that make these numbers has changed in logic since this run** "
            f"({', '.join(f'`{n}`' for n in numbers)}; code hashes, `clusterability.workflow.provenance`). "
            "Run it again to check that they still come out the same (what was checked without a rerun: "
            'docs/reproducibility.md, "Recorded runs and code checks").',
        ]
    elif changed:
        lines += [
            "",
            f"> The code of {', '.join(f'`{n}`' for n in changed)} has changed since; no job that "
            "makes these numbers has.",
        ]
    else:
        lines += ["", "The code of every job is the code of this run (same code hashes)."]
    title, _, rest = page.partition("\n")
    return card, "\n".join([title, "", *lines, rest])


def write_page(path: str | Path, text: str) -> None:
    """Write a rendered page atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text if text.endswith("\n") else text + "\n")
