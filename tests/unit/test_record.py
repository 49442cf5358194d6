"""A run recorded under docs/ (clusterability.workflow.record): its tables and provenance, and the scorecard
page rendered from them, which names the jobs whose code changed since the run."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from clusterability.errors import InputError
from clusterability.workflow import record
from clusterability.workflow.scorecard import paper_files, table_infos

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "docs"))
import make_scorecard  # noqa: E402

GOLDEN = REPO / "tests" / "golden"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A work folder whose run built P1 Table 1 at the tiny scale (the golden tables) and one training."""
    work = tmp_path / "work"
    (work / "results").mkdir(parents=True)
    shutil.copy(GOLDEN / "table1_tiny_real_mirror.csv", work / "results" / "table1.csv")
    shutil.copy(GOLDEN / "table1_networks_tiny_real_mirror.csv", work / "results" / "table1_networks.csv")
    metrics = work / "results" / "networks" / "mnist_plain" / "run0" / "metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"numerics_fingerprint": "abc123"}))
    return work


def _record(workdir: Path, out: Path) -> dict:
    return record.record_run(
        workdir,
        out,
        ["table1", "table1_networks", "table2"],
        checkout=REPO,
        commit="0123abc",
        scale="tiny",
        command="snakemake table1",
        started="2026-12-07 01:00 UTC",
        finished="2026-12-07 02:00 UTC",
    )


def test_a_recorded_run_holds_its_tables_and_provenance(workdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "docs" / "fidelity"
    rec = _record(workdir, out)
    assert set(rec["tables"]) == {"table1", "table1_networks"}  # table2 was not built
    assert (out / "tables" / "table1.csv").read_bytes() == (workdir / "results" / "table1.csv").read_bytes()
    assert json.loads((out / "run.json").read_text()) == rec
    assert rec["numerics_fingerprints"] == ["abc123"] and rec["code"] == record.code_hashes(REPO)
    assert rec["commit"] == "0123abc" and "cores" in rec["machine"]
    assert record.read_record(out) == rec
    (out / "tables" / "table1.csv").write_text("dataset\n")  # edited by hand: refused
    with pytest.raises(InputError, match="not the table the run recorded"):
        record.read_record(out)


def test_nothing_built_is_one_line_and_leaves_the_last_record(workdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "fidelity"
    _record(workdir, out)
    before = (out / "run.json").read_text()
    with pytest.raises(InputError, match="no table of the run is built"):
        record.record_run(
            tmp_path, out, ["table1"], checkout=REPO, commit="x", scale="tiny", command="", started="", finished=""
        )
    assert (out / "run.json").read_text() == before


def test_the_page_names_the_jobs_whose_code_changed(workdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "fidelity"
    rec = _record(workdir, out)
    config, experiments = make_scorecard.load("tiny")
    tables, papers = table_infos(experiments, config), paper_files(REPO / "config" / "papers")
    card, page = record.render_scorecard(out, tables, papers, rec["code"])
    assert "The code of every job is the code of this run" in page and "Commit `0123abc`" in page
    assert set(card["table"]) >= {"table1"} and "smoke" in set(card["verdict"])
    changed = {**rec["code"], "train_network": "0" * 64, "figure": "1" * 64}
    _, page = record.render_scorecard(out, tables, papers, changed)
    assert "has changed in logic since this run** (`train_network`;" in page and "`figure`" not in page


@pytest.mark.parametrize("name", list(make_scorecard.RECORDS))
def test_the_committed_scorecard_is_what_the_recorded_run_gives(name: str, tmp_path: Path) -> None:
    """Each recorded run's page (docs/scorecard.md from docs/fidelity, ...) is rendered from its folder by this
    code (make scorecard-docs), nothing typed; the fidelity run's also fills the README's block."""
    recorded, page = make_scorecard.RECORDS[name]
    if not (recorded / record.RUN_FILE).is_file():
        pytest.skip(f"no run recorded in {recorded} yet")
    folder = tmp_path / name
    shutil.copytree(recorded, folder)
    readme = tmp_path / "README.md"
    shutil.copy(make_scorecard.README, readme)
    label = recorded.relative_to(make_scorecard.REPO).as_posix()
    summary = make_scorecard.render(folder, tmp_path / "scorecard.md", readme if name == "fidelity" else None, label)
    expected = page.read_text()
    assert (tmp_path / "scorecard.md").read_text() == expected
    assert readme.read_text() == make_scorecard.README.read_text()  # the README's block: the fidelity run's
    assert (folder / "scorecard.csv").read_bytes() == (recorded / "scorecard.csv").read_bytes()
    assert summary in expected
