"""A job depends on the code it runs, and only on its logic (rules/common.smk ``code_params``).

(a) each workflow script's library modules, pinned: a new import must be looked at here;
(b) the ``code`` param (:func:`clusterability.workflow.provenance.code_hash`) ignores comments, docstrings
and layout, and a logic change moves exactly its users' hashes;
(c) a workflow whose importable ``clusterability`` is another clone's stops with one line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clusterability.workflow.provenance import PACKAGE_DIR, code_hash, logic_dump, script_module_files
from workflow_helpers import REPO, SNAKEMAKE

SCRIPTS = REPO / "workflow_scripts"
#: Each script's library modules (package-relative; ``__init__`` always included, ``data`` is its package).
PINNED = {
    "cluster_network": (
        "atomic core core/bipartite core/build core/dag_graph core/eigensolver core/graph core/kmeans "
        "core/layered_graph core/measure core/ncut core/network core/shuffles core/spectral errors io io/npz "
        "limits seeds threads workflow workflow/jobs"
    ),
    "fetch_dataset": "atomic data data/fetch data/sources errors threads workflow workflow/jobs",
    "fetch_imagenet_checkpoint": (
        "atomic core core/network errors io io/keras_files io/network_files io/npz io/onnx_io io/state_dict "
        "io/torchvision io/wiring limits threads workflow workflow/jobs workflow/pretrained"
    ),
    "figure": (
        "atomic core core/build core/dag_graph core/eigensolver core/graph core/layered_graph core/network "
        "core/statistics data data/formats data/prepare data/sources errors io io/npz lesions limits report "
        "report/columns report/figures report/tables seeds threads workflow workflow/jobs"
    ),
    # (it shuffles the network itself where the shuffles fit one chunk: rules/clustering.smk)
    "gather_shuffles": (
        "atomic core core/bipartite core/build core/dag_graph core/eigensolver core/graph core/kmeans "
        "core/layered_graph core/measure core/ncut core/network core/shuffle_chunks core/shuffles core/spectral "
        "core/statistics errors io io/npz limits seeds threads workflow workflow/jobs"
    ),
    "import_pretrained": (
        "atomic core core/network errors io io/keras_files io/network_files io/npz io/onnx_io io/state_dict "
        "io/torchvision io/wiring limits threads workflow workflow/jobs workflow/pretrained"
    ),
    "lesion_pairs": (
        "atomic core core/network core/statistics data data/formats data/prepare data/sources errors io "
        "io/npz lesions limits report report/columns report/tables seeds threads workflow workflow/jobs"
    ),
    "lesion_single": (
        "atomic core core/network core/statistics data data/formats data/prepare data/sources errors io "
        "io/npz lesions limits report report/columns report/tables seeds threads workflow workflow/jobs"
    ),
    "make_paired_dataset": (
        "atomic data data/formats data/halves data/prepare data/sources errors seeds threads workflow workflow/jobs"
    ),
    "make_synthetic_dataset": (
        "atomic data data/formats data/prepare data/sources data/synthetic errors seeds threads workflow workflow/jobs"
    ),
    "mix_datasets": (
        "atomic data data/formats data/mixtures data/prepare data/sources errors seeds threads workflow workflow/jobs"
    ),
    "prepare_dataset": "atomic data data/formats data/prepare data/sources errors seeds threads workflow workflow/jobs",
    "resize_dataset": "atomic data data/formats data/prepare data/sources errors seeds threads workflow workflow/jobs",
    "scorecard": (
        "atomic core core/build core/dag_graph core/eigensolver core/graph core/layered_graph core/network "
        "core/statistics data data/formats data/prepare data/sources data/synthetic errors io io/npz "
        "io/torchvision io/wiring lesions limits report report/columns report/figures report/tables seeds "
        "threads train train/config train/models train/pruning train/runtime workflow workflow/experiments "
        "workflow/jobs workflow/scorecard"
    ),
    "shuffle_chunk": (
        "atomic core core/bipartite core/build core/dag_graph core/eigensolver core/graph core/kmeans "
        "core/layered_graph core/measure core/ncut core/network core/shuffle_chunks core/shuffles core/spectral "
        "errors io io/npz limits seeds threads workflow workflow/jobs"
    ),
    "table": (
        "atomic core core/network core/statistics data data/formats data/prepare data/sources errors io "
        "io/npz lesions limits report report/columns report/tables seeds threads workflow workflow/jobs"
    ),
    "train_networks": (
        "atomic core core/bipartite core/layered_graph core/network data data/formats "
        "data/prepare data/sources errors io io/npz io/wiring limits seeds threads train "
        "train/clusterable_init train/config train/keras_model train/models train/pruning train/regularizer "
        "train/runs train/runtime train/training workflow workflow/jobs"
    ),
    "train_network": (
        "atomic core core/bipartite core/layered_graph core/network data data/formats "
        "data/prepare data/sources errors io io/npz io/wiring limits seeds threads train "
        "train/clusterable_init train/config train/keras_model train/models train/pruning train/regularizer "
        "train/runtime train/training workflow workflow/jobs"
    ),
}
READERS = {"io/onnx_io", "io/state_dict", "io/keras_files", "io/network_files", "io/torchvision"}


def _modules(script: Path) -> set[str]:
    names = set()
    for p in script_module_files(script):
        name = Path(p).relative_to(PACKAGE_DIR).with_suffix("").as_posix()
        names.add(name.removesuffix("/__init__") if name != "__init__" else "")
    return names - {""}


def test_each_script_imports_exactly_its_pinned_modules() -> None:
    assert {p.stem for p in SCRIPTS.glob("*.py")} == set(PINNED)
    for script, modules in PINNED.items():
        assert _modules(SCRIPTS / f"{script}.py") == set(modules.split()), script


def test_readers_and_downloaders_stay_out_of_training_clustering_and_tables() -> None:
    for script in ("train_network", "cluster_network", "shuffle_chunk", "gather_shuffles", "table", "figure"):
        modules = set(PINNED[script].split())
        assert not modules & READERS and "data/fetch" not in modules and "workflow/pretrained" not in modules, script
    # The regularizer's bipartite shortcut decomposes densely: the clustering's eigen-solvers are not training's.
    assert not {"core/spectral", "core/eigensolver", "core/kmeans"} & set(PINNED["train_network"].split())
    assert "core/spectral" in PINNED["cluster_network"].split() and "core/spectral" in PINNED["shuffle_chunk"].split()


def test_logic_dump_ignores_comments_docstrings_and_layout() -> None:
    def dump(tmp: Path, text: str) -> str:
        tmp.write_text(text)
        return logic_dump(tmp)

    tmp = REPO / ".pytest_logic_dump.py"
    try:
        plain = dump(tmp, "def f(x):\n    return x + 1\n")
        assert dump(tmp, '"""Module."""\n# c\ndef f( x ):  # c\n    """Doc."""\n\n    return (x +\n 1)\n') == plain
        assert dump(tmp, "def f(x):\n    return x + 2\n") != plain
        assert dump(tmp, 'def f(x):\n    """Only a docstring."""\n') == dump(tmp, "def f(x):\n    pass\n")
        assert dump(tmp, "def f(x):\n    return 'x + 1'\n") != plain  # a string that is not a docstring counts
    finally:
        tmp.unlink()


_HASHES = """
import json, sys
from pathlib import Path
from clusterability.workflow.provenance import code_hash
print(json.dumps({p.stem: code_hash(p) for p in sorted(Path(sys.argv[1]).glob("*.py"))}))
"""


def _hashes(lib: Path, scripts: Path) -> dict[str, str]:
    env = {"PYTHONPATH": str(lib), "PATH": ""}
    out = subprocess.run([sys.executable, "-c", _HASHES, str(scripts)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def code_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the library and of the workflow scripts."""
    lib = tmp_path / "lib"
    shutil.copytree(PACKAGE_DIR, lib / "clusterability", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SCRIPTS, tmp_path / "scripts", ignore=shutil.ignore_patterns("clusterability", "__pycache__"))
    return lib, tmp_path / "scripts"


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def test_code_params_move_with_logic_only(code_copy: tuple[Path, Path]) -> None:
    lib, scripts = code_copy
    assert code_hash(SCRIPTS / "table.py") == code_hash(SCRIPTS / "table.py")
    before = _hashes(lib, scripts)
    # A comment and a docstring in every library file and script, and reformatting: nothing moves.
    for path in [*lib.rglob("*.py"), *scripts.glob("*.py")]:
        text = path.read_text()
        path.write_text(text.replace("\n\n\n", "\n\n\n\n") + "\n# a comment\ndef _added():\n    '''A docstring.'''\n")
    with_comments = _hashes(lib, scripts)
    for path in [*lib.rglob("*.py"), *scripts.glob("*.py")]:  # back to the same code minus the helper
        path.write_text(path.read_text().split("\n# a comment\n")[0].replace("\n\n\n\n", "\n\n\n"))
    assert _hashes(lib, scripts) == before
    assert _changed(before, with_comments) == set(before)  # the added function is logic: every hash moved
    for path in [*lib.rglob("*.py"), *scripts.glob("*.py")]:
        path.write_text("# a comment\n" + path.read_text().replace("\n\n\n", "\n\n\n\n") + "\n# the end\n")
    assert _hashes(lib, scripts) == before

    spectral = lib / "clusterability/core/spectral.py"
    original = spectral.read_text()
    spectral.write_text(original + "\n_EDITED = 1\n")
    assert _changed(before, _hashes(lib, scripts)) == {"cluster_network", "shuffle_chunk", "gather_shuffles"}
    spectral.write_text(original)

    onnx = lib / "clusterability/io/onnx_io.py"
    onnx.write_text(onnx.read_text() + "\n_EDITED = 1\n")
    assert _changed(before, _hashes(lib, scripts)) == {"fetch_imagenet_checkpoint", "import_pretrained"}

    script = scripts / "table.py"
    script.write_text(script.read_text() + "\nEDITED = 1\n")
    assert "table" in _changed(before, _hashes(lib, scripts))


