"""The papers' numbers as data (config/papers/): every line names a table, row and column the pipeline writes.

``p1.csv`` and ``p2.csv`` hold one line per number printed in a table of P1 and P2
(format: config/papers/README.md); ``facts.yaml`` the facts a reader must see beside
them. :func:`problems` checks the lines against the experiments of ``config.yaml``:
each names a table entry whose title is the paper table's, a column that table
writes (or a ``paper:`` one, noted), a row key of that table's columns whose labels
pick exactly one of the rows the pipeline writes, and numbers; no line twice.
"""

from __future__ import annotations

import copy
import csv
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
import yaml

from clusterability.workflow.config import load_config
from clusterability.workflow.experiments import Experiments

REPO = Path(__file__).resolve().parents[2]
PAPERS = REPO / "config" / "papers"
SCHEMA = REPO / "schemas" / "config.schema.yaml"
FIELDS = ["table", "paper_table", "row", "column", "value", "sd", "n", "note"]
PAPER_TABLE = re.compile(r"^(P[12]) Table (\d+|A\.\d+)$")
FACT_REF = re.compile(r"\(fact ([a-z0-9_]+)\)")
#: Key columns that say which networks a row is about (the pipeline's labels, as its CSVs write them).
LABELS = ("family", "dataset", "architecture", "regime", "dropout", "stage", "pruned", "run")


@pytest.fixture(scope="module")
def experiments() -> Experiments:
    _, exp = load_config(yaml.safe_load((REPO / "config.yaml").read_text()), SCHEMA)
    return exp


@pytest.fixture(scope="module")
def papers() -> dict[str, list[dict[str, str]]]:
    return {paper: read_lines(PAPERS / f"{paper}.csv") for paper in ("p1", "p2")}


@pytest.fixture(scope="module")
def facts() -> list[dict]:
    return yaml.safe_load((PAPERS / "facts.yaml").read_text())


