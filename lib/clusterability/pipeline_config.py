"""The pipeline's configuration: scale presets, validation, per-job settings.

``config.yaml`` holds the paper-scale values and a ``scales`` section of
presets; the chosen preset (``scale``) is merged over the top-level values and
the result is validated against the JSON schema. Every error names the
offending key and the fix, in one line.
"""

from __future__ import annotations

import copy
import re
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


def _resolve_ref(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, got {ref}")
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def _coerce_scalar(value: str, types: list[str]) -> Any:
    """``value`` converted to the first schema type it parses as (else unchanged)."""
    for t in types:
        if t == "integer" and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        if t == "number":
            try:
                return float(value)
            except ValueError:
                pass
        if t == "boolean" and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if t == "null" and value.strip() in ("null", "None", "~", ""):
            return None
    return value


def coerce_to_schema(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> Any:
    """``value`` with strings converted to the numbers, booleans and nulls the schema expects.

    Snakemake reads nested ``--config key={...}`` values with YAML's BaseLoader,
    which leaves every leaf a string (``clustering={"k": 5}`` gives ``"5"``).
    """
    root = schema if root is None else root
    schema = _resolve_ref(schema, root)
    if isinstance(value, str):
        types: list[str] = []
        for option in [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]:
            option = _resolve_ref(option, root)
            t = option.get("type", [])
            types += [t] if isinstance(t, str) else list(t)
            if "enum" in option and value in [str(e) for e in option["enum"]] and value not in option["enum"]:
                return next(e for e in option["enum"] if str(e) == value)
        return _coerce_scalar(value, [t for t in types if t != "string"]) if "string" not in types else value
    if isinstance(value, list):
        items = schema.get("items", {})
        return [coerce_to_schema(v, items, root) for v in value]
    if isinstance(value, Mapping):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", {})
        return {
            k: coerce_to_schema(v, props.get(k, extra if isinstance(extra, Mapping) else {}), root)
            for k, v in value.items()
        }
    return value


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any], where: str = "config") -> None:
    """Raise :class:`InputError` naming the first key that breaks the (loaded) JSON schema."""
    import jsonschema

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


def resolve_config(
    config: Mapping[str, Any], schema_path: str | Path, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The configuration in force: ``config`` with its scale preset merged in.

    Precedence, lowest first: the config file, the preset ``scales[scale]``,
    then ``overrides`` (the command line's ``--config`` values, which Snakemake
    has already merged into ``config``; applying them again puts them above
    the preset). Strings are coerced to the schema's types and the result is
    validated before and after merging.
    """
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    config = coerce_to_schema(config, schema)
    overrides = coerce_to_schema(dict(overrides or {}), schema)
    validate_config(config, schema)
    scale = config["scale"]
    if scale not in config["scales"]:
        raise InputError(
            f"config: unknown scale {scale!r}; choose one of {', '.join(config['scales'])} "
            "(e.g. --config scale=quick)"
        )
    merged = deep_merge(deep_merge(config, config["scales"][scale]), overrides)
    validate_config(merged, schema, where=f"config (scale {scale})")
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
