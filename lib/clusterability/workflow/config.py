"""The workflow's configuration: typed, validated once, resolved into experiments.

Snakemake merges ``config.yaml``, any ``--configfile`` (the scale files in
``config/scales/``) and ``--config`` values before the workflow sees them.
One thing it leaves undone: a nested ``--config`` value such as
``clustering={"chunk_size": 5}`` is read with YAML's BaseLoader, so every leaf
arrives as a string (``"5"``). :func:`load_config` therefore converts strings
to the types the schema asks for (:func:`coerce_to_schema`), validates the
result against the JSON schema once, checks the folders and files it names
(:func:`check_paths`: the dataset mirror, the checksum list, the ImageNet
checkpoints) and resolves the families, tables and figures
(:func:`clusterability.workflow.experiments.load_experiments`), which checks every
family's training settings and every table's ``k``. Every error names the
offending key and the fix, in one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clusterability.errors import InputError
from clusterability.workflow.experiments import Experiments, load_experiments


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


def _check_folder(key: str, value: str, what: str) -> None:
    """Raise :class:`InputError` unless ``value`` (config key ``key``) is a folder this process can read."""
    path = Path(value)
    if not path.exists():
        raise InputError(f"config: {key}: {value} does not exist; point it at the folder holding {what}, or set null")
    if not path.is_dir():
        raise InputError(f"config: {key}: {value} is not a folder; point it at the folder holding {what}")
    if not os.access(path, os.R_OK | os.X_OK):
        raise InputError(f"config: {key}: cannot read the folder {value} (no permission); make it readable")


def check_paths(config: Mapping[str, Any]) -> None:
    """Raise :class:`InputError` unless the folders and files a (validated) ``config`` names are usable.

    ``datasets.mirror`` and ``imagenet.checkpoints`` (unless ``random``) must be
    readable folders and ``datasets.checksums`` a readable md5sum-format list
    with at least one entry (the format :func:`clusterability.data.sources.read_checksums`
    reads when a dataset is fetched). Relative paths are relative to the working
    directory, as in the jobs.
    """
    from clusterability.data.sources import read_checksums

    datasets = config["datasets"]
    if datasets.get("mirror") is not None:
        _check_folder("datasets.mirror", datasets["mirror"], "mnist/, fashion-mnist/ and cifar-10-batches-bin/")
    checkpoints = config.get("imagenet", {}).get("checkpoints")
    if checkpoints not in (None, "random"):
        _check_folder("imagenet.checkpoints", checkpoints, "the torchvision checkpoints")
    checksums = datasets.get("checksums")
    if checksums is None:
        return
    fix = "give an md5sum-format list ('<md5>  <folder>/<file>' per line) or set null"
    if not Path(checksums).exists():
        raise InputError(f"config: datasets.checksums: {checksums} does not exist; {fix}")
    if not Path(checksums).is_file():  # a folder, or a pipe that would block the read
        raise InputError(f"config: datasets.checksums: {checksums} is not a regular file; {fix}")
    try:
        sums = read_checksums(str(checksums))
    except InputError as exc:  # names the file and line, and datasets.checksums
        raise InputError(f"config: datasets.checksums: {exc}") from None
    if not sums:
        raise InputError(f"config: datasets.checksums: {checksums} lists no checksums; {fix}")


def load_config(
    config: Mapping[str, Any], schema_path: str | Path, *, paths: bool = True
) -> tuple[dict[str, Any], Experiments]:
    """The configuration with schema types, validated, and its experiments.

    ``paths=False`` skips :func:`check_paths`: for a job on a compute node,
    which may not see those folders (only the fetching jobs read them, and
    they run where Snakemake runs).
    """
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    typed = coerce_to_schema(config, schema)
    validate_config(typed, schema)
    if paths:
        check_paths(typed)
    return typed, load_experiments(typed)
