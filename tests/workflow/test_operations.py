"""Operating the workflow: resuming after kill -9, determinism, and the errors a user can make.

Every run here is Table 1 restricted to MNIST (plain and dropout, one network
each) at the `tiny` scale, on the synthetic mirror (tests/support/synthetic_mirror.py):
well under a minute on 2 cores.

Findings these tests pin down (Snakemake 9):

* After ``kill -9`` of the whole run, ``.snakemake/locks`` is stale: rerunning
  the same command stops with a ``LockException`` that names ``--unlock``;
  after ``snakemake --unlock`` (same arguments) the same command resumes. Jobs
  that were running are marked incomplete (``.snakemake/incomplete``) and, with
  ``rerun-incomplete`` from ``profiles/default``, rerun from scratch.
* Table 1 is restricted with ``--config 'tables={"table1": {"families": [...]}}'``
  (Snakemake deep-merges nested dicts into the config); every family has one
  run at the tiny scale.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from workflow_helpers import MIRROR, REPO, SNAKEMAKE, planned_jobs, snakemake, table_lines, tiny_config_args

pytestmark = pytest.mark.slow

MNIST_ONLY = {"table1": {"families": ["mnist_plain", "mnist_dropout"]}}
TARGET = "results/table1.csv"
TABLES = ("results/table1.csv",)
NETWORKS = [f"results/networks/mnist_{regime}/run0" for regime in ("plain", "dropout")]
# 2 networks x 1 weight set (Table 1: pruned) x ceil(4 shuffles / chunk size 2) chunks: the runs
# here use chunks of 2 (tiny has 4), so that a kill can land between two chunks of a network.
N_CHUNKS = 4
# The temporary name of clusterability.atomic: `.{stem}.{random}.tmp{suffix}`.
ATOMIC_TMP = re.compile(r"^\..+\.tmp(\.\w+)?$")
STALE_LOCK = "Directory cannot be locked"
TRAINING_FINISHED = re.compile(r"Finished jobid: \d+ \(Rule: train_network\)")
RUN_TIMEOUT = 300


@pytest.fixture(scope="module", autouse=True)
def _mirror(synthetic_mirror: Path) -> None:
    """Every run here reads the synthetic mirror (nothing outside the repository needed)."""
    global DEFAULT_MIRROR
    DEFAULT_MIRROR = synthetic_mirror


DEFAULT_MIRROR = MIRROR


def config_args(mirror: Path | None = None, **overrides: object) -> list[str]:
    tables = overrides.pop("tables", MNIST_ONLY)
    overrides.setdefault("clustering", {"chunk_size": 2})
    return tiny_config_args(mirror or DEFAULT_MIRROR, tables=tables, **overrides)


def run_args(*extra: str, **overrides: object) -> list[str]:
    return ["--cores", "2", *extra, *config_args(**overrides), "--", TARGET]


# -- running and killing ------------------------------------------------------


def start(workdir: Path, args: list[str], log: Path) -> subprocess.Popen:
    """Start Snakemake in its own session (process group), output to ``log``."""
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    with open(log, "w") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )


def _live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL Snakemake and every job it started; wait until all of them are gone."""
    pgid = proc.pid  # start_new_session: the group leader
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while _live_members(pgid):
        assert time.monotonic() < deadline, f"processes of group {pgid} survived SIGKILL"
        time.sleep(0.05)


def kill_when(workdir: Path, args: list[str], log: Path, condition: Callable[[], bool]) -> bool:
    """Run Snakemake and kill -9 its process group as soon as ``condition()`` holds.

    A stale lock left by an earlier kill stops the run at once; then this runs
    ``--unlock`` and starts again. Returns whether that was needed.
    """
    unlocked = False
    while True:
        proc = start(workdir, args, log)
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            while proc.poll() is None and not condition():
                assert time.monotonic() < deadline, f"timed out waiting; see {log}"
                time.sleep(0.02)
        finally:
            kill_group(proc)
        if condition():
            return unlocked
        output = log.read_text()
        assert not unlocked and STALE_LOCK in output, (
            f"the run ended (exit {proc.returncode}) before the kill point:\n{output[-4000:]}"
        )
        assert "--unlock" in output, "the stale-lock error must say how to remove the lock"
        snakemake(workdir, "--unlock", *config_args(), "--", TARGET)
        unlocked = True


