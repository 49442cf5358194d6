"""Hostile input to the ``clusterability ncut`` and ``draw`` console scripts.

Every case runs the entry point in a process of its own in ``tmp_path`` (forked from
one interpreter that imported it, tests/support/forked_cli.py; under a wrapper, the
installed script afresh) and
must end in a valid result (exit 0; ``ncut``: the JSON written and strict --
no ``NaN`` or ``Infinity`` --, a finite n-cut; ``draw``: the image written) or
in exit status 2 with exactly one line on stderr naming the file or option at
fault. Never a traceback, never a hang, never a control character or an
undecodable byte in what it prints (paths with newlines, escape sequences or
bytes that are not UTF-8 are shown escaped; stdout is strict UTF-8 here), and
never a file left behind (no partial JSON, no ``.*.tmp*`` temporary files, no
half-created folders), nor an input overwritten.

A read-only file system is made with a private mount namespace
(``unshare --user --map-root-user --mount``, then a read-only bind mount of the
output folder); the case skips where the kernel allows no user namespaces.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from forked_cli import CLI_ENV, SCRIPT, ForkedCLI
from planted import build_planted_mlp

from clusterability.core.build import mlp_graph
from clusterability.core.measure import cluster_network
from clusterability.core.ncut import ncut
from clusterability.core.spectral import spectral_clusters

TIMEOUT_S = 120
WIDTHS = (16, 16, 16, 16)  # 64 neurons in 4 planted modules


@dataclass
class Case:
    """One run of ``clusterability ncut``: its inputs and what must come out."""

    weights: Path
    output: Path | None  # the --json file (draw: the -o image)
    culprits: tuple[str, ...] = ()  # empty: a valid result; else strings the error line must name
    k: str = "4"
    shuffles: str = "3"
    check: Callable[[dict], None] | None = None  # extra checks of a valid result
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    wrapper: tuple[str, ...] = ()  # argv prefix the command runs under (e.g. a private read-only mount)
    command: str = "ncut"  # or "draw"
    options: tuple[str, ...] = ()  # more arguments (e.g. --layers)
    printed: tuple[str, ...] = ()  # strings a valid result's stdout must show (e.g. an escaped path)


CASES: dict[str, Callable[[Path], Case]] = {}


def _case(name: str) -> Callable[[Callable[[Path], Case]], Callable[[Path], Case]]:
    def register(setup: Callable[[Path], Case]) -> Callable[[Path], Case]:
        CASES[name] = setup
        return setup

    return register


def _planted() -> list[np.ndarray]:
    return build_planted_mlp(WIDTHS, 4, seed=0)[0]


def _npz(tmp: Path, kernels: list[np.ndarray], name: str = "net.npz", **extra: np.ndarray) -> Path:
    path = tmp / name
    with open(path, "wb") as fh:  # exactly that name (numpy appends .npz to other names)
        np.savez(fh, **{f"kernel_{i}": k for i, k in enumerate(kernels)}, **extra)
    return path


def _valid(tmp: Path, kernels: list[np.ndarray] | None = None, **kw: object) -> Case:
    return Case(_npz(tmp, _planted() if kernels is None else kernels), tmp / "out.json", **kw)


def _refused(tmp: Path, weights: Path, *culprits: str, output: Path | None = None, **kw: object) -> Case:
    return Case(weights, output or tmp / "out.json", culprits or (str(weights),), **kw)


def _same_ncut_as_scaled_down(base: list[np.ndarray]) -> Callable[[dict], None]:
    """A check that the result is that of ``base`` (the same network at an ordinary scale)."""
    expected = cluster_network(mlp_graph(base), 4, seed=0)

    def check(result: dict) -> None:
        assert result["ncut"] == pytest.approx(expected.ncut, rel=1e-6)
        assert result["labels"] == expected.labels.tolist()
        assert all(math.isfinite(s) for s in result["shuffle_ncuts"])

    return check


# --- the weights file -------------------------------------------------------------------------------------------


@_case("missing_file")
def _(tmp: Path) -> Case:
    return _refused(tmp, tmp / "absent.npz")


@_case("directory")
def _(tmp: Path) -> Case:
    (tmp / "weights.npz").mkdir()
    return _refused(tmp, tmp / "weights.npz")


@_case("empty_file")
def _(tmp: Path) -> Case:
    (tmp / "empty.npz").write_bytes(b"")
    return _refused(tmp, tmp / "empty.npz")


@_case("text_file_named_npz")
def _(tmp: Path) -> Case:
    (tmp / "text.npz").write_text("kernel_0 = [[1, 2], [3, 4]]\n")
    return _refused(tmp, tmp / "text.npz")


@_case("pickled_object_array")
def _(tmp: Path) -> Case:
    path = tmp / "pickle.npz"
    np.savez(path, kernel_0=np.array([[None, 1.0], [2.0, 3.0]], dtype=object))
    return _refused(tmp, path)


@_case("shapes_do_not_chain")
def _(tmp: Path) -> Case:
    return _refused(tmp, _npz(tmp, [np.ones((8, 6)), np.ones((5, 4))]))


@_case("1d_kernel")
def _(tmp: Path) -> Case:
    return _refused(tmp, _npz(tmp, [np.ones(8)]))


@_case("nan_weights")
def _(tmp: Path) -> Case:
    kernels = _planted()
    kernels[1][3, 5] = np.nan
    return _refused(tmp, _npz(tmp, kernels))


@_case("inf_weights")
def _(tmp: Path) -> Case:
    kernels = _planted()
    kernels[2][0, 0] = -np.inf
    return _refused(tmp, _npz(tmp, kernels))


@_case("all_zero_network")
def _(tmp: Path) -> Case:
    return _refused(tmp, _npz(tmp, [np.zeros_like(k) for k in _planted()]))


@_case("all_zero_layer")  # valid: two components, the inputs' side and the outputs' side
def _(tmp: Path) -> Case:
    kernels = _planted()
    kernels[1][:] = 0.0
    return _valid(tmp, kernels)


@_case("disconnected_component")  # valid: module 0 cut off from the rest
def _(tmp: Path) -> Case:
    kernels = _planted()
    for k in kernels:
        k[:4, 4:] = 0.0
        k[4:, :4] = 0.0
    return _valid(tmp, kernels)


@_case("int32_kernels")  # accepted, converted to float64 (weights module docstring)
def _(tmp: Path) -> Case:
    return _valid(tmp, [np.round(k * 100).astype(np.int32) for k in _planted()])


@_case("float16_kernels")  # accepted, converted to float64
def _(tmp: Path) -> Case:
    return _valid(tmp, [k.astype(np.float16) for k in _planted()])


@_case("near_float32_max")  # n-cut is scale-free: the result of the same network scaled down
def _(tmp: Path) -> Case:
    base = [k.astype(np.float64) for k in _planted()]
    top = max(float(np.abs(k).max()) for k in base)
    huge = [(k * (3.4e38 / top)).astype(np.float32) for k in base]
    return _valid(tmp, huge, check=_same_ncut_as_scaled_down([k.astype(np.float64) / 3.4e38 for k in huge]))


@_case("near_float64_max")
def _(tmp: Path) -> Case:
    base = [k.astype(np.float64) for k in _planted()]
    top = max(float(np.abs(k).max()) for k in base)
    return _valid(tmp, [k * (1.7e308 / top) for k in base], check=_same_ncut_as_scaled_down(base))


@_case("weights_is_a_fifo")  # refused without opening it (opening would block)
def _(tmp: Path) -> Case:
    os.mkfifo(tmp / "pipe.npz")
    return _refused(tmp, tmp / "pipe.npz")


# --- the options ------------------------------------------------------------------------------------------------


@_case("k_0")
def _(tmp: Path) -> Case:
    return _refused(tmp, _npz(tmp, _planted()), "--k", k="0")


@_case("k_1")  # valid: one cluster, nothing cut; every shuffle ties, so no Z-score: null, not NaN
def _(tmp: Path) -> Case:
    def check(result: dict) -> None:
        assert result["ncut"] == pytest.approx(0.0, abs=1e-12) and result["cluster_sizes"] == [64]
        assert result["shuffle_ncuts"] == [0.0] * 3 and result["z_score"] is None

    return _valid(tmp, k="1", check=check)


@_case("k_negative")
def _(tmp: Path) -> Case:
    return _refused(tmp, _npz(tmp, _planted()), "--k", k="-3")


@_case("k_above_connected_neurons")
def _(tmp: Path) -> Case:
    kernels = _planted()
    kernels[0][:, 8:] = 0.0  # 8 hidden neurons and everything after them still connected: 16 + 8 + 16 + 16 = 56
    kernels[1][8:, :] = 0.0
    weights = _npz(tmp, kernels)
    return _refused(tmp, weights, "--k", str(weights), k="57")


@_case("shuffles_negative")
def _(tmp: Path) -> Case:
    return _refused(tmp, _npz(tmp, _planted()), "--shuffles", shuffles="-1")


@_case("shuffles_negative_with_newline")  # int() accepts the newline; the message must not split
def _(tmp: Path) -> Case:
    return _refused(tmp, _npz(tmp, _planted()), "--shuffles", shuffles="-1\n")


# --- names: newlines, escape sequences, bytes that are not UTF-8 ------------------------------------------------


@_case("weights_name_with_newline")
def _(tmp: Path) -> Case:
    return _refused(tmp, tmp / "ab\nsent.npz", "ab\\nsent.npz")


@_case("weights_name_with_line_separator")  # str.splitlines splits at U+2028 too
def _(tmp: Path) -> Case:
    return _refused(tmp, tmp / "ab\u2028sent.npz", "ab\\u2028sent.npz")


@_case("weights_name_with_escape_sequences")  # valid: printed escaped, the terminal untouched
def _(tmp: Path) -> Case:
    weights = _npz(tmp, _planted(), name="net\x1b[2J\r\t.npz")
    return Case(weights, tmp / "out.json", printed=("net\\x1b[2J\\r\\t.npz: mlp",))


@_case("weights_name_not_utf8")  # valid: the byte 0xff shown as \xff, in the JSON too
def _(tmp: Path) -> Case:
    def check(result: dict) -> None:
        assert result["weights"].endswith("n\\xffet.npz")

    weights = _npz(tmp, _planted(), name=os.fsdecode(b"n\xffet.npz"))
    return Case(weights, tmp / "out.json", check=check, printed=("n\\xffet.npz: mlp",))


@_case("missing_weights_name_not_utf8")
def _(tmp: Path) -> Case:
    return _refused(tmp, tmp / os.fsdecode(b"\xfe\xffabsent.npz"), "\\xfe\\xffabsent.npz")


@_case("json_name_with_newline")  # valid: a legal file name
def _(tmp: Path) -> Case:
    case = _valid(tmp)
    case.output = tmp / "out\nput.json"
    return case


@_case("json_name_not_utf8")
def _(tmp: Path) -> Case:
    case = _valid(tmp)
    case.output = tmp / os.fsdecode(b"out\xff.json")
    return case


@_case("json_under_a_file_named_with_newline")
def _(tmp: Path) -> Case:
    (tmp / "pl\nain").write_text("a file\n")
    return _refused(
        tmp, _npz(tmp, _planted()), "pl\\nain/out.json", "the --json file", output=tmp / "pl\nain" / "out.json"
    )


# --- an output that is an input ---------------------------------------------------------------------------------


@_case("json_is_the_weights")
def _(tmp: Path) -> Case:
    weights = _npz(tmp, _planted())
    return _refused(tmp, weights, "--json is the weights file", str(weights), output=weights)


@_case("json_is_a_hard_link_to_the_weights")
def _(tmp: Path) -> Case:
    weights = _npz(tmp, _planted())
    os.link(weights, tmp / "out.json")
    return _refused(tmp, weights, "--json is the weights file", str(tmp / "out.json"))


# --- clusterability draw ----------------------------------------------------------------------------------------


def _draw(case: Case, output: str = "net.png") -> Case:
    case.command = "draw"
    case.output = case.weights.parent / output
    return case


@_case("draw_valid")
def _(tmp: Path) -> Case:
    return _draw(_valid(tmp))


@_case("draw_weights_name_not_utf8")  # valid; the name in the image's title and on stdout escaped
def _(tmp: Path) -> Case:
    weights = _npz(tmp, _planted(), name=os.fsdecode(b"n\xffet.npz"))
    return _draw(Case(weights, None), os.fsdecode(b"\xffnet.png"))


@_case("draw_output_is_the_weights")  # weights saved under an image's name are still read as .npz
def _(tmp: Path) -> Case:
    weights = _npz(tmp, _planted(), name="net.png")
    return _draw(_refused(tmp, weights, "-o is the weights file", str(weights)), "net.png")


@_case("draw_output_name_with_newline_and_bad_suffix")
def _(tmp: Path) -> Case:
    return _draw(_refused(tmp, _npz(tmp, _planted()), "net\\n.jpg: -o must end in"), "net\n.jpg")


@_case("draw_output_under_a_file_not_utf8")
def _(tmp: Path) -> Case:
    (tmp / os.fsdecode(b"\xff")).write_text("a file\n")
    refused = _refused(tmp, _npz(tmp, _planted()), "\\xff/net.png: cannot create the -o file")
    return _draw(refused, os.fsdecode(b"\xff/net.png"))


# --- --layers (PyTorch state dicts) -----------------------------------------------------------------------------


def _state_dict(tmp: Path, modules: dict[str, np.ndarray]) -> Path:
    """A ``.safetensors`` state dict of Linear modules (weights ``(out, in)``, as torch stores them)."""
    save_file = pytest.importorskip("safetensors.numpy").save_file
    path = tmp / "model.safetensors"
    save_file({f"{name}.weight": w.astype(np.float32) for name, w in modules.items()}, str(path))
    return path


def _planted_modules() -> dict[str, np.ndarray]:
    """The planted MLP as modules whose names do not sort in forward order (z, y, x)."""
    return {name: k.T for name, k in zip(("z", "y", "x"), _planted())}


@_case("layers_in_forward_order")  # valid: the planted network
def _(tmp: Path) -> Case:
    return Case(_state_dict(tmp, _planted_modules()), tmp / "out.json", options=("--layers", "z,y,x"))


@_case("layers_for_an_npz")
def _(tmp: Path) -> Case:
    return _refused(tmp, _npz(tmp, _planted()), "--layers", options=("--layers", "a,b"))


@_case("layers_empty")
def _(tmp: Path) -> Case:
    return _refused(tmp, _state_dict(tmp, _planted_modules()), "--layers", options=("--layers", " , "))


@_case("layers_unknown_module_with_newline")
def _(tmp: Path) -> Case:
    weights = _state_dict(tmp, _planted_modules())
    return _refused(tmp, weights, str(weights), "'q\\nq'", options=("--layers", "z,y,q\nq"))


@_case("layers_name_a_module_twice")  # square kernels: z, y, y would chain, and give the wrong network
def _(tmp: Path) -> Case:
    weights = _state_dict(tmp, _planted_modules())
    return _refused(tmp, weights, str(weights), "--layers", "'y'", options=("--layers", "z,y,y"))


@_case("layers_leave_out_a_module")  # z, y chain, but x's weights would be silently dropped
def _(tmp: Path) -> Case:
    weights = _state_dict(tmp, _planted_modules())
    return _refused(tmp, weights, str(weights), "--layers", "'x'", options=("--layers", "z,y"))


# --- the --json path --------------------------------------------------------------------------------------------


@_case("json_into_missing_folder")  # created, as atomic_path does
def _(tmp: Path) -> Case:
    case = _valid(tmp)
    case.output = tmp / "new" / "deeper" / "out.json"
    return case


@_case("json_parent_is_a_file")
def _(tmp: Path) -> Case:
    (tmp / "plain").write_text("a file\n")
    case = _valid(tmp)
    case.output = tmp / "plain" / "out.json"
    case.culprits = (str(case.output),)
    return case


@_case("json_is_a_directory")
def _(tmp: Path) -> Case:
    (tmp / "out.json").mkdir()
    return _refused(tmp, _npz(tmp, _planted()), str(tmp / "out.json"))


@_case("json_read_only_file")  # refused by its mode bits, so even for root
def _(tmp: Path) -> Case:
    (tmp / "out.json").write_text("{}\n")
    (tmp / "out.json").chmod(0o444)
    return _refused(tmp, _npz(tmp, _planted()), str(tmp / "out.json"))


@_case("json_immutable_file")
def _(tmp: Path) -> Case:
    target = tmp / "out.json"
    target.write_text("{}\n")
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not installed")
    made = subprocess.run([chattr, "+i", str(target)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make a file immutable here: {made.stderr.strip()}")
    case = _refused(tmp, _npz(tmp, _planted()), str(target))
    case.cleanup.append(lambda: subprocess.run([chattr, "-i", str(target)], check=True))
    return case


_READ_ONLY_MOUNT = ('d=$1; shift; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" && exec "$@"', "sh")


def _read_only_mount(folder: Path) -> tuple[str, ...]:
    """An argv prefix that runs a command with ``folder`` on a read-only file system (skips where impossible)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not installed")
    prefix = (unshare, "--user", "--map-root-user", "--mount", "sh", "-c", *_READ_ONLY_MOUNT, str(folder))
    probe = subprocess.run([*prefix, "sh", "-c", f"! touch {folder}/probe 2>/dev/null"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a read-only file system here: {probe.stderr.strip() or 'it stayed writable'}")
    return prefix


@_case("json_on_read_only_file_system")
def _(tmp: Path) -> Case:
    folder = tmp / "ro"
    folder.mkdir()
    case = _refused(tmp, _npz(tmp, _planted()), str(folder / "out.json"))
    case.output = folder / "out.json"
    case.wrapper = _read_only_mount(folder)
    return case


@_case("json_is_a_fifo")  # an atomic rename would replace the pipe itself
def _(tmp: Path) -> Case:
    os.mkfifo(tmp / "out.json")
    return _refused(tmp, _npz(tmp, _planted()), str(tmp / "out.json"))


@_case("json_long_name")  # 250 characters: the final name fits, and so must the temporary one
def _(tmp: Path) -> Case:
    case = _valid(tmp)
    case.output = tmp / ("r" * 245 + ".json")
    return case


@_case("json_name_too_long")
def _(tmp: Path) -> Case:
    case = _valid(tmp)
    case.output = tmp / ("r" * 300 + ".json")
    case.culprits = (str(case.output),)
    return case


# --- the test ---------------------------------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for anything but a regular file, e.g. a folder or a pipe)."""
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


@contextlib.contextmanager
def _cleaned(case: Case) -> Iterator[Case]:
    try:
        yield case
    finally:
        for undo in case.cleanup:
            undo()


def _no_nan(constant: str) -> float:
    raise AssertionError(f"the JSON holds {constant}, which strict parsers refuse")


def _argv(case: Case) -> list[str]:
    """The command line of ``case``: ``ncut`` with --json, or ``draw`` with -o."""
    argv = [*case.wrapper, str(SCRIPT), case.command, str(case.weights), "--k", case.k]
    if case.command == "ncut":
        argv += ["--shuffles", case.shuffles, "--shuffle-method", "layer", "--seed", "0", "--solver", "fast"]
        argv += ["--json", str(case.output)] if case.output is not None else []
    else:
        argv += ["--seed", "0", "--solver", "fast", "-o", str(case.output)]
    return [*argv, *case.options]


def _printable(text: str) -> bool:
    """Whether ``text`` is lines of printable characters (no control character but the newlines)."""
    return all(c == "\n" or unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp") for c in text)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input(tmp_path: Path, name: str, forked_cli: ForkedCLI) -> None:
    """Each case in a process of its own: forked from a warm interpreter, or (under a wrapper, such as
    the read-only mount) the installed script run afresh."""
    with _cleaned(CASES[name](tmp_path)) as case:
        before = _tree(tmp_path)
        try:
            if case.wrapper:
                proc = subprocess.run(
                    _argv(case), check=False, cwd=tmp_path, env=CLI_ENV, capture_output=True, timeout=TIMEOUT_S
                )
            else:
                proc = forked_cli.run(_argv(case), tmp_path, TIMEOUT_S)
        except (subprocess.TimeoutExpired, TimeoutError):
            pytest.fail(f"{name}: no answer within {TIMEOUT_S} s")
        after = _tree(tmp_path)
    stdout, stderr = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")  # strict: no stray bytes
    output = stdout + stderr
    assert "Traceback" not in output, output
    assert _printable(output), output
    assert list(tmp_path.rglob(".*.tmp*")) == [], "temporary files left behind"
    if not case.culprits:
        assert proc.returncode == 0, output
        assert stderr == ""
        assert case.output is not None
        if case.command == "ncut":
            result = json.loads(case.output.read_text(), parse_constant=_no_nan)
            assert math.isfinite(result["ncut"]) and 0.0 <= result["ncut"] <= int(case.k)
            assert result["n_shuffles"] == int(case.shuffles)
            assert f"{result['ncut']:.4f}" in stdout
            if case.check is not None:
                case.check(result)
        else:
            assert case.output.read_bytes().startswith(b"\x89PNG")
            assert len(stdout.splitlines()) == 1 and "n-cut" in stdout, stdout
        for text in case.printed:
            assert text in stdout, (text, stdout)
        new = set(after) - set(before)
        assert new == {
            str(p.relative_to(tmp_path)) for p in (case.output, *case.output.parents) if tmp_path in p.parents
        }
        assert {p: after[p] for p in before} == before
    else:
        assert proc.returncode == 2, output
        assert stdout == ""
        lines = stderr.splitlines()
        assert len(lines) == 1 and stderr.endswith("\n"), stderr
        assert lines[0].startswith("clusterability"), lines[0]
        for culprit in case.culprits:
            assert culprit in lines[0], (culprit, lines[0])
        assert after == before, "a failed run changed the files under tmp_path"


@pytest.mark.parametrize("scale", [1e30, 3.4e38, 1.7e308, 1e-300])
def test_ncut_and_clustering_do_not_depend_on_the_scale(scale: float) -> None:
    """Scaling every weight (up to near the float64 maximum, or down to tiny) changes neither."""
    graph = mlp_graph(_planted())
    top = max(float(b.max()) for b in graph.blocks)
    scaled = graph.with_blocks([b * (scale / top) for b in graph.blocks])
    labels = spectral_clusters(graph, 4, seed=0)
    np.testing.assert_array_equal(spectral_clusters(scaled, 4, seed=0), labels)
    assert ncut(scaled, labels) == pytest.approx(ncut(graph, labels), rel=1e-12)
    assert ncut(scaled.adjacency(), labels) == pytest.approx(ncut(graph, labels), rel=1e-12)
    assert math.isfinite(ncut(scaled, labels))
