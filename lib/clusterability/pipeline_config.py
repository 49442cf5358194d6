"""The pipeline's configuration: scale presets, validation, per-job settings.

``config.yaml`` holds the paper-scale values and a ``scales`` section of
presets; the chosen preset (``scale``) is merged over the top-level values and
the result is validated against the JSON schema. Every error names the
offending key and the fix, in one line.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import InputError


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in recursively (override wins; lists replaced)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate_config(config: Mapping[str, Any], schema_path: str | Path, where: str = "config") -> None:
    """Raise :class:`InputError` naming the first key that breaks the schema."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    key = ".".join(str(p) for p in err.absolute_path) or "<top level>"
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        raise InputError(
            f"{where}: unknown key {key + '.' if key != '<top level>' else ''}{extra[0]}; "
            f"check its spelling against config.yaml"
        )
    raise InputError(f"{where}: key {key}: {err.message}; see schemas/config.schema.yaml")


def resolve_config(config: Mapping[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Validate ``config``, merge the chosen scale preset over it, validate again."""
    validate_config(config, schema_path)
    scale = config["scale"]
    if scale not in config["scales"]:
        raise InputError(
            f"config: unknown scale {scale!r}; choose one of {', '.join(config['scales'])} "
            "(e.g. --config scale=quick)"
        )
    merged = deep_merge(config, config["scales"][scale])
    validate_config(merged, schema_path, where=f"config (scale {scale})")
    return merged


def training_settings(config: Mapping[str, Any], dataset: str, regime: str) -> dict[str, Any]:
    """The training parameters of one network: defaults, per-dataset overrides, regime."""
    training = config["training"]
    base = {k: v for k, v in training.items() if k not in ("per_dataset", "pruning", "hidden_widths")}
    base = deep_merge(base, training.get("per_dataset", {}).get(dataset, {}))
    pruning = training["pruning"]
    return {
        "epochs": base["epochs"],
        "prune_epochs": base["prune_epochs"],
        "batch_size": base["batch_size"],
        "learning_rate": base["learning_rate"],
        "dropout": base["dropout"] if regime == "dropout" else 0.0,
        "widths": list(training["hidden_widths"]),
        "initial_sparsity": pruning["initial_sparsity"],
        "final_sparsity": pruning["final_sparsity"],
        "pruning_power": pruning["power"],
        "pruning_frequency": pruning["frequency"],
    }


def shuffle_chunks(n_shuffles: int, chunk_size: int) -> list[range]:
    """The shuffle indices of each fan-out job: ``[0, c), [c, 2c), ...``."""
    return [range(start, min(start + chunk_size, n_shuffles)) for start in range(0, n_shuffles, chunk_size)]