def rerun(workdir: Path, args: list[str]) -> bool:
    """Rerun the same command to completion (after ``--unlock`` if the lock is stale); returns whether unlocked."""
    proc = snakemake(workdir, *args, check=False, timeout=RUN_TIMEOUT)
    if proc.returncode == 0:
        return False
    output = proc.stdout + proc.stderr
    assert STALE_LOCK in output and "--unlock" in output, output[-4000:]
    snakemake(workdir, "--unlock", *config_args(), "--", TARGET)
    snakemake(workdir, *args, timeout=RUN_TIMEOUT)
    return True


# -- what a killed run leaves -------------------------------------------------


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def check_outputs_parse(workdir: Path) -> list[Path]:
    """Every result file parses completely; returns the atomic temporaries left over.

    Files whose name starts with a dot are the temporaries of
    :mod:`clusterability.atomic` (no rule's output pattern matches them).
    """
    temporaries = []
    for path in files_under(workdir / "results") + files_under(workdir / "resources"):
        if path.name.startswith("."):
            if path.name != ".snakemake_timestamp":  # Snakemake's own marker of a directory output
                assert ATOMIC_TMP.match(path.name), f"unexpected hidden file {path}"
                temporaries.append(path)
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                assert npz.files, path
                for name in npz.files:
                    npz[name]  # decompresses and checks the CRC
        elif path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                assert archive.testzip() is None, path
        elif path.suffix == ".gz":
            assert path.parent.parent == workdir / "resources/raw", path
        elif path.suffix == ".tsv" and workdir / "results" / "benchmarks" in path.parents:
            # Snakemake's benchmark: of a finished job (workflow.costs reads its seconds): a header, whole rows.
            rows = [line.split("\t") for line in path.read_text().splitlines()]
            assert rows[0][0] == "s" and len(rows) > 1 and all(len(r) == len(rows[0]) for r in rows), path
            float(rows[1][0])
        else:
            raise AssertionError(f"unexpected file after the kill: {path}")
    return temporaries


def incomplete_files(workdir: Path) -> set[str]:
    """The existing files Snakemake reports as incomplete (dry run without the rerun-incomplete profile)."""
    proc = snakemake(workdir, "--workflow-profile", "none", "--dry-run", *config_args(), "--", TARGET, check=False)
    output = proc.stdout + proc.stderr
    if "IncompleteFilesException" not in output:
        assert proc.returncode == 0, output[-4000:]
        return set()
    assert proc.returncode != 0
    listed = output.split("Incomplete files:", 1)[1].splitlines()[1:]
    files = set()
    for line in listed:
        if not line.strip() or " " in line.strip():
            break
        files.add(line.strip())
    return files


def chunk_files(workdir: Path) -> list[Path]:
    return [p for p in (workdir / "results/clustering").rglob("chunk*.json") if not p.name.startswith(".")]


def planned(workdir: Path) -> dict[str, int]:
    """Rule -> jobs a dry run (with the default profile) would run."""
    return planned_jobs(workdir, *config_args(), "--", TARGET)


# -- tests ----------------------------------------------------------------------


def result_files(workdir: Path) -> set[str]:
    """The results' files, without Snakemake's job timings (``benchmark:`` files are not outputs of the DAG)."""
    benchmarks = workdir / "results" / "benchmarks"
    return {
        str(p.relative_to(workdir))
        for p in files_under(workdir / "results")
        if not p.name.startswith(".") and benchmarks not in p.parents
    }


def dag_outputs(workdir: Path) -> set[str]:
    """Every output file under results/ of the run's DAG (``snakemake --summary``)."""
    proc = snakemake(workdir, "--summary", *config_args(), "--", TARGET)
    rows = proc.stdout.split("output_file\t", 1)[1].splitlines()[1:]
    return {row.split("\t", 1)[0] for row in rows if row.startswith("results/")}


