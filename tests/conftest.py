"""Fixtures shared by tests/unit and tests/workflow; the modules they import from sit in tests/support."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

from planted import PAPER_WIDTHS, build_glorot_mlp  # noqa: E402

from workflow_helpers import MIRROR  # noqa: E402

if TYPE_CHECKING:
    from forked_cli import ForkedCLI

    from synthetic_mirror import RawMirror


@pytest.fixture(scope="session")
def paper_mlp_kernels() -> list[np.ndarray]:
    """One randomly initialized 784-256x4-10 MLP (Glorot uniform, seed 0), shared by a few tests."""
    return build_glorot_mlp(PAPER_WIDTHS, seed=0)


@pytest.fixture
def write_weights(tmp_path: Path) -> Callable[..., Path]:
    """Write kernels (and any extra arrays) to an ``.npz`` under ``tmp_path`` and return its path."""

    def write(kernels: Sequence[np.ndarray], name: str = "net.npz", **extra: np.ndarray) -> Path:
        path = tmp_path / name
        arrays = {f"kernel_{i}": np.asarray(k) for i, k in enumerate(kernels)}
        arrays.update(extra)
        np.savez(path, **arrays)
        return path

    return write


#: Where the real mirror is looked for: unset, ``MIRROR``; ``none``, nowhere (to run the data tests as on a
#: fresh clone while ../shared exists); else that folder.
REAL_MIRROR_ENV = "CLUSTERABILITY_REAL_MIRROR"


def _real_mirror() -> Path | None:
    """The folder of the official raw files, or None when it is absent or hidden (``REAL_MIRROR_ENV``)."""
    setting = os.environ.get(REAL_MIRROR_ENV, "")
    if setting.lower() == "none":
        return None
    path = Path(setting) if setting else MIRROR
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The read-only shared mirror of the official raw files (skip when absent).

    Only for what the publishers' files alone have: their official md5s, their sizes and class
    counts. Everything else reads ``raw_mirror``, which is there on a fresh clone too.
    """
    real = _real_mirror()
    if real is None:
        pytest.skip(
            f"shared dataset mirror {MIRROR} is absent or hidden by {REAL_MIRROR_ENV} "
            "(needs the official MNIST/Fashion/CIFAR files)"
        )
    return real


@pytest.fixture(scope="session")
def synthetic_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small mirror in the publishers' formats with its own MD5SUMS (see synthetic_mirror.py)."""
    from synthetic_mirror import write_mirror

    return write_mirror(tmp_path_factory.mktemp("synthetic_mirror"))


@pytest.fixture(scope="session")
def raw_mirror(request: pytest.FixtureRequest) -> RawMirror:
    """The raw files the data tests read: the real mirror (official md5s) where it exists, else the
    synthetic one with its own MD5SUMS (``RawMirror.checksums``), so they run on a fresh clone."""
    from synthetic_mirror import RawMirror

    real = _real_mirror()
    if real is not None:
        return RawMirror(real, checksums=None)
    synthetic = request.getfixturevalue("synthetic_mirror")
    return RawMirror(synthetic, checksums=synthetic / "MD5SUMS")


@pytest.fixture(scope="session")
def forked_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkedCLI]:
    """The console script's ``main()`` in processes forked from one warm interpreter (tests/support/forked_cli.py),
    for test_cli.py and test_cli_hostile.py."""
    from forked_cli import CLI_ENV, ForkedCLI

    cli = ForkedCLI(CLI_ENV, tmp_path_factory.mktemp("forked_cli"))
    yield cli
    cli.close()


# -- the tiny run of both papers, shared by the workflow tests -----------------


