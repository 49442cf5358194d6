"""The frame of every workflow job: its log, its thread count, and one-line errors.

A script in ``workflow_scripts/`` runs its body inside :func:`script_job`::

    with script_job(snakemake):
        from clusterability.core.measure import cluster_network   # imported here: see below
        ...

* The process's stdout and stderr (file descriptors 1 and 2) go to the rule's
  log, so everything a library prints, TensorFlow's C++ log lines included,
  lands there and not on Snakemake's terminal.
* Thread pools are sized from the rule's ``threads``: the environment
  variables read by BLAS, OpenMP, numba and TensorFlow when they load (hence
  the imports inside the block), and threadpoolctl limits for pools already
  loaded.
* A user mistake (:class:`~clusterability.errors.InputError`) ends the job
  with exit status 1 and one line, on the terminal and in the log, no
  traceback. Any other exception (a bug) is logged with its traceback, and the
  terminal gets one line that points to the log.

Nothing here imports Snakemake: the ``snakemake`` object of a script is passed in.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from clusterability.errors import InputError
from clusterability.threads import limit_threads, set_thread_env

log = logging.getLogger("clusterability")


@contextlib.contextmanager
def _output_to(path: str | None) -> Iterator[Any]:
    """Point fds 1 and 2 at ``path`` (if any); yield a stream on the original stderr."""
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    saved = (os.dup(1), os.dup(2))
    log_file = open(path, "w", buffering=1) if path else None  # noqa: SIM115 - closed below
    try:
        if log_file is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(log_file.fileno(), 1)
            os.dup2(log_file.fileno(), 2)
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        if log_file is not None:
            log_file.close()
        terminal.close()


@contextlib.contextmanager
def script_job(smk: Any) -> Iterator[logging.Logger]:
    """Run the body of a workflow script as one job (see the module docstring)."""
    threads = int(smk.threads)
    log_path = smk.log[0] if len(smk.log) else None
    set_thread_env(threads)
    with _output_to(log_path) as terminal:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr, force=True)
        start = time.perf_counter()
        try:
            with limit_threads(threads):
                yield log
            log.info("done in %.1f s", time.perf_counter() - start)
        except InputError as exc:
            log.error("error: %s", exc)
            print(f"error: {exc}", file=terminal)
            raise SystemExit(1) from None
        except Exception as exc:
            log.exception("unexpected failure")
            print(f"error: {type(exc).__name__}: {exc} (traceback in {log_path})", file=terminal)
            raise SystemExit(1) from None