def read_lines(path: Path) -> list[dict[str, str]]:
    """The lines of a paper's CSV, as strings; its header must be :data:`FIELDS`."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != FIELDS:
            raise ValueError(f"{path.name}: header {reader.fieldnames}, expected {FIELDS}")
        return list(reader)


def parse_row(row: str) -> dict[str, str]:
    """``a=1;b=x`` -> ``{"a": "1", "b": "x"}``; ValueError if a pair is not ``column=value`` or a column repeats."""
    pairs = [p.split("=", 1) for p in row.split(";")]
    if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
        raise ValueError(f"row {row!r} is not column=value pairs joined by ';'")
    keys = dict(pairs)
    if len(keys) != len(pairs):
        raise ValueError(f"row {row!r} names a column twice")
    return keys


def pipeline_labels(exp: Experiments, name: str) -> list[dict[str, str]]:
    """The label columns of every row of table ``name``, as its CSV writes them (a summary: no run)."""
    table = exp.tables[name]
    rows = []
    for family, run in exp.networks(name):
        for stage in table.stages:
            labels = {
                "family": family.name,
                "dataset": family.dataset,
                "architecture": family.architecture,
                "regime": family.regime,
                "dropout": str(family.dropout),
                "stage": stage,
                "pruned": str(stage == "pruned"),
                "run": str(run),
            }
            if table.analysis == "summary":
                labels.pop("run")
            if labels not in rows:
                rows.append(labels)
    return rows


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def problems(paper: str, lines: Sequence[Mapping[str, str]], exp: Experiments, fact_ids: set[str]) -> list[str]:
    """What is wrong with the lines of ``paper`` (``p1``, ``p2``), one message per fault."""
    out = []
    seen: set[tuple[str, str, str]] = set()
    shapes: dict[str, dict[str, set[str]]] = {}  # table -> row -> columns
    key_columns: dict[str, set[frozenset[str]]] = {}
    labels_of: dict[str, list[dict[str, str]]] = {}
    for i, line in enumerate(lines, start=2):
        where = f"{paper}.csv line {i}"
        name, column, note = line["table"], line["column"], line["note"]
        label = PAPER_TABLE.match(line["paper_table"])
        if not label or label.group(1).lower() != paper:
            out.append(f"{where}: paper_table {line['paper_table']!r} is not '{paper.upper()} Table <n or A.n>'")
        for ref in FACT_REF.findall(note):
            if ref not in fact_ids:
                out.append(f"{where}: note names fact {ref!r}, which facts.yaml does not hold")
        if _number(line["value"]) is None:
            out.append(f"{where}: value {line['value']!r} is not a finite number")
        sd = _number(line["sd"]) if line["sd"] else 0.0
        if sd is None or sd < 0:
            out.append(f"{where}: sd {line['sd']!r} is not a non-negative number")
        if line["n"] and not (line["n"].isdigit() and int(line["n"]) >= 1):
            out.append(f"{where}: n {line['n']!r} is not a positive whole number")
        if (name, line["row"], column) in seen:
            out.append(f"{where}: ({name}, {line['row']}, {column}) is there twice")
        seen.add((name, line["row"], column))
        if not name:
            if not note:
                out.append(f"{where}: no table entry reproduces it, and no note says so")
            continue
        if name not in exp.tables:
            out.append(f"{where}: table {name!r} is not a table of config.yaml")
            continue
        table = exp.tables[name]
        if not table.paper.startswith(paper):
            out.append(f"{where}: table {name!r} belongs to paper {table.paper!r}, not {paper!r}")
        if label and not table.title.startswith(f"{line['paper_table']},"):
            out.append(f"{where}: table {name!r} is {table.title!r}, not {line['paper_table']}")
        if column.startswith("paper:"):
            if not note:
                out.append(f"{where}: column {column!r} is not the pipeline's, and no note says why")
        elif column not in table.columns:
            out.append(f"{where}: table {name!r} writes no column {column!r}")
        try:
            keys = parse_row(line["row"])
        except ValueError as err:
            out.append(f"{where}: {err}")
            continue
        unknown = [k for k in keys if k not in table.columns]
        if unknown:
            out.append(f"{where}: row key column {unknown[0]!r} is not a column of table {name!r}")
            continue
        key_columns.setdefault(name, set()).add(frozenset(keys))
        shapes.setdefault(name, {}).setdefault(line["row"], set()).add(column)
        labels = {k: v for k, v in keys.items() if k in LABELS}
        if name not in labels_of:
            labels_of[name] = pipeline_labels(exp, name)
        matches = [r for r in labels_of[name] if all(r.get(k) == v for k, v in labels.items())]
        only_labels = len(labels) == len(keys)
        if not matches or (only_labels and len(matches) > 1):
            out.append(
                f"{where}: row {line['row']!r} picks {len(matches)} rows of table {name!r}, not one; "
                f"its rows are e.g. {labels_of[name][0]}"
            )
    for name, keysets in key_columns.items():
        if len(keysets) > 1:
            keys = sorted(map(sorted, keysets))
            out.append(f"{paper}.csv: table {name!r} keys its rows on different columns: {keys}")
    for name, rows in shapes.items():
        if len({frozenset(c) for c in rows.values()}) > 1:
            out.append(f"{paper}.csv: the rows of table {name!r} do not all have the same columns")
    return out


def fact_problems(facts: object, exp: Experiments) -> list[str]:
    """What is wrong with facts.yaml: a list of ``{id, tables, text}`` naming existing tables, ids unique."""
    if not isinstance(facts, list) or not facts:
        return ["facts.yaml: not a non-empty list of {id, tables, text}"]
    out, ids = [], set()
    for i, fact in enumerate(facts):
        if not isinstance(fact, dict) or set(fact) != {"id", "tables", "text"}:
            out.append(f"facts.yaml item {i}: keys are not id, tables, text")
            continue
        if not isinstance(fact["id"], str) or not re.fullmatch(r"[a-z0-9_]+", fact["id"]) or fact["id"] in ids:
            out.append(f"facts.yaml item {i}: id {fact['id']!r} is not a new lower_case_name")
        ids.add(fact["id"])
        if not isinstance(fact["text"], str) or not fact["text"].strip():
            out.append(f"facts.yaml {fact['id']}: no text")
        tables = fact["tables"]
        if not isinstance(tables, list) or not tables:
            out.append(f"facts.yaml {fact['id']}: tables is not a non-empty list")
            continue
        unknown = [t for t in tables if t not in exp.tables]
        out += [f"facts.yaml {fact['id']}: table {t!r} is not a table of config.yaml" for t in unknown]
    return out


def _fact_ids(facts: list[dict]) -> set[str]:
    return {f["id"] for f in facts}


# ---------------------------------------------------------------------------- the files as committed


@pytest.mark.parametrize("paper", ["p1", "p2"])
def test_every_line_names_what_the_pipeline_writes(
    paper: str, papers: dict[str, list[dict[str, str]]], facts: list[dict], experiments: Experiments
) -> None:
    lines = papers[paper]
    assert lines
    assert problems(paper, lines, experiments, _fact_ids(facts)) == []
    # Every table of the paper that the files name is one of its config entries, and each has lines.
    named = {line["table"] for line in lines if line["table"]}
    assert named <= set(experiments.paper_targets(paper))


def test_facts_name_existing_tables_and_are_cited(
    facts: list[dict], papers: dict[str, list[dict[str, str]]], experiments: Experiments
) -> None:
    assert fact_problems(facts, experiments) == []
    cited = {ref for lines in papers.values() for line in lines for ref in FACT_REF.findall(line["note"])}
    assert cited <= _fact_ids(facts) and cited  # the notes point readers at facts that exist


def test_p1_p_values_are_of_32_distinct_shuffles(papers: dict[str, list[dict[str, str]]]) -> None:
    """Fact p1_pvalues_32_distinct: every p-value of P1's per-network tables is (10m + 1)/321, m = 0..32."""
    allowed = {round((10 * m + 1) / 321, 3) for m in range(33)}
    p_values = [
        float(line["value"])
        for line in papers["p1"]
        if line["column"] in ("p_value", "layer_nonzero_p_value") and line["table"] not in ("tableA18", "tableA19")
    ]
    assert p_values and all(p in allowed for p in p_values)
    # The pipeline's independent shuffles can give p-values that P1's 32 distinct ones could not.
    assert round(2 / 321, 3) not in allowed


