"""The workflow's configuration: typed, validated once, resolved into experiments.

``config.yaml`` holds the settings a user changes and names, under ``experiments:``, the files of
the experiment catalogue (``config/experiments/*.yaml``: network families, each paper's tables and
figures). Snakemake merges ``config.yaml``, any ``--configfile`` (the scale files in
``config/scales/``) and ``--config`` values before the workflow sees them; :func:`load_config`
reads the catalogue files, each validated against ``schemas/experiments.schema.yaml`` (an error
names the file), and merges that configuration over them the way Snakemake merges config files
(:func:`merge`), so a scale file overrides a table's key as it did when the catalogue was in
``config.yaml``.

One thing Snakemake leaves undone: a nested ``--config`` value such as
``clustering={"chunk_size": 5}`` is read with YAML's BaseLoader, so every leaf
arrives as a string (``"5"``). :func:`load_config` therefore converts strings
to the types the schema asks for (:func:`coerce_to_schema`), validates the
result against the JSON schema once, checks the folders and files it names
(:func:`check_paths`: the dataset mirror, the checksum list, the ImageNet
checkpoints) and resolves the families, tables and figures
(:func:`clusterability.workflow.experiments.load_experiments`), which checks every
family's training settings and every table's ``k``. Every error names the
offending key (and file) and the fix, in one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clusterability.errors import InputError
from clusterability.workflow.experiments import Experiments, load_experiments

#: The schema of a catalogue file, beside the configuration's (``schemas/config.schema.yaml``).
CATALOGUE_SCHEMA = "experiments.schema.yaml"
#: What the catalogue holds; each name (a family, a table, a figure) is in one of its files only.
CATALOGUE_KEYS = ("families", "tables", "figures")


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
    """Raise :class:`InputError` naming the first key that breaks the (loaded) JSON schema.

    ``where`` names what was validated (``config``, or a catalogue file); the message points at
    the schema and the file to read for that key.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    key = ".".join(str(p) for p in err.absolute_path) or "<top level>"
    catalogue = bool(err.absolute_path) and err.absolute_path[0] in CATALOGUE_KEYS
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        against = "config/experiments/" if catalogue or where != "config" else "config.yaml"
        raise InputError(
            f"{where}: unknown key {key + '.' if key != '<top level>' else ''}{extra[0]}; "
            f"check its spelling against {against}"
        )
    schema_file = f"schemas/{CATALOGUE_SCHEMA}" if catalogue or where != "config" else "schemas/config.schema.yaml"
    raise InputError(f"{where}: key {key}: {err.message}; see {schema_file}")


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


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base`` as Snakemake merges config files (``update_config``):
    mappings key by key, anything else (a list, a number) replaced."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        out[key] = merge(old, value) if isinstance(value, Mapping) and isinstance(old, Mapping) else value
    return out


def safe_load(text: str) -> Any:
    """YAML's safe loader, libyaml's (``CSafeLoader``, several times faster) where PyYAML was built with it."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def read_schemas(
    schema_path: str | Path, catalogue_path: str | Path | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The whole configuration's schema and a catalogue file's.

    ``schema_path`` is ``schemas/config.schema.yaml``; the catalogue's
    (``catalogue_path``) is :data:`CATALOGUE_SCHEMA` beside it unless given. The two
    share their ``$defs``; in the whole configuration, catalogue merged in, every key
    of the catalogue is required.
    """
    catalogue_path = Path(schema_path).with_name(CATALOGUE_SCHEMA) if catalogue_path is None else catalogue_path
    config = safe_load(Path(schema_path).read_text())
    catalogue = safe_load(Path(catalogue_path).read_text())
    defs = {**config.get("$defs", {}), **catalogue.get("$defs", {})}
    whole = {
        **config,
        "$defs": defs,
        "properties": {**config["properties"], **catalogue["properties"]},
        "required": [*config.get("required", []), *CATALOGUE_KEYS],
    }
    return whole, {**catalogue, "$defs": defs}


def read_catalogue(files: Sequence[str], base: str | Path, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The catalogue files ``files`` (relative to ``base``, the workflow's folder), each validated
    against ``schema`` (:func:`read_schemas`), merged in order; a name in two files is refused."""
    import yaml

    catalogue: dict[str, Any] = {}
    found: dict[tuple[str, str], str] = {}
    for name in files:
        path = Path(base, name)
        if not path.is_file():
            raise InputError(
                f"config: experiments: {name} is not a file (under {base}); list catalogue files such as "
                "config/experiments/p1.yaml"
            )
        try:
            entries = safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problem = " ".join(str(exc).split())
            raise InputError(f"{name}: not valid YAML ({problem}); fix the file") from None
        validate_config(entries if entries is not None else {}, schema, where=name)
        for key in CATALOGUE_KEYS:
            for entry in entries.get(key, {}):
                other = found.setdefault((key, entry), name)
                if other != name:
                    raise InputError(f"{name}: {key}.{entry} is in {other} too; keep one of them, or rename one")
        catalogue = merge(catalogue, entries)
    return catalogue


def load_config(
    config: Mapping[str, Any],
    schema_path: str | Path,
    *,
    paths: bool = True,
    base: str | Path | None = None,
    catalogue_schema: str | Path | None = None,
) -> tuple[dict[str, Any], Experiments]:
    """The configuration with its catalogue merged in, schema types, validated, and its experiments.

    The catalogue files that ``config["experiments"]`` lists are read from
    ``base``, the workflow's folder (default: the folder above ``schema_path``'s
    ``schemas/``); ``config`` overrides their entries (:func:`merge`). A config
    without ``experiments`` gives its families, tables and figures itself.
    ``catalogue_schema``: the catalogue files' schema (:func:`read_schemas`).
    ``paths=False`` skips :func:`check_paths`: for a job on a compute node,
    which may not see those folders (only the fetching jobs read them, and
    they run where Snakemake runs).
    """
    whole, file_schema = read_schemas(schema_path, catalogue_schema)
    files = config.get("experiments", [])
    validate_config({"experiments": files}, {**whole, "required": []})
    base = Path(schema_path).parent.parent if base is None else Path(base)
    merged = merge(read_catalogue(files, base, file_schema), config)
    typed = coerce_to_schema(merged, whole)
    validate_config(typed, whole)
    if paths:
        check_paths(typed)
    return typed, load_experiments(typed)


def load_workflow_config(
    base: str | Path, scale: str = "paper", *, paths: bool = False
) -> tuple[dict[str, Any], Experiments]:
    """The configuration a ``snakemake`` run in the workflow folder ``base`` sees at ``scale``: config.yaml,
    ``config/scales/<scale>.yaml`` over it (none for ``paper``) and the catalogue files, validated
    (:func:`load_config`). For scripts outside Snakemake (the docs' renderers)."""
    base = Path(base)
    config = safe_load((base / "config.yaml").read_text())
    if scale != "paper":
        scale_file = base / "config" / "scales" / f"{scale}.yaml"
        if not scale_file.is_file():
            raise InputError(f"{scale_file}: no such scale; choose paper or a file of {scale_file.parent}")
        config = merge(config, safe_load(scale_file.read_text()))
    schemas = base / "schemas"
    return load_config(
        config, schemas / "config.schema.yaml", paths=paths, base=base, catalogue_schema=schemas / CATALOGUE_SCHEMA
    )
