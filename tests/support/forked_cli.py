"""The ``clusterability`` console script, run in processes forked from one warm interpreter.

A fresh interpreter for each of the hostile-input cases (tests/unit/test_cli_hostile.py) spends about
a second importing numpy, SciPy and numba and loading numba's compiled functions before it reads its
file: most of those tests' time. Here one interpreter (the *zygote*, started once per session with the
environment a case runs in) imports the script's module and clusters a small network once; each case
is then a process forked from it that sets ``sys.argv``, changes to the case's folder, sends its
stdout and stderr to files and runs ``main()`` as the console script does. The case still runs in a
process of its own: what it prints, its exit status and the files it leaves are its own, an
exception that escapes ``main()`` prints its traceback and exits 1 as the interpreter would, and a
case that hangs is killed. What it does not repeat is the interpreter's start and the imports
(``test_cli.py``'s version, console-script and separate-process tests and the read-only-mount cases
run the installed script itself).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
from pathlib import Path

#: The installed console script (its path is the ``sys.argv[0]`` of a forked case).
SCRIPT = Path(sys.executable).with_name("clusterability")

#: The console script's environment in the CLI tests: one BLAS thread, strict UTF-8 output.
CLI_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8:strict"}

_ZYGOTE = r"""
import os, pickle, struct, sys, traceback

import numpy as np

from clusterability.cli import main
from clusterability.core.build import mlp_graph
from clusterability.core.measure import cluster_network, shuffle_ncuts

# Warm, as a process that clustered once: numba's functions loaded (the children inherit them).
kernels = [np.random.default_rng(0).random((8, 8)) for _ in range(3)]
cluster_network(mlp_graph(kernels), 4, seed=0)
shuffle_ncuts(mlp_graph(kernels), 4, seed=0, method="layer", indices=[0])

requests, replies = os.fdopen(int(sys.argv[1]), "rb"), os.fdopen(int(sys.argv[2]), "wb")


def send(*values):
    replies.write(struct.pack(f"{len(values)}i", *values))
    replies.flush()


while header := requests.read(4):
    request = pickle.loads(requests.read(struct.unpack("i", header)[0]))
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            requests.close()
            replies.close()
            for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
            os.chdir(request["cwd"])
            sys.argv = list(request["argv"])
            try:
                code = main()
            except SystemExit as exit:
                code = exit.code
            if code is None:
                code = 0
            elif not isinstance(code, int):
                print(code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    send(pid)
    send(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


class ForkedCLI:
    """Runs ``main()`` of ``clusterability.cli`` in processes forked from one zygote (see the module)."""

    def __init__(self, env: dict[str, str], scratch: Path) -> None:
        self._scratch = scratch
        requests_r, self._requests = os.pipe()
        self._replies, replies_w = os.pipe()
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE, str(requests_r), str(replies_w)],
            pass_fds=(requests_r, replies_w),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        os.close(requests_r)
        os.close(replies_w)
        self._count = 0

    def _read(self, timeout: float) -> int:
        ready, _, _ = select.select([self._replies], [], [], timeout)
        if not ready:
            raise TimeoutError
        data = os.read(self._replies, 4)
        if len(data) < 4:
            raise RuntimeError(f"the zygote ended (exit status {self._proc.wait()})")
        return struct.unpack("i", data)[0]

    def run(self, argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[bytes]:
        """Run ``argv`` (``argv[0]`` the script's path, as ``sys.argv``) in ``cwd``; kill it after ``timeout`` s.

        Its exit status and the bytes it wrote to stdout and stderr, as ``subprocess.run`` gives them."""
        self._count += 1
        out, err = (self._scratch / f"case{self._count}.{name}" for name in ("stdout", "stderr"))
        request = pickle.dumps({"argv": argv, "cwd": str(cwd), "stdout": str(out), "stderr": str(err)})
        os.write(self._requests, struct.pack("i", len(request)) + request)
        pid = self._read(60)
        try:
            code = self._read(timeout)
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            self._read(60)
            raise
        return subprocess.CompletedProcess(argv, code, out.read_bytes(), err.read_bytes())

    def close(self) -> None:
        os.close(self._requests)
        self._proc.wait(60)
        os.close(self._replies)