def test_p2_k_sweep_repeats_p1(papers: dict[str, list[dict[str, str]]], experiments: Experiments) -> None:
    """Fact p2_ksweep_repeats_p1: P2 Tables A.1-A.4 print P1's k-sweep lines (same k) digit for digit."""
    p1 = {(line["table"], line["row"], line["column"]): line for line in papers["p1"]}
    p1_by_k = {experiments.tables[t].k: t for t in ("table1", "tableA1", "tableA2", "tableA3")}
    compared = 0
    for line in papers["p2"]:
        if line["table"] not in ("p2/tableA1", "p2/tableA2", "p2/tableA3", "p2/tableA4"):
            continue
        column = "dist_ncut_mean" if line["column"] == "mean_dist_mean" else line["column"]
        twin = p1[(p1_by_k[experiments.tables[line["table"]].k], line["row"], column)]
        assert (float(twin["value"]), twin["sd"]) == (float(line["value"]), line["sd"]), line
        compared += 1
    assert compared


# ---------------------------------------------------------------------------- hostile lines and facts

GOOD = {
    "table": "table1",
    "paper_table": "P1 Table 1",
    "row": "dataset=mnist;dropout=True",
    "column": "ncut_mean",
    "value": "1.840",
    "sd": "0.015",
    "n": "10",
    "note": "",
}
HOSTILE = [
    ({"table": "tableZ"}, "is not a table of config.yaml"),
    ({"table": "", "note": ""}, "no table entry reproduces it"),
    ({"table": "p2/tableA5"}, "belongs to paper"),
    ({"table": "tableA1"}, "not P1 Table 1"),
    ({"paper_table": "Table 1"}, "is not 'P1 Table"),
    ({"paper_table": "P2 Table 1"}, "is not 'P1 Table"),
    ({"column": "mean_dist_mean"}, "writes no column 'mean_dist_mean'"),
    ({"column": "paper:top1_acc"}, "no note says why"),
    ({"row": "dataset:mnist"}, "is not column=value pairs"),
    ({"row": "dataset=mnist;dataset=mnist"}, "names a column twice"),
    ({"row": "dataset=mnist;seed=1"}, "row key column 'seed' is not a column"),
    ({"row": "dataset=MNIST;dropout=True"}, "picks 0 rows"),
    ({"row": "dataset=mnist;dropout=yes"}, "picks 0 rows"),
    ({"row": "dropout=True"}, "picks 3 rows"),
    ({"value": "2.0.0"}, "is not a finite number"),
    ({"value": "nan"}, "is not a finite number"),
    ({"value": "2.000 ± 0.035"}, "is not a finite number"),
    ({"sd": "-0.1"}, "is not a non-negative number"),
    ({"n": "0"}, "is not a positive whole number"),
    ({"n": "ten"}, "is not a positive whole number"),
    ({"note": "see (fact no_such_fact)"}, "which facts.yaml does not hold"),
]


