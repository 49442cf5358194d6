"""Running one workflow job: its log, its thread count, and clear errors.

The scripts in ``workflow_scripts/`` call :func:`run_job` with a function from
:mod:`clusterability.stages`. Nothing here imports Snakemake.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from .errors import InputError
from .threads import limit_threads, set_thread_env

log = logging.getLogger("clusterability")


def run_job(log_path: str | None, threads: int, job: Callable[..., Any], /, **kwargs: Any) -> None:
    """Run ``job(**kwargs)`` with its log at ``log_path`` and BLAS/OpenMP pools of ``threads``.

    A job that sizes its own thread pools (training) takes ``threads`` among its ``kwargs``.

    A user mistake (:class:`InputError`) ends the job with one line on stderr
    (shown by Snakemake) and in the log, and exit status 1, no traceback.
    """
    set_thread_env(threads)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    log_file = open(log_path, "w") if log_path else None  # noqa: SIM115 - closed below
    if log_file is not None:
        handlers = [logging.StreamHandler(log_file)]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", handlers=handlers, force=True)
    start = time.perf_counter()
    try:
        with limit_threads(threads):
            job(**kwargs)
        log.info("done in %.1f s", time.perf_counter() - start)
    except InputError as exc:
        log.error("error: %s", exc)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except Exception:
        log.error("unexpected failure:\n%s", traceback.format_exc())
        raise
    finally:
        if log_file is not None:
            log_file.close()
