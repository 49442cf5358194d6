"""Configuration: scale presets, precedence of command-line values, coercion, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clusterability.errors import InputError
from clusterability.pipeline_config import (
    coerce_to_schema,
    deep_merge,
    resolve_config,
    shuffle_chunks,
    training_settings,
)
from clusterability.provenance import module_files, script_module_files

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas/config.schema.yaml"


@pytest.fixture
def config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_paper_scale_is_the_papers_settings(config: dict) -> None:
    c = resolve_config(config, SCHEMA)
    assert c["scale"] == "paper"
    assert c["clustering"]["k"] == 4 and c["clustering"]["shuffles"] == 320
    assert c["table1"]["n_networks"] == 10
    mnist = training_settings(c, "mnist", "dropout")
    assert (mnist["epochs"], mnist["prune_epochs"], mnist["batch_size"]) == (20, 20, 128)
    assert mnist["dropout"] == 0.5 and mnist["learning_rate"] == 1e-3
    assert (mnist["initial_sparsity"], mnist["final_sparsity"], mnist["pruning_power"], mnist["pruning_frequency"]) == (
        0.5,
        0.9,
        3,
        10,
    )
    cifar = training_settings(c, "cifar10", "dropout")
    assert cifar["prune_epochs"] == 40 and cifar["dropout"] == 0.2
    assert training_settings(c, "cifar10", "plain")["dropout"] == 0.0


def test_scale_preset_and_command_line_precedence(config: dict) -> None:
    config["scale"] = "tiny"
    c = resolve_config(config, SCHEMA)
    assert c["table1"]["n_networks"] == 1 and c["clustering"]["shuffles"] == 4
    # A command-line value (already merged into config by Snakemake) wins over the preset.
    config["clustering"]["shuffles"] = "6"
    c = resolve_config(config, SCHEMA, overrides={"clustering": {"shuffles": "6"}})
    assert c["clustering"]["shuffles"] == 6 and c["clustering"]["k"] == 4


def test_coercion_of_command_line_strings() -> None:
    schema = yaml.safe_load(SCHEMA.read_text())
    raw = {"seed": "3", "datasets": {"n_train": "null", "mirror": "/data"}, "training": {"learning_rate": "1e-3"}}
    out = coerce_to_schema(raw, schema)
    assert out == {"seed": 3, "datasets": {"n_train": None, "mirror": "/data"}, "training": {"learning_rate": 1e-3}}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["clustering"].update(k="four"), "key clustering.k: 'four' is not of type 'integer'"),
        (lambda c: c.update(clusterin={}), "unknown key clusterin"),
        (lambda c: c["training"].update(epoch=3), "unknown key training.epoch"),
        (lambda c: c.update(scale="huge"), "unknown scale 'huge'"),
        (lambda c: c["clustering"].update(solver="magic"), "key clustering.solver"),
        (lambda c: c["table1"].update(datasets=["imagenet"]), "key table1.datasets.0"),
    ],
)
def test_bad_config_gives_one_line_naming_the_key(config: dict, mutate, message: str) -> None:
    mutate(config)
    with pytest.raises(InputError) as info:
        resolve_config(config, SCHEMA)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_deep_merge_and_chunks() -> None:
    assert deep_merge({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": 3}, "l": [2]}) == {"a": {"b": 3, "c": 2}, "l": [2]}
    assert shuffle_chunks(5, 2) == [range(0, 2), range(2, 4), range(4, 5)]
    assert shuffle_chunks(0, 2) == []


def test_provenance_follows_imports_without_importing() -> None:
    files = {Path(p).name for p in module_files("clusterability.measure")}
    assert {"measure.py", "spectral.py", "kmeans.py", "graph.py", "ncut.py", "shuffles.py"} <= files
    assert "training.py" not in files and "tf_runtime.py" not in files
    train = {Path(p).name for p in script_module_files(REPO / "workflow_scripts/train_network.py")}
    assert {"training.py", "tf_runtime.py", "models.py", "jobrunner.py"} <= train
    assert "spectral.py" not in train
    cluster = {Path(p).name for p in script_module_files(REPO / "workflow_scripts/shuffle_chunk.py")}
    assert "spectral.py" in cluster and "training.py" not in cluster
