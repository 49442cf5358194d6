"""Workflow jobs: logs catch everything written to stdout/stderr; user mistakes end in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CODE = """
import os, sys
from types import SimpleNamespace
from clusterability.errors import InputError
from clusterability.workflow.jobs import script_job

smk = SimpleNamespace(threads=1, log=[{log!r}])
with script_job(smk) as log:
    log.info("from the logger")
    print("from print")
    os.write(2, b"from a C library on fd 2\\n")
    assert os.environ["OMP_NUM_THREADS"] == "1"
    if {fail!r} == "user":
        raise InputError("config: key tables.t.k: 0 is less than the minimum of 2")
    if {fail!r} == "bug":
        raise RuntimeError("a bug")
"""


def _run(tmp_path: Path, fail: str) -> tuple[subprocess.CompletedProcess, str]:
    log = tmp_path / "job.log"
    proc = subprocess.run(
        [sys.executable, "-c", CODE.format(log=str(log), fail=fail)], capture_output=True, text=True, timeout=120
    )
    return proc, log.read_text()


def test_everything_goes_to_the_log(tmp_path: Path) -> None:
    proc, log = _run(tmp_path, "")
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
    for line in ("from the logger", "from print", "from a C library on fd 2", "done in"):
        assert line in log


def test_user_mistake_is_one_line_on_the_terminal(tmp_path: Path) -> None:
    proc, log = _run(tmp_path, "user")
    assert proc.returncode == 1
    assert proc.stderr == "error: config: key tables.t.k: 0 is less than the minimum of 2\n"
    assert "Traceback" not in log and "error: config: key tables.t.k" in log


def test_a_bug_keeps_its_traceback_in_the_log(tmp_path: Path) -> None:
    proc, log = _run(tmp_path, "bug")
    assert proc.returncode == 1
    assert proc.stderr == f"error: RuntimeError: a bug (traceback in {tmp_path / 'job.log'})\n"
    assert "Traceback" in log and "RuntimeError: a bug" in log