#: The folder of the run that test_resume_after_kill_9 killed and resumed (for the comparison below).
_RESUMED: dict[str, Path] = {}


def test_resume_after_kill_9(tmp_path: Path) -> None:
    """Killed twice (mid-training, mid-fan-out) and resumed, the run finishes with every output of its DAG.

    It runs while the session's tiny run is being built; test_resumed_run_equals_the_uninterrupted_one
    then compares its tables with that run's.
    """
    workdir = tmp_path / "run"
    workdir.mkdir()
    args = run_args()

    # 1. Kill -9 in the middle of training: one network has written its
    #    unpruned weights but not yet its pruned weights, model and metrics.
    def mid_training() -> bool:
        return any(
            (workdir / net / "weights_unpruned.npz").exists() and not (workdir / net / "metrics.json").exists()
            for net in NETWORKS
        )

    kill_when(workdir, args, tmp_path / "kill1.log", mid_training)
    assert list((workdir / "logs/train_network").rglob("*.log")), "a training job must have started"
    interrupted = [net for net in NETWORKS if not (workdir / net / "metrics.json").exists()]
    assert interrupted
    check_outputs_parse(workdir)
    incomplete = incomplete_files(workdir)
    for net in interrupted:
        for name in ("weights_unpruned.npz", "weights_pruned.npz", "model.keras"):
            if (workdir / net / name).exists():
                assert f"{net}/{name}" in incomplete, f"{net}/{name} looks complete; listed: {incomplete}"
    assert incomplete, "the unpruned weights of the interrupted training must be listed as incomplete"
    assert all((workdir / f).exists() for f in incomplete)

    # 2. Rerun the same command; kill -9 again in the middle of the shuffle fan-out,
    #    once Snakemake has recorded the reruns of the interrupted trainings as
    #    finished (it removes the incomplete marks before it logs "Finished jobid":
    #    with 2 cores a chunk of one network can start while the other still trains).
    kill2_log = tmp_path / "kill2.log"

    def mid_fan_out() -> bool:
        trainings_done = len(TRAINING_FINISHED.findall(kill2_log.read_text())) >= len(interrupted)
        return trainings_done and 1 <= len(chunk_files(workdir)) < N_CHUNKS

    kill_when(workdir, args, kill2_log, mid_fan_out)
    assert all((workdir / net / "metrics.json").exists() for net in NETWORKS)
    check_outputs_parse(workdir)
    incomplete = incomplete_files(workdir)
    assert all((workdir / f).exists() for f in incomplete)
    assert all(f.startswith("results/clustering/") for f in incomplete), incomplete
    done_chunks = [p for p in chunk_files(workdir) if str(p.relative_to(workdir)) not in incomplete]
    snakemake(workdir, "--unlock", *config_args(), "--", TARGET)
    jobs = planned(workdir)
    assert "train_network" not in jobs and "prepare_dataset" not in jobs and "fetch_dataset" not in jobs
    # Exactly the chunks that are missing or incomplete run again.
    assert jobs["shuffle_chunk"] == N_CHUNKS - len(done_chunks)

    # 3. The same command finishes; every output of the DAG is there, and nothing else but
    #    temporary names of killed writes.
    rerun(workdir, args)
    assert result_files(workdir) == dag_outputs(workdir)
    leftovers = [p for p in files_under(workdir / "results") if p.name.startswith(".")]
    assert all(ATOMIC_TMP.match(p.name) for p in leftovers), leftovers
    assert planned(workdir) == {}

    # Another master seed: other data splits and networks, so everything from the data on reruns.
    jobs = planned_jobs(workdir, *config_args(seed=1), "--", TARGET)
    assert jobs["prepare_dataset"] == 1 and jobs["train_network"] == 2 and jobs["table"] == 1
    _RESUMED["workdir"] = workdir