@pytest.fixture(scope="session")
def lib_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the library, first on PYTHONPATH, so a test can edit it safely (with numba's
    compiled code: library_copy.py)."""
    from library_copy import copy_library

    return copy_library(tmp_path_factory.mktemp("lib"))


@pytest.fixture(scope="session")
def env(lib_copy: Path) -> dict[str, str]:
    """Environment of the Snakemake runs on the private library copy."""
    return {"PYTHONPATH": str(lib_copy)}


TINY_RUN_TIMEOUT_S = 3000


class _Background:
    """The tiny run (or the smoke run), started when the session starts and awaited by the tests that read it.

    Its Snakemake invocations (one per paper part, in one working directory:
    each later part reuses what the earlier ones built) run one after the
    other in a thread while the tests that do not need them run, so the two
    share the machine's cores. Separate invocations also keep each Snakemake
    scheduler small: its own bookkeeping grows faster than linearly with the
    jobs of one DAG.
    """

    def __init__(self, workdir: Path, commands: list[list[str]], env: dict[str, str], name: str = "tiny_run") -> None:
        import threading

        self.workdir = workdir
        self.name = name
        self.error: str | None = None
        self._proc: subprocess.Popen | None = None
        self._stopped = False
        self._lock = threading.Lock()  # stop() and the start of a part: one or the other first
        self._thread = threading.Thread(
            target=self._run, args=(commands, env), name=name.replace("_", "-"), daemon=True
        )
        self._thread.start()

    def log(self, i: int = 0) -> Path:
        """The output of the ``i``-th command."""
        return self.workdir / f"{self.name}_{i}.log"

    def _run(self, commands: list[list[str]], env: dict[str, str]) -> None:
        for i, cmd in enumerate(commands):
            log = self.log(i)
            with open(log, "w") as out:
                with self._lock:
                    if self._stopped:  # the session ended: start no further part (it would outlive pytest)
                        return
                    self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
                code = self._proc.wait()
            if code != 0 and not self._stopped:
                self.error = f"{' '.join(cmd[-1:])} failed ({code}):\n{log.read_text()[-4000:]}"
                return

    def result(self) -> Path:
        self._thread.join(TINY_RUN_TIMEOUT_S)
        if self._thread.is_alive():
            raise TimeoutError(f"the {self.name.replace('_', ' ')} did not finish in {TINY_RUN_TIMEOUT_S} s")
        if self.error is not None:
            raise AssertionError(f"the {self.name.replace('_', ' ')} failed: {self.error}")
        return self.workdir

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            running = self._proc is not None and self._proc.poll() is None
            if running:
                self._proc.terminate()
        if running:
            self._thread.join(60)


#: Unit tests of many seconds each (subprocesses by the dozen, TensorFlow in child processes, Snakemake
#: runs, the paper-scale dry runs, ImageNet-sized graphs): marked ``heavy`` below, so that ``make
#: test-fast`` (``-m "not slow and not tf and not heavy"``) leaves them to ``make test``. A file, or a
#: file and test function (all its parameters). On 2026-12-06, most of the time of the tests neither
#: slow nor tf (1,081 of 1,240 s in one run; docs/testing.md, "Test tiers").
HEAVY = (
    "test_cli.py::test_draw_writes_the_clustered_network",
    "test_code_dependencies.py::test_code_params_move_with_logic_only",
    "test_dag_graph.py::test_dag_clustering_matches_scikit_learn_and_shuffles_keep_the_wiring",
    "test_dag_graph.py::test_import_pretrained_writes_wired_weights",
    "test_dag_graph.py::test_torchvision_models_at_random_init",
    "test_experiments.py::test_bad_config_gives_one_line_naming_the_key",
    "test_experiments.py::test_dry_run_stops_at_a_missing_mirror_before_any_job",
    "test_keras_untrusted.py",
    "test_lint.py::test_paper_scale_dag",
    "test_scorecard.py::test_snakemake_scorecard_on_an_empty_work_folder",  # the smoke run runs rule scorecard
    "test_shuffles.py::test_shuffles_in_two_processes_equal_shuffles_in_one",
)


#: Tests that mostly wait (on the one-node SLURM cluster's scheduling and the executor's status polls; the
#: cluster's jobs do use CPU, about 50 s for the tiny DAG's): run first, while the tiny run has jobs enough for
#: both cores, so that their waits cost nothing and the tests that need a core run later, when the tiny run's
#: parts end with fewer jobs than cores (docs/testing.md, "How long it takes").
WAITING = (
    "test_slurm_cluster.py",
    "test_slurm_workflow.py::test_tiny_dag_on_slurm",
)


def _listed(item: pytest.Item, names: tuple[str, ...]) -> bool:
    """Whether ``item``'s file, or its file and test function (all its parameters), is in ``names``."""
    function = getattr(item, "originalname", item.name)
    return item.path.name in names or f"{item.path.name}::{function}" in names


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark the tests of ``HEAVY`` ``heavy`` (before ``-m`` selects tests)."""
    if _listed(item, HEAVY):
        item.add_marker(pytest.mark.heavy)


@pytest.fixture(autouse=True)
def _tensorflow_only_in_tf_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """In a selection without the ``tf`` tests (``make test-fast``), a test that imports TensorFlow in the
    test process fails: it would cost the fast tier seconds of import, so it belongs under ``tf``."""
    before = "tensorflow" in sys.modules
    yield
    excluded = "not tf" in (request.config.getoption("markexpr") or "")
    if excluded and not before and "tensorflow" in sys.modules and request.node.get_closest_marker("tf") is None:
        pytest.fail(f"{request.node.nodeid} imported TensorFlow in the test process: mark it pytest.mark.tf")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that read the tiny run go last, so the others run while it is being built; those of
    ``WAITING`` go first.

    Last of the hooks: after ``-m`` and ``-k`` have deselected tests, so the tiny run starts only
    if a test still selected reads it (never in ``make test-fast``). In a selection without the ``tf`` tests,
    collection must not have imported TensorFlow.
    """

    if "not tf" in (config.getoption("markexpr") or "") and "tensorflow" in sys.modules:
        raise pytest.UsageError(
            "collecting the tests imported TensorFlow (seconds of make test-fast): a test module imports it at its "
            "top; skip with tests/support/installed.py's require() and import it in the tests"
        )

    def reads(item: pytest.Item, run: str) -> bool:
        return run in getattr(item, "fixturenames", ())

    needs = [item for item in items if reads(item, "tiny_run")]
    smoke = [item for item in items if reads(item, "smoke_run") and not reads(item, "tiny_run")]
    others = [item for item in items if not reads(item, "tiny_run") and not reads(item, "smoke_run")]
    waiting = [item for item in others if _listed(item, WAITING)]
    items[:] = waiting + [item for item in others if not _listed(item, WAITING)] + smoke + needs
    config.stash[_NEEDS_TINY_RUN] = bool(needs)
    config.stash[_NEEDS_SMOKE_RUN] = any(reads(item, "smoke_run") for item in items)


