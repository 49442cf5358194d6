"""Snakemake's scheduler wake-ups: at most one pending per delay, instead of one more per pass.

Snakemake 9 (``snakemake.scheduling.job_scheduler``, up to 9.27 at least) wakes its scheduler
loop again one rate-limit timespan (``--max-jobs-per-timespan``, default ``100/1s``) after every
pass that leaves a ready job waiting, with a new ``threading.Timer`` each time. Every other
wake-up (a job finished) starts one more such chain of timers, and a chain lives as long as
jobs wait for a core. So the passes per second grow with the jobs finished so far: 55, 155,
then 255 timers per 5 s for 60 half-second jobs on 2 cores, about 7,000 passes for the 160 jobs
of the tiny ``paper1`` (each pass stats the inputs of every ready job and solves the job
selection); the passes grow with the square of a run's length, so a paper-scale run of
thousands of jobs would keep a core busy with them.
The timers are also non-daemon threads: Snakemake's exit waits for the last one.

:func:`coalesce_reevaluations` makes a pass ask for a wake-up only where none is pending for
that delay, from a daemon timer. A pass still follows every wait of one timespan, as before:
the rate limit and the queue-input wait behave the same; only the duplicate passes go. The
workflow applies it where the Snakefile is read (rules/common.smk), in Snakemake's own process.
``benchmarks/bench_scheduler.py`` measures it.
"""

from __future__ import annotations

import threading
from typing import Any

#: Set on the replacement method, so that applying it twice changes nothing.
_MARK = "_clusterability_coalesced"
_PENDING = "_clusterability_pending_reevaluations"
_LOCK = threading.Lock()


def _schedule_reevaluation(self: Any, delay: float) -> None:
    """Release the scheduler's ``_open_jobs`` semaphore after ``delay`` seconds, unless a release
    after that delay is already pending."""
    with _LOCK:
        pending = self.__dict__.setdefault(_PENDING, set())
        if delay in pending:
            return
        pending.add(delay)

    def wake() -> None:
        with _LOCK:  # before the release: the pass it starts may ask for the next one
            pending.discard(delay)
        self._open_jobs.release()

    timer = threading.Timer(delay, wake)
    timer.daemon = True
    timer.start()


setattr(_schedule_reevaluation, _MARK, True)


def coalesce_reevaluations(scheduler_class: type | None = None) -> bool:
    """Replace ``scheduler_class._schedule_reevalutation`` (Snakemake's spelling; default: its
    ``JobScheduler``) by :func:`_schedule_reevaluation`. Returns whether the class has it now;
    False where a Snakemake without that method is installed (nothing is changed then)."""
    if scheduler_class is None:
        from snakemake.scheduling.job_scheduler import JobScheduler as scheduler_class
    current = getattr(scheduler_class, "_schedule_reevalutation", None)
    if current is None:
        return False
    if not getattr(current, _MARK, False):
        scheduler_class._schedule_reevalutation = _schedule_reevaluation
    return True