def test_resumed_run_equals_the_uninterrupted_one(tiny_run: Path) -> None:
    """The killed and resumed run gives the MNIST rows of the session's tiny run, byte for byte.

    That run is another DAG (every family), with other chunks (4 shuffles, there 2) and another
    library copy, and the same seeds: determinism as well as resumption.
    """
    if "workdir" not in _RESUMED:
        pytest.skip("test_resume_after_kill_9 did not finish (its own failure says why)")
    workdir = _RESUMED["workdir"]
    families = MNIST_ONLY["table1"]["families"]
    for table in TABLES:
        assert table_lines(workdir / table, families) == table_lines(tiny_run / table, families), table
        assert len(table_lines(workdir / table, families)) == 3


# -- errors ---------------------------------------------------------------------


def _empty_mirror(tmp_path: Path) -> Path:
    mirror = tmp_path / "empty_mirror"
    mirror.mkdir()
    return mirror


def _mirror_copy(tmp_path: Path, name: str) -> Path:
    """A copy of the synthetic mirror's MNIST files, with its MD5SUMS, to damage."""
    mirror = tmp_path / name
    shutil.copytree(DEFAULT_MIRROR / "mnist", mirror / "mnist")
    sums = [
        line for line in (DEFAULT_MIRROR / "MD5SUMS").read_text().splitlines() if line.split()[1].startswith("mnist/")
    ]
    (mirror / "MD5SUMS").write_text("\n".join(sums) + "\n")
    return mirror


def _missing_file_mirror(tmp_path: Path) -> Path:
    mirror = _mirror_copy(tmp_path, "missing_mirror")
    (mirror / "mnist/t10k-labels-idx1-ubyte.gz").unlink()
    return mirror


def _corrupt_mirror(tmp_path: Path) -> Path:
    """One flipped byte: the md5 no longer matches the checksum list."""
    mirror = _mirror_copy(tmp_path, "corrupt_mirror")
    bad = mirror / "mnist/t10k-labels-idx1-ubyte.gz"
    data = bytearray(bad.read_bytes())
    data[20] ^= 0xFF
    bad.write_bytes(bytes(data))
    return mirror


def _truncated_gzip_mirror(tmp_path: Path) -> Path:
    """A truncated gzip whose md5 the checksum list agrees with: the reader must say what is wrong."""
    mirror = _mirror_copy(tmp_path, "truncated_mirror")
    bad = mirror / "mnist/t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-200])
    lines = [
        f"{hashlib.md5(bad.read_bytes()).hexdigest()}  mnist/t10k-images-idx3-ubyte.gz"
        if line.endswith("mnist/t10k-images-idx3-ubyte.gz")
        else line
        for line in (mirror / "MD5SUMS").read_text().splitlines()
    ]
    (mirror / "MD5SUMS").write_text("\n".join(lines) + "\n")
    return mirror


def _bad(**overrides: object):
    return lambda tmp: ["--cores", "1", *config_args(**overrides), "--", TARGET]