@pytest.mark.parametrize(("change", "message"), HOSTILE)
def test_a_bad_line_is_named(change: dict[str, str], message: str, experiments: Experiments) -> None:
    assert problems("p1", [GOOD], experiments, {"p1_pvalues_32_distinct"}) == []
    found = problems("p1", [{**GOOD, **change}], experiments, {"p1_pvalues_32_distinct"})
    assert any(message in p for p in found), found
    assert all(p.startswith("p1.csv line 2: ") and "\n" not in p for p in found), found


def test_a_twice_given_line_and_ragged_tables_are_named(experiments: Experiments) -> None:
    assert any("is there twice" in p for p in problems("p1", [GOOD, GOOD], experiments, set()))
    other_key = {**GOOD, "row": "dataset=mnist;dropout=True;k=4", "column": "test_acc"}
    assert any("keys its rows on different columns" in p for p in problems("p1", [GOOD, other_key], experiments, set()))
    plain = {**GOOD, "row": "dataset=mnist;dropout=False", "column": "test_acc"}
    assert any("do not all have the same columns" in p for p in problems("p1", [GOOD, plain], experiments, set()))


def test_a_bad_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p1.csv"
    path.write_text("table,paper_table,row,column,value,sd,n\ntable1,P1 Table 1,dataset=mnist;dropout=True,k,4,,,\n")
    with pytest.raises(ValueError, match="header"):
        read_lines(path)
    path.write_text(",".join(FIELDS) + "\n" + ",".join(GOOD.values()) + "\n")
    assert read_lines(path) == [GOOD]


def test_bad_facts_are_named(facts: list[dict], experiments: Experiments) -> None:
    assert fact_problems(None, experiments) == ["facts.yaml: not a non-empty list of {id, tables, text}"]
    bad = copy.deepcopy(facts[:2])
    bad[0]["tables"] = ["table1", "tableZ"]
    bad[1]["id"] = bad[0]["id"]
    bad.append({"id": "x", "tables": [], "text": "t"})
    bad.append({"id": "y", "tables": ["table1"]})
    found = fact_problems(bad, experiments)
    for message in ("'tableZ' is not a table", "is not a new lower_case_name", "not a non-empty list", "keys are"):
        assert any(message in p for p in found), (message, found)
    assert len(found) == 4
