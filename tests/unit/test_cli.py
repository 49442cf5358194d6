"""The ``clusterability ncut`` command: JSON result, summary, errors, reproducibility, no TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from forked_cli import SCRIPT, ForkedCLI
from hypothesis import given, settings
from hypothesis import strategies as st
from planted import build_glorot_mlp, build_planted_mlp

from clusterability.cli import json_safe, main, shown
from clusterability.core.statistics import p_value, z_score

RESULT_KEYS = {
    "ncut",
    "labels",
    "cluster_sizes",
    "shuffle_ncuts",
    "p_value",
    "z_score",
    "k",
    "solver",
    "seed",
    "degenerate",
}
CLI = [sys.executable, "-m", "clusterability.cli"]


def _run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter (``python -m clusterability.cli``)."""
    return subprocess.run([*CLI, *map(str, args)], check=False, capture_output=True, text=True, timeout=120)


def _forked(forked_cli: ForkedCLI, cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The console script in a process forked from a warm interpreter (tests/support/forked_cli.py)."""
    proc = forked_cli.run([str(SCRIPT), *map(str, args)], cwd, 120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def _tiny_mlp() -> list[np.ndarray]:
    """A 6-8-8-3 MLP with a dead input (2) and a dead first-hidden neuron (3, node 9)."""
    kernels = build_glorot_mlp((6, 8, 8, 3), seed=0)
    kernels[0][2, :] = 0.0
    kernels[0][:, 3] = 0.0
    kernels[1][3, :] = 0.0
    return kernels


def test_json_result_of_a_tiny_mlp(
    tmp_path: Path, write_weights: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_weights(_tiny_mlp())
    out = tmp_path / "result.json"
    rc = main(["ncut", str(path), "--k", "3", "--shuffles", "7", "--seed", "5", "--json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert set(result) >= RESULT_KEYS
    assert result["k"] == 3 and result["solver"] == "fast" and result["seed"] == 5
    assert result["network_kind"] == "mlp" and result["layer_sizes"] == [6, 8, 8, 3]
    # One label per neuron, inputs first; the dropped neurons are -1.
    labels = np.array(result["labels"])
    assert labels.shape == (25,)
    np.testing.assert_array_equal(np.flatnonzero(labels < 0), [2, 9])
    assert result["n_isolated"] == 2
    assert set(labels[labels >= 0].tolist()) == {0, 1, 2}
    assert result["cluster_sizes"] == np.bincount(labels[labels >= 0], minlength=3).tolist()
    assert sum(result["cluster_sizes"]) == 23
    assert 0 < result["ncut"] < 3
    assert result["ncut"] == pytest.approx(sum(result["cluster_cut_terms"]), rel=1e-12)
    shuffles = np.array(result["shuffle_ncuts"])
    assert shuffles.shape == (7,) and result["n_shuffles"] == 7
    assert result["p_value"] == p_value(result["ncut"], shuffles)
    assert result["z_score"] == pytest.approx(z_score(result["ncut"], shuffles))
    assert result["shuffle_mean"] == pytest.approx(shuffles.mean())
    assert result["shuffle_std"] == pytest.approx(shuffles.std(ddof=1))
    assert isinstance(result["degenerate"], bool) and isinstance(result["significant"], bool)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary files
    captured = capsys.readouterr()
    assert f"{result['ncut']:.4f}" in captured.out
    assert "2 isolated neurons dropped" in captured.out
    assert "7 'layer' shuffles" in captured.out
    assert captured.err == ""


def test_planted_network_is_significant(
    tmp_path: Path, write_weights: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    kernels, _ = build_planted_mlp((24, 24, 24, 24), 4, seed=1)
    out = tmp_path / "result.json"
    args = ["ncut", str(write_weights(kernels)), "--k", "4", "--shuffles", "9", "--json", str(out)]
    assert main([*args, "--shuffle-method", "layer_nonzero"]) == 0
    result = json.loads(out.read_text())
    assert result["p_value"] == 1 / 10
    assert result["significant"] is True
    assert result["ncut"] < 0.25 * min(result["shuffle_ncuts"])
    assert result["shuffle_method"] == "layer_nonzero"
    assert not result["degenerate"]
    assert sorted(result["cluster_sizes"]) == [24, 24, 24, 24]
    assert "significant: lower than every shuffle" in capsys.readouterr().out


def test_zero_shuffles_gives_the_ncut_only(
    tmp_path: Path, write_weights: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "result.json"
    assert main(["ncut", str(write_weights(_tiny_mlp())), "--k", "2", "--shuffles", "0", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert isinstance(result["ncut"], float) and len(result["labels"]) == 25
    assert result["shuffle_ncuts"] == [] and result["n_shuffles"] == 0
    assert result["p_value"] is None and result["z_score"] is None and result["significant"] is None
    text = capsys.readouterr().out
    assert "n-cut (k=2" in text and "'layer' shuffles" not in text and "p =" not in text
    # One shuffle: a p-value but no spread, so no Z-score.
    assert main(["ncut", str(write_weights(_tiny_mlp())), "--k", "2", "--shuffles", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert len(result["shuffle_ncuts"]) == 1 and result["shuffle_std"] is None and result["z_score"] is None
    assert result["p_value"] in (0.5, 1.0)
    assert "p = " in capsys.readouterr().out


def test_cnn_weights(tmp_path: Path, write_weights: Callable[..., Path]) -> None:
    rng = np.random.default_rng(2)
    kernels = [rng.normal(size=(3, 3, 1, 6)), rng.normal(size=(3, 3, 6, 7)), rng.normal(size=(3, 3, 7, 8))]
    kernels.append(rng.normal(size=(8 * 25, 10)))
    extra = {"bn_gamma_1": rng.uniform(0.5, 2, 7), "bn_moving_variance_1": np.ones(7), "bn_epsilon_1": np.asarray(1e-3)}
    path = write_weights(kernels, **extra)
    out = tmp_path / "cnn.json"
    assert main(["ncut", str(path), "--k", "3", "--shuffles", "3", "--norm", "l2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["network_kind"] == "cnn"
    assert result["layer_sizes"] == [6, 7, 8]  # hidden conv channels only
    assert len(result["labels"]) == 21


def test_sklearn_solver(tmp_path: Path, write_weights: Callable[..., Path]) -> None:
    kernels, _ = build_planted_mlp((16, 16, 16), 2, seed=3)
    out = tmp_path / "result.json"
    assert main(["ncut", str(write_weights(kernels)), "--k", "2", "--shuffles", "2", "--solver", "sklearn-arpack",
                 "--json", str(out)]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    assert result["solver"] == "sklearn-arpack"
    assert len(result["shuffle_ncuts"]) == 2


def test_degenerate_clustering_is_flagged_and_warned(
    tmp_path: Path, write_weights: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Two planted halves plus a 2-neuron near-component (input 0 and hidden neuron 0,
    # tied to everything else by weights of 1e-4): with k = 3 it becomes a cluster of its own.
    kernels, _ = build_planted_mlp((64, 64, 64, 64), 2, seed=0)
    kernels[0][0, :] = 1e-4
    kernels[0][:, 0] = 1e-4
    kernels[1][0, :] = 1e-4
    kernels[0][0, 0] = 1.0
    out = tmp_path / "result.json"
    assert main(["ncut", str(write_weights(kernels)), "--k", "3", "--shuffles", "0", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    labels = np.array(result["labels"])
    assert labels[0] == labels[64]  # the pair is one cluster ...
    assert min(result["cluster_sizes"]) == 2  # ... of two neurons
    assert result["degenerate"] is True
    assert "2 neurons" in result["degenerate_reason"]
    assert "WARNING: degenerate clustering" in capsys.readouterr().out


def test_same_seed_same_json(tmp_path: Path, write_weights: Callable[..., Path]) -> None:
    path = write_weights(build_glorot_mlp((40, 30, 30, 10), seed=4))
    outs = [tmp_path / f"run{i}.json" for i in range(3)]
    for out, seed in zip(outs, ("3", "3", "4")):
        assert main(["ncut", str(path), "--k", "4", "--shuffles", "6", "--seed", seed, "--json", str(out)]) == 0
    assert outs[0].read_bytes() == outs[1].read_bytes()
    first, other = json.loads(outs[0].read_text()), json.loads(outs[2].read_text())
    assert other["seed"] == 4
    assert other["shuffle_ncuts"] != first["shuffle_ncuts"]


def test_same_seed_same_json_in_separate_processes(tmp_path: Path, write_weights: Callable[..., Path]) -> None:
    path = write_weights(build_glorot_mlp((300, 160, 160, 10), seed=6))  # large enough for the Gram route
    outs = [tmp_path / f"run{i}.json" for i in range(2)]
    for out in outs:
        proc = _run_cli("ncut", path, "--k", "4", "--shuffles", "4", "--seed", "8", "--json", out)
        assert proc.returncode == 0, proc.stderr
    assert outs[0].read_bytes() == outs[1].read_bytes()


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    files["missing"] = tmp_path / "absent.npz"
    files["not_zip"] = tmp_path / "text.npz"
    files["not_zip"].write_text("not a zip\n")
    files["nan"] = tmp_path / "nan.npz"
    np.savez(files["nan"], kernel_0=np.full((3, 4), np.nan), kernel_1=np.ones((4, 2)))
    files["shapes"] = tmp_path / "shapes.npz"
    np.savez(files["shapes"], kernel_0=np.ones((3, 4)), kernel_1=np.ones((5, 2)))
    files["pickle"] = tmp_path / "pickle.npz"
    np.savez(files["pickle"], kernel_0=np.array([[None, 1.0]], dtype=object))
    files["npy"] = tmp_path / "array.npy"
    np.save(files["npy"], np.ones((3, 4)))
    files["too_few_nodes"] = tmp_path / "small.npz"
    np.savez(files["too_few_nodes"], kernel_0=np.ones((2, 2)))
    return files


def test_bad_input_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, path in _bad_files(tmp_path).items():
        out = tmp_path / f"{name}.json"
        assert main(["ncut", str(path), "--k", "5", "--shuffles", "2", "--json", str(out)]) == 2, name
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith("clusterability: error: ") and captured.err.count("\n") == 1, name
        assert name == "too_few_nodes" or str(path) in captured.err
        assert not out.exists()


@pytest.mark.parametrize("name", ["not_zip", "nan", "npy"])
def test_bad_input_exit_code_and_one_line_message(tmp_path: Path, name: str, forked_cli: ForkedCLI) -> None:
    path = _bad_files(tmp_path)[name]
    out = tmp_path / "result.json"
    proc = _forked(forked_cli, tmp_path, "ncut", path, "--json", out)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    assert list(tmp_path.glob(".*")) == []


def test_bad_arguments(tmp_path: Path, write_weights: Callable[..., Path]) -> None:
    path = write_weights(_tiny_mlp())
    out = tmp_path / "r.json"
    for bad in (["--k", "0"], ["--shuffles", "-1"], ["--solver", "magic"], ["--seed", "-3"]):
        with pytest.raises(SystemExit) as exc:
            main(["ncut", str(path), *bad, "--json", str(out)])
        assert exc.value.code == 2
    assert not out.exists()


def test_console_script_and_version() -> None:
    proc = _run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("clusterability ")
    script = Path(sys.executable).parent / "clusterability"  # the installed entry point, if any
    if script.exists():
        proc = subprocess.run([str(script), "--version"], check=False, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and proc.stdout.startswith("clusterability ")


def test_cli_and_measure_do_not_import_tensorflow() -> None:
    code = (
        "import sys, clusterability.cli, clusterability.core.measure; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'tf_keras', 'tensorflow_model_optimization')); "
        "print(repr(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# --- clusterability draw ------------------------------------------------------------------------------------------


def test_draw_writes_the_clustered_network(
    tmp_path: Path, write_weights: Callable[..., Path], forked_cli: ForkedCLI
) -> None:
    kernels, _ = build_planted_mlp((16, 16, 16), 4, seed=0)
    weights = write_weights(kernels)
    for suffix, magic in ((".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")):
        out = tmp_path / "drawings" / f"net{suffix}"
        proc = _forked(forked_cli, tmp_path, "draw", weights, "--k", "4", "-o", out)
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes().startswith(magic)
        assert f"{out}: mlp with layers [16, 16, 16]" in proc.stdout
    # The n-cut it reports is that of `ncut` with the same seed.
    ncut = json.loads(_ncut_json(tmp_path, weights))["ncut"]
    assert f"n-cut {ncut:.4f}" in proc.stdout


def _ncut_json(tmp_path: Path, weights: Path) -> str:
    out = tmp_path / "ncut.json"
    assert main(["ncut", str(weights), "--k", "4", "--shuffles", "0", "--json", str(out)]) == 0
    return out.read_text()


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (["-o", "{tmp}/net.jpg"], "-o must end in .png, .pdf, .svg"),
        (["-o", "{tmp}/missing.npz.png", "--k", "0"], "--k"),
        (["-o", "{tmp}/net.npz/x.png"], "is not a folder"),
    ],
)
def test_draw_bad_input_gives_one_line(
    tmp_path: Path, write_weights: Callable[..., Path], args: list[str], culprit: str, forked_cli: ForkedCLI
) -> None:
    kernels, _ = build_planted_mlp((8, 8, 8), 2, seed=0)
    weights = write_weights(kernels)
    before = sorted(tmp_path.rglob("*"))
    proc = _forked(forked_cli, tmp_path, "draw", weights, *[a.format(tmp=tmp_path) for a in args])
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and culprit in proc.stderr, proc.stderr
    assert sorted(tmp_path.rglob("*")) == before


def test_draw_of_a_missing_file_names_it(tmp_path: Path, forked_cli: ForkedCLI) -> None:
    proc = _forked(forked_cli, tmp_path, "draw", tmp_path / "nope.npz", "-o", tmp_path / "x.png")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "nope.npz" in proc.stderr
    assert not (tmp_path / "x.png").exists()


# --- what the CLI prints and writes, whatever the paths and the statistics ----------------------------------------


def _refuse_constant(constant: str) -> float:
    raise ValueError(f"strict JSON has no {constant}")


def test_json_is_strict_when_every_shuffle_ties(
    tmp_path: Path, write_weights: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """k = 1: every n-cut is 0, the Z-score undefined: ``null`` in the JSON, not a bare NaN."""
    out = tmp_path / "result.json"
    assert main(["ncut", str(write_weights(_tiny_mlp())), "--k", "1", "--shuffles", "3", "--json", str(out)]) == 0
    text = out.read_text()
    result = json.loads(text, parse_constant=_refuse_constant)
    assert result["shuffle_ncuts"] == [0.0, 0.0, 0.0] and result["z_score"] is None
    assert "NaN" not in text and "Infinity" not in text
    printed = capsys.readouterr().out
    assert "p = 1" in printed and "Z =" not in printed


def test_json_safe_replaces_every_non_finite_number() -> None:
    value = {
        "z": float("nan"),
        "list": [float("inf"), -float("inf"), 1.5, np.float32("nan"), np.float64(2.0), 3],
        "nested": {"t": (np.float64("-inf"), "x", None, True)},
    }
    expected = {"z": None, "list": [None, None, 1.5, None, 2.0, 3], "nested": {"t": [None, "x", None, True]}}
    assert json_safe(value) == expected
    assert json.loads(json.dumps(json_safe(value), allow_nan=False), parse_constant=_refuse_constant) == expected


def test_shown_escapes_what_would_split_or_break_a_line() -> None:
    assert shown("plain/näme 1.npz") == "plain/näme 1.npz"  # printable text, non-ASCII included, as it is
    assert shown("a\nb\tc\r\x1b[0m\x85\u2028\u2029\x7f") == "a\\nb\\tc\\r\\x1b[0m\\x85\\u2028\\u2029\\x7f"
    assert shown(Path(os.fsdecode(b"n\xffet.npz"))) == "n\\xffet.npz"  # a byte that is not UTF-8


#: Any character, lone surrogates (the undecodable bytes of a file name) and every line break included.
_ANY_CHARACTER = st.one_of(
    st.characters(exclude_categories=()),
    st.integers(0xD800, 0xDFFF).map(chr),
    st.sampled_from("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(alphabet=_ANY_CHARACTER, max_size=40))
def test_shown_is_one_printable_utf8_line(text: str) -> None:
    line = shown(text)
    assert len(line.splitlines()) <= 1
    line.encode("utf-8")  # strict: no lone surrogates left
    assert all(unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp") for c in line)


def test_error_lines_stay_one_line_whatever_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, escaped in (("ab\nsent.npz", "ab\\nsent.npz"), (os.fsdecode(b"\xffabsent.npz"), "\\xffabsent.npz")):
        assert main(["ncut", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("clusterability: error: ") and escaped in err, err
        err.encode("utf-8")
    with pytest.raises(SystemExit):  # argparse's own messages too: int() accepts the newline of "-1\n"
        main(["ncut", str(tmp_path / "w.npz"), "--shuffles", "-1\n"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--shuffles" in err and "-1\\n" in err, err


@pytest.mark.parametrize("link", ["same", "hard", "symbolic", "through_a_missing_folder"])
def test_an_output_that_is_the_weights_is_refused_before_any_work(
    tmp_path: Path, write_weights: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, link: str
) -> None:
    weights = write_weights(_tiny_mlp())
    before = weights.read_bytes()
    out = {"same": weights, "through_a_missing_folder": tmp_path / "new" / ".." / weights.name}.get(link)
    if out is None:
        out = tmp_path / "result.json"
        if link == "hard":
            os.link(weights, out)
        else:
            out.symlink_to(weights)
    monkeypatch.setattr("clusterability.cli.cluster_network", lambda *a, **k: pytest.fail("clustered"))
    assert main(["ncut", str(weights), "--k", "2", "--shuffles", "1", "--json", str(out)]) == 2
    assert weights.read_bytes() == before and not (tmp_path / "new").exists()
    # draw -o: weights saved under an image's name are read as .npz, and must not be drawn over.
    image = tmp_path / "net.png"
    image.write_bytes(before)
    assert main(["draw", str(image), "--k", "2", "-o", str(image)]) == 2
    assert image.read_bytes() == before