# id -> (how to build the arguments, strings the output must contain)
ERROR_CASES = {
    "missing_dataset": (
        lambda tmp: ["--cores", "1", *config_args(_empty_mirror(tmp)), "--", TARGET],
        ["empty_mirror/mnist/train-images-idx3-ubyte.gz", "missing from the dataset mirror", "datasets.mirror"],
    ),
    "missing_one_file": (
        lambda tmp: ["--cores", "1", *config_args(_missing_file_mirror(tmp)), "--", TARGET],
        ["missing_mirror/mnist/t10k-labels-idx1-ubyte.gz", "missing from the dataset mirror"],
    ),
    "flipped_byte": (
        lambda tmp: ["--cores", "1", *config_args(_corrupt_mirror(tmp)), "--", TARGET],
        ["corrupt_mirror/mnist/t10k-labels-idx1-ubyte.gz", "md5", "corrupt_mirror/MD5SUMS"],
    ),
    "truncated_gzip": (
        lambda tmp: ["--cores", "1", *config_args(_truncated_gzip_mirror(tmp)), "--", TARGET],
        ["t10k-images-idx3-ubyte.gz"],
    ),
    "k_not_a_number": (_bad(tables={"table1": {"k": "four"}}), ["key tables.table1.k: 'four' is not of type"]),
    "k_zero": (_bad(tables={"table1": {"k": 0}}), ["key tables.table1.k: 0 is less than the minimum of 2"]),
    "negative_shuffles": (_bad(tables={"table1": {"shuffles": -5}}), ["key tables.table1.shuffles: -5"]),
    "chunk_size_zero": (_bad(clustering={"chunk_size": 0}), ["key clustering.chunk_size: 0"]),
    "unknown_dataset": (
        _bad(families={"mnist_plain": {"dataset": "imagenet"}}),
        ["families.mnist_plain.dataset: unknown dataset 'imagenet'", "datasets.synthetic"],
    ),
    "epochs_text": (_bad(training={"epochs": "ten"}), ["key training.epochs: 'ten' is not of type 'integer'"]),
    "negative_seed": (_bad(seed=-1), ["key seed: -1 is less than the minimum of 0"]),
    "unknown_key": (_bad(clustering={"chunksize": 2}), ["unknown key clustering.chunksize"]),
    "unknown_target": (
        lambda tmp: ["--cores", "1", *config_args(), "--", "some/unknown/target"],
        ["some/unknown/target", "No rule to produce"],
    ),
    "nan_weights": (None, ["nan_weights.npz", "kernel_1", "NaN"]),
}
# Cases whose raw files are fetched (and verified) before the error.
FETCHED = {"truncated_gzip"}


def _nan_weights_cli(tmp_path: Path) -> subprocess.CompletedProcess:
    rng = np.random.default_rng(0)
    kernels = [rng.normal(size=(30, 20)), rng.normal(size=(20, 10)), rng.normal(size=(10, 4))]
    kernels[1][3, 4] = np.nan
    np.savez(tmp_path / "nan_weights.npz", **{f"kernel_{i}": k.astype(np.float32) for i, k in enumerate(kernels)})
    cli = str(Path(sys.executable).with_name("clusterability"))
    cmd = [cli, "ncut", "nan_weights.npz", "--shuffles", "2", "--json", "out/result.json"]
    return subprocess.run(cmd, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors(case: str, tmp_path: Path) -> None:
    build_args, expected = ERROR_CASES[case]
    workdir = tmp_path / "work"
    workdir.mkdir()
    if build_args is None:
        proc = _nan_weights_cli(workdir)
    else:
        proc = snakemake(workdir, *build_args(tmp_path), check=False, timeout=RUN_TIMEOUT)
    output = proc.stdout + proc.stderr

    assert proc.returncode != 0, output[-4000:]
    for text in expected:
        if isinstance(text, re.Pattern):
            assert text.search(output), f"{text.pattern!r} not in:\n{output[-4000:]}"
        else:
            assert text in output, f"{text!r} not in:\n{output[-4000:]}"
    assert "Traceback" not in output, output[-4000:]

    # Nothing half-written: no result of the failed jobs, no temporary file anywhere.
    assert files_under(workdir / "results") == [], files_under(workdir / "results")
    raw = workdir / "resources/raw/mnist"
    if case not in FETCHED:
        assert not raw.exists() or not any(raw.iterdir())
    assert not (workdir / "out").exists()
    strays = [
        p
        for p in workdir.rglob("*")
        if ".snakemake" not in p.relative_to(workdir).parts[:1]
        and (p.name.startswith(".") or ".tmp" in p.name)
        and p.name != ".snakemake_timestamp"
    ]
    assert strays == [], strays


def test_unknown_scale_gives_one_line() -> None:
    """`make SCALE=huge` stops before Snakemake starts (which would print a traceback for a missing --configfile)."""
    # Run as a user would from a shell: under an outer `make test` (as in CI) the inherited MAKELEVEL
    # would make this make print "Entering directory" lines around the error.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    proc = subprocess.run(
        ["make", "-n", "table1", "SCALE=huge"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown scale 'huge'" in lines[0] and "quick, smoke, tiny" in lines[0], lines
