"""The results pages (docs/results*.md) say which jobs' code changed in logic since the run they show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "docs"))
import make_results  # noqa: E402


@pytest.mark.parametrize("name", sorted(make_results.PAGES))
def test_each_results_page_states_its_code_check(name: str) -> None:
    page, begin, end = make_results.PAGES[name]
    block = (make_results.DOCS / page).read_text().split(begin, 1)[1].split(end, 1)[0]
    commit = make_results._COMMIT.search(block).group(1)
    known = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=REPO, capture_output=True)
    if known.returncode != 0:
        pytest.skip(f"commit {commit} is not in this clone's history")
    assert make_results.code_check(commit) in block, "run: python docs/make_results.py --code-checks"


def test_the_code_check_names_exactly_the_changed_jobs() -> None:
    from clusterability.workflow.record import stale_note

    same = {"train_network": "a", "figure": "b"}
    assert "every job that makes these numbers runs the code of `abc`" in stale_note(same, same, "abc")
    note = stale_note(same, {"train_network": "c", "figure": "d"}, "abc")
    assert "`train_network`" in note and "`figure`" not in note  # a figure's code makes no number