def test_code_hashes_are_cached_by_content(code_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The on-disk cache gives the hash the code gives, is keyed by content (an edit misses it, restoring the
    edit hits it again), and a malformed or unwritable cache file is ignored."""
    from clusterability.workflow import provenance

    lib, scripts = code_copy
    root, script = lib / "clusterability", scripts / "gather_shuffles.py"
    cache = root / provenance.CACHE_FILE
    computed = provenance._code_hash(script, root)
    assert not cache.exists() and provenance.code_hash(script, root) == computed and cache.is_file()

    def no_parsing(*args: object) -> str:
        raise AssertionError("parsed the library again")

    with monkeypatch.context() as patch:
        patch.setattr(provenance, "_code_hash", no_parsing)
        assert provenance.code_hash(script, root) == computed  # a hit, in this process or another
    statistics = root / "core/statistics.py"
    original = statistics.read_text()
    statistics.write_text(original.replace("s.std(ddof=1)", "s.std(ddof=0)"))
    edited = provenance.code_hash(script, root)
    assert edited != computed and edited == provenance._code_hash(script, root)
    statistics.write_text(original)
    with monkeypatch.context() as patch:
        patch.setattr(provenance, "_code_hash", no_parsing)
        assert provenance.code_hash(script, root) == computed  # back to the cached version
    for text in ("{not json", "[1, 2]", json.dumps({"0" * 64: "not a hash"}), "\xff"):
        cache.write_text(text)
        assert provenance.code_hash(script, root) == computed
    shutil.rmtree(cache.parent)
    cache.parent.write_text("")  # a cache folder that cannot be made (as a read-only package's, even for root)
    assert provenance.code_hash(script, root) == computed


def test_moving_a_definition_to_another_module_reruns_nothing(code_copy: tuple[Path, Path]) -> None:
    """Which module holds a function is layout: ``z_score`` moved out of statistics.py (and imported back)
    leaves every hash alone; changing its logic there moves exactly its users'."""
    lib, scripts = code_copy
    before = _hashes(lib, scripts)
    statistics = lib / "clusterability/core/statistics.py"
    text = statistics.read_text()
    start = text.index("def z_score(")
    end = text.index("\ndef ", start + 1)
    function = text[start:end]
    header = "from __future__ import annotations\n\nimport numpy as np\n\n\n"
    (lib / "clusterability/core/moved.py").write_text(header + function)
    statistics.write_text(
        text[:start].replace(
            "import numpy as np\n", "import numpy as np\n\nfrom clusterability.core.moved import z_score\n", 1
        )
        + text[end:]
    )
    assert _hashes(lib, scripts) == before
    moved = lib / "clusterability/core/moved.py"
    moved.write_text(moved.read_text().replace("s.std(ddof=1)", "s.std(ddof=0)"))
    users = {"gather_shuffles", "table", "figure", "lesion_single", "lesion_pairs", "scorecard"}
    assert _changed(before, _hashes(lib, scripts)) == users


def test_another_clones_package_stops_the_workflow(tmp_path: Path) -> None:
    """A second clone run with this clone's environment (its editable install) stops with one line."""
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("Snakefile", "config.yaml", "rules", "workflow_scripts", "schemas", "config", "report", "profiles"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, clone / name, symlinks=True)
        elif src.exists():
            shutil.copy(src, clone / name)
    shutil.copytree(PACKAGE_DIR, clone / "lib/clusterability", ignore=shutil.ignore_patterns("__pycache__"))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    proc = subprocess.run(
        [SNAKEMAKE, "-n", "--cores", "1"], cwd=clone, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "importable clusterability" in line]
    assert len(lines) == 1 and str(PACKAGE_DIR) in lines[0] and str(clone / "lib/clusterability") in lines[0]
    assert "pip install -e ." in lines[0]