_NEEDS_TINY_RUN = pytest.StashKey[bool]()
_NEEDS_SMOKE_RUN = pytest.StashKey[bool]()


@pytest.fixture(scope="session", autouse=True)
def _tiny_run_in_background(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Background | None]:
    """Start the tiny run at the start of the session if a selected test reads it (see ``tiny_run``)."""
    if os.environ.get("CLUSTERABILITY_TINY_RUN") or not request.config.stash.get(_NEEDS_TINY_RUN, False):
        yield None
        return
    from workflow_helpers import TINY_TARGETS, snakemake_command, tiny_config_args

    mirror = request.getfixturevalue("synthetic_mirror")
    env = dict(os.environ, PYTHONUNBUFFERED="1", **request.getfixturevalue("env"))
    workdir = tmp_path_factory.mktemp("tiny")
    config = tiny_config_args(mirror)
    # Two jobs at a time: with a third (--cores 3 --max-threads 2) the foreground tests, which run one at a
    # time, became the critical path (docs/testing.md, 747 s against 649-701 s).
    commands = [snakemake_command(workdir, "--cores", "2", *config, "--", target) for target in TINY_TARGETS]
    background = _Background(workdir, commands, env)
    yield background
    background.stop()


@pytest.fixture(scope="session")
def tiny_run(_tiny_run_in_background: _Background | None) -> Path:
    """All of P1 and P2 (`snakemake paper1`, `paper2_mlp`, `paper2_cnn`, `paper2_promote`) at the tiny scale
    on the synthetic mirror.

    Made once per session, in the background from its start: test_workflow.py
    checks its tables, figures and reruns, test_report.py its report,
    test_operations.py and test_slurm_workflow.py compare their own runs with it.
    """
    reuse = os.environ.get("CLUSTERABILITY_TINY_RUN")  # a finished run's folder, to iterate on its tests
    if reuse:
        return Path(reuse)
    assert _tiny_run_in_background is not None, "pytest_collection_modifyitems saw no test that reads tiny_run"
    return _tiny_run_in_background.result()


# -- the smoke run: every rule and plot kind once (make test-fast) ---------------


@pytest.fixture(scope="session", autouse=True)
def _smoke_run_in_background(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Background | None]:
    """Start the smoke run at the start of the session if a selected test reads it (see ``smoke_run``)."""
    if not request.config.stash.get(_NEEDS_SMOKE_RUN, False):
        yield None
        return
    from workflow_helpers import SMOKE, SMOKE_TARGET, scale_config_args, snakemake_command

    mirror = request.getfixturevalue("synthetic_mirror")
    workdir = tmp_path_factory.mktemp("smoke")
    # Beside the tiny run (make test) the smoke run is not the critical path: one job at a time.
    cores = "1" if request.config.stash.get(_NEEDS_TINY_RUN, False) else "2"
    command = snakemake_command(workdir, "--cores", cores, *scale_config_args(SMOKE, mirror), "--", SMOKE_TARGET)
    background = _Background(workdir, [command], dict(os.environ, PYTHONUNBUFFERED="1"), name="smoke_run")
    yield background
    background.stop()


@pytest.fixture(scope="session")
def smoke_run(_smoke_run_in_background: _Background | None) -> _Background:
    """`snakemake smoke` at the smoke scale (config/scales/smoke.yaml) on the synthetic mirror, finished.

    Started in the background at the start of the session, on the repository's library (its numba
    cache is reused from run to run); tests/workflow/test_smoke.py reads it.
    """
    assert _smoke_run_in_background is not None, "pytest_collection_modifyitems saw no test that reads smoke_run"
    _smoke_run_in_background.result()
    return _smoke_run_in_background
