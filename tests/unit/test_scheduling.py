"""Snakemake's scheduler wake-ups, one pending per delay (clusterability.workflow.scheduling)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from clusterability.workflow import scheduling
from workflow_helpers import REPO


class _Scheduler:
    """What the replacement touches of Snakemake's JobScheduler: the semaphore its loop waits on."""

    def __init__(self) -> None:
        self._open_jobs = threading.Semaphore(0)

    def _schedule_reevalutation(self, delay: float) -> None:  # Snakemake's spelling
        raise AssertionError("replaced")


def _releases(scheduler: _Scheduler) -> int:
    """How many times the semaphore was released (and take them)."""
    n = 0
    while scheduler._open_jobs.acquire(blocking=False):
        n += 1
    return n


def _wait_for_timers(deadline_s: float = 5.0) -> None:
    stop = time.monotonic() + deadline_s
    while any(isinstance(t, threading.Timer) for t in threading.enumerate()) and time.monotonic() < stop:
        time.sleep(0.01)


def test_one_wake_up_per_delay_however_many_passes_ask() -> None:
    cls = type("Scheduler", (_Scheduler,), {})
    assert scheduling.coalesce_reevaluations(cls)
    scheduler = cls()
    for _ in range(50):  # 50 passes that each leave a job waiting, as many as Snakemake's timers
        scheduler._schedule_reevalutation(0.05)
    scheduler._schedule_reevalutation(0.1)  # another delay (the queue-input wait) has its own
    timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer)]
    assert timers and all(t.daemon for t in timers), "Snakemake's exit must not wait for them"
    _wait_for_timers()
    assert _releases(scheduler) == 2
    # Once it has woken the loop, the next pass that asks gets a wake-up again: the loop never stalls.
    scheduler._schedule_reevalutation(0.05)
    _wait_for_timers()
    assert _releases(scheduler) == 1


def test_applying_twice_changes_nothing_and_a_scheduler_without_the_method_is_left_alone() -> None:
    cls = type("Scheduler", (_Scheduler,), {})
    assert scheduling.coalesce_reevaluations(cls) and scheduling.coalesce_reevaluations(cls)
    assert cls._schedule_reevalutation is scheduling._schedule_reevaluation
    other = type("Other", (), {})
    assert not scheduling.coalesce_reevaluations(other)
    assert not hasattr(other, "_schedule_reevalutation")


def test_the_workflow_applies_it_to_the_installed_snakemake() -> None:
    """The pinned Snakemake has the method (an upgrade that renames it fails here), and reading the
    Snakefile (rules/common.smk) replaces it in Snakemake's process."""
    check = (
        "import sys\n"
        "from snakemake.cli import main\n"
        "from snakemake.scheduling.job_scheduler import JobScheduler\n"
        "try:\n"
        f"    main(['--snakefile', {str(REPO / 'Snakefile')!r}, '--list-rules'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(getattr(JobScheduler._schedule_reevalutation, {scheduling._MARK!r}, False))\n"
    )
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-1] == "True", proc.stdout[-2000:]
