"""The scorecard: every number the papers print, beside the same number in this pipeline's tables.

The papers' numbers are data (``config/papers/p1.csv``, ``p2.csv``; format in
``config/papers/README.md``): one line per printed number, naming the
pipeline's table, the row (``column=value`` pairs joined by ``;``), the
column, the value as printed, the paper's ``±`` (``sd``) and its number of
networks (``n``). ``config/papers/facts.yaml`` lists facts about the papers
that a reader must see beside the rows of the tables they name.

Each line gets a **verdict** (:func:`verdict`, parameters :class:`Tolerances`):

* the **distance** ``|ours - paper| / sd`` in standard deviations: the paper's
  ``±`` where it prints one (for ``ncut_mean`` its sd over networks, so that
  one network of ours is placed within the paper's spread of networks); where
  it prints none, :attr:`~Tolerances.relative_sd` of the value, or for
  Cohen's d an absolute sd (:attr:`~Tolerances.absolute_sd`); never less than
  half a unit of the last printed digit. Texts and flags (``True``/``1``,
  ``important``) are equal (distance 0) or not (infinite).
* **per network** (P1 Tables A.4-A.15: a ``networks`` table, rows keyed by
  ``run``): our network ``run=r`` is another seed than the paper's network
  ``r``, so it is set against the spread of all the paper's networks of the
  same table, condition (the row key without ``run``) and column
  (:func:`network_spread`, at least :attr:`~Tolerances.spread_networks`): the
  distance from their mean in their sd × √(1 + 1/n) (the sd of one more
  network's difference from the mean of n networks; never less than half a
  printed unit or the column's absolute sd), and within their range (min to
  max) counts as within :attr:`~Tolerances.agree_sd` sd, since one of the
  paper's networks reaches it (:func:`spread_distance`). Its pattern is the
  paper's when at least one of the paper's networks shows it
  (:func:`spread_pattern`). Each of our networks is judged by itself, not
  their mean: the spread is one of networks. It stands on the paper's line
  of its ``run``; a network the paper prints no line of gets lines of its own
  (:func:`unprinted_networks`, no paper value).
* the **significance pattern** of the line's row: for a summary row, whether a
  majority of its networks are significant (``prop_sig > 0.5``) here and in the
  paper; for a network, whether it is lower than all its shuffles (``p = 1 /
  (n + 1)``; the paper's printed p-value up to its last digit). Pattern lines
  (``prop_sig``, ``p_value``, ``significant``) have a pattern and no distance.
  A differing pattern can be chance with few networks: :func:`pattern_chance`
  is the probability of a count of significant networks as far from the
  paper's as ours, each network significant at the paper's rate.
* ``agrees``: within :attr:`~Tolerances.agree_sd` sd and the same pattern;
  ``close``: within :attr:`~Tolerances.close_sd` sd, and the same pattern or
  one with a chance of at least :attr:`~Tolerances.pattern_alpha`;
  ``differs``: otherwise; ``no value``: the row is here, the number is not
  (the sd of one network); ``not run``: the table or row is not built here
  (``not run (fewer networks here)``: a network this scale does not train);
  ``not run (needs a GPU)``: not built, and its families are CNNs, VGGs or
  ImageNet models; ``paper only``: a number the pipeline does not compute
  (column ``paper:...``, e.g. ImageNet top-1 accuracy, or no table).
* Only the ``paper`` and ``fidelity`` scales give evidence: at another scale,
  or for a table whose shuffles, random sets or networks are not this scale's
  (built at another one), the verdict is ``smoke``. The lesion tables' rows
  are k-means labels, which differ between any two clusterings: their numbers
  are shown as ``not comparable``. ``comparison`` keeps what the verdict
  would be.

The tables record neither the scale nor the commit: the scorecard records the
scale of the config and the commit of the repository when it is written.
"""

from __future__ import annotations

import csv
import io
import math
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from clusterability.errors import InputError
from clusterability.workflow.experiments import Experiments, Family, Table

#: The columns of a paper values file, in order.
PAPER_COLUMNS = ("table", "paper_table", "row", "column", "value", "sd", "n", "note")
#: The paper value files and the facts, under the repository's ``config/papers/``.
PAPER_FILES = {"P1": "p1.csv", "P2": "p2.csv"}
FACTS_FILE = "facts.yaml"
#: A column the pipeline does not compute (``paper:top1_acc``): quoted, not compared.
PAPER_ONLY_PREFIX = "paper:"
#: Scales whose numbers are evidence; the others are smoke.
EVIDENCE_SCALES = ("paper", "fidelity")
#: Verdicts, in the order the summary counts them.
VERDICTS = (
    "agrees",
    "close",
    "differs",
    "smoke",
    "not comparable",
    "no value",
    "paper only",
    "not run",
    "not run (fewer networks here)",
    "not run (needs a GPU)",
)
#: Pattern columns of a summary row: the fraction of its networks lower than all their shuffles.
MAJORITY_COLUMNS = ("prop_sig", "layer_nonzero_prop_sig", "unpruned_init_prop_sig")
#: Pattern columns of a network: its p-value, and the column with the number of shuffles it is out of.
LOWEST_COLUMNS = {"p_value": "n_shuffles", "layer_nonzero_p_value": "layer_nonzero_n_shuffles"}
#: Pattern columns of a network written as a flag.
FLAG_COLUMNS = ("significant", "layer_nonzero_significant")
#: The columns whose pattern is the whole row's (the other pattern columns are their own line's only).
ROW_PATTERN_COLUMNS = ("prop_sig", "p_value", "significant")
#: Analyses whose rows are named by arbitrary labels (k-means' sub-module numbers): shown, not judged.
ARBITRARY_ROWS = ("single_lesions", "double_lesions", "lesion_dependencies")
#: The key column that names one of a family's networks: a row keyed by it in a ``networks`` table is per network.
RUN_COLUMN = "run"
#: Families whose networks are GPU work: these architectures, and ImageNet models (``pretrained``).
GPU_ARCHITECTURES = ("small_cnn", "vgg")
#: Tables of the papers' parts that the fidelity scale leaves out, and why.
FIDELITY_LEFT_OUT = {
    "lesion_pairs": "P1 Figure A.6 prints no numbers; every pair's lesions cost about 0.5 core-hours",
    "p2/regularizer_sweep": "beyond P2 (no paper numbers); 10 core-minutes per network",
}
#: The CPU parts of the papers that the fidelity scale covers (P2's CNNs are GPU work).
FIDELITY_PAPERS = ("p1", "p2_mlp", "p2_promote")

_TRUE, _FALSE = ("true", "yes"), ("false", "no")


@dataclass(frozen=True)
class Tolerances:
    """When a number agrees with the paper's (module docstring). The rule ``scorecard`` passes these defaults."""

    #: Within this many sd (and the same pattern): ``agrees``.
    agree_sd: float = 2.0
    #: Within this many sd: ``close``.
    close_sd: float = 3.0
    #: Where the paper prints no sd, one sd is this fraction of its value (2 sd: 5 %).
    relative_sd: float = 0.025
    #: A differing pattern is ``close`` when our networks show it with at least this chance.
    pattern_alpha: float = 0.05
    #: The paper's networks per row where its line does not say (``n``).
    paper_networks: int = 10
    #: Columns whose sd does not scale with their value: at least this sd. Cohen's d between two sets of 320
    #: shuffles has a standard error of about 0.08.
    absolute_sd: Mapping[str, float] = field(default_factory=lambda: {"cohens_d": 0.08, "cohens_d_mean": 0.08})
    #: A per-network line is set against the spread of the paper's networks of its table, condition and column
    #: where the paper prints at least this many (:func:`network_spread`); fewer: against the line's own number.
    spread_networks: int = 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The tolerances of the rule ``scorecard``.
TOLERANCES = Tolerances()


@dataclass(frozen=True)
class TableInfo:
    """What the scorecard needs of a table entry of ``config.yaml`` at the scale in force."""

    name: str
    title: str
    paper: str
    analysis: str
    columns: tuple[str, ...]
    gpu: bool
    #: Shuffles per network at this scale, and at the paper's settings (the table entry's own ``shuffles``).
    shuffles: int
    paper_shuffles: int
    #: Summary tables: the networks per row at this scale; networks tables: the rows (0: not checked).
    n_networks: tuple[int, ...] = ()
    rows: int = 0
    #: Columns every row has the same value in at this scale: shuffles, lesions' random sets.
    constants: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableInfo:
        return cls(
            **{
                **data,
                "columns": tuple(data["columns"]),
                "n_networks": tuple(data["n_networks"]),
                "constants": tuple((c, int(v)) for c, v in data["constants"]),
            }
        )


@dataclass(frozen=True)
class Fact:
    """A known fact about the papers, shown beside the rows of ``tables``."""

    id: str
    tables: tuple[str, ...]
    text: str


# ---------------------------------------------------------------------------- the config's tables


def needs_gpu(table: Table, families: Mapping[str, Family]) -> bool:
    """Whether a table's networks are GPU work: small CNNs, VGGs or ImageNet models (its families' architectures)."""
    names = [*table.families, *([table.init_family] if table.init_family else [])]
    return any(families[f].pretrained or families[f].architecture in GPU_ARCHITECTURES for f in names)


def table_infos(experiments: Experiments, config: Mapping[str, Any]) -> dict[str, TableInfo]:
    """:class:`TableInfo` of every table; ``config`` is the validated config (its entries' uncapped shuffles)."""
    infos = {}
    for name, table in experiments.tables.items():
        families = experiments.families
        runs = [
            sum(1 for run in range(families[f].runs) if table.runs is None or run in table.runs) for f in table.families
        ]
        infos[name] = TableInfo(
            name=name,
            title=table.title,
            paper=table.paper,
            analysis=table.analysis,
            columns=table.columns,
            gpu=needs_gpu(table, families),
            shuffles=table.shuffles,
            paper_shuffles=int(config["tables"][name].get("shuffles", 0)),
            n_networks=tuple(sorted(set(runs))) if table.analysis == "summary" else (),
            rows=sum(runs) * len(table.stages) if table.analysis == "networks" else 0,
            constants=_constants(table, config),
        )
    return infos


def _constants(table: Table, config: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """The columns of a table whose every row holds one number at a scale: its shuffles, its lesions' random sets."""
    if table.analysis == "single_lesions":
        return (("n_random", int(config["lesions"]["random_sets"])),)
    if table.analysis == "double_lesions":
        return (("n_random", int(config["lesions"]["pair_random_sets"])),)
    methods = [m for m in table.shuffle_methods if table.shuffles]
    return tuple((f"{'' if m == 'layer' else m + '_'}n_shuffles", table.shuffles) for m in methods)


def fidelity_tables(experiments: Experiments, gpu: bool = False) -> list[str]:
    """The tables the ``fidelity`` target builds: P1's, P2's MLPs' and P2 section 4's on a CPU.

    With ``gpu``: P2's tables of CNNs, VGGs and ImageNet models instead. Leaves out :data:`FIDELITY_LEFT_OUT`.
    """

    def part(paper: str) -> bool:
        return any(paper == p or paper.startswith(f"{p}_") for p in (("p2",) if gpu else FIDELITY_PAPERS))

    return [
        name
        for name, table in experiments.tables.items()
        if part(table.paper) and needs_gpu(table, experiments.families) == gpu and name not in FIDELITY_LEFT_OUT
    ]


def paper_files(folder: str | Path) -> dict[str, str]:
    """The paper value files and facts that exist in ``folder`` (``config/papers/``): label -> path."""
    folder = Path(folder)
    names = {**PAPER_FILES, "facts": FACTS_FILE}
    return {label: str(folder / name) for label, name in names.items() if (folder / name).is_file()}


def built_tables(names: Iterable[str], root: str | Path = ".") -> dict[str, dict[str, Any]]:
    """``results/<name>.csv`` of each table built under ``root``, with its size and modification time (ns).

    The rule passes these as a parameter, not as inputs: as inputs, Snakemake would
    rebuild a table built at another scale, and everything upstream of it.
    """
    found = {}
    for name in names:
        path = Path(root) / "results" / f"{name}.csv"
        if path.is_file():
            stat = path.stat()
            found[name] = {"path": f"results/{name}.csv", "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return found


def git_commit(repo: str | Path) -> str:
    """The repository's short commit, ``+ changes`` if its work tree differs from it; ``unknown`` without git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        return commit + (" + changes" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ---------------------------------------------------------------------------- reading the papers' numbers


def parse_row(key: str, where: str = "row") -> tuple[tuple[str, str], ...]:
    """``dataset=mnist;dropout=True`` as ``(("dataset", "mnist"), ("dropout", "True"))``."""
    pairs = []
    for part in key.split(";"):
        column, sep, value = part.partition("=")
        column, value = column.strip(), value.strip()
        if not sep or not column or not value:
            raise InputError(f"{where}: row {key!r} is not column=value pairs joined by ';' (e.g. dataset=mnist)")
        if column in dict(pairs):
            raise InputError(f"{where}: row {key!r} names column {column!r} twice; give each key column once")
        pairs.append((column, value))
    return tuple(pairs)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def half_unit(printed: str) -> float:
    """Half a unit of the last printed digit of a number (``"2.06"``: 0.005; ``"1"``: 0.5)."""
    mantissa = printed.strip().lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(printed.lower().split("e")[1]) if "e" in printed.lower() else 0
    return 0.5 * 10.0 ** (exponent - decimals)


def check_paper_values(
    frame: pd.DataFrame, where: str, tables: Mapping[str, TableInfo], lines: Sequence[int] | None = None
) -> pd.DataFrame:
    """The lines of a paper values file, checked; raises :class:`InputError` naming the line at fault.

    Every line names a table of the config, a row key and a column of that table
    (or ``paper:...``), a value, and an sd and ``n`` that are empty or numbers. A line
    with no table (a number no table of the pipeline reproduces) needs only its label and value.
    ``lines``: each row's line in the file (default: the header, then one line per row).
    """
    missing = [c for c in PAPER_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{where}: no column {missing[0]!r}; the header is {','.join(PAPER_COLUMNS)}")
    frame = frame[list(PAPER_COLUMNS)].fillna("").astype(str).apply(lambda c: c.str.strip())
    lines = list(range(2, len(frame) + 2)) if lines is None else list(lines)
    seen: dict[tuple[str, str, str], int] = {}
    for i, line in zip(lines, frame.itertuples(index=False)):
        at = f"{where} line {i}"
        if not line.paper_table:
            raise InputError(f"{at}: give paper_table, the paper's label (e.g. P1 Table 1)")
        if not line.value:
            raise InputError(f"{at}: no value; give the number as printed")
        if not line.table:  # a number no table of the pipeline reproduces: quoted, not compared
            continue
        if line.table not in tables:
            raise InputError(f"{at}: table {line.table!r} is not a table of config.yaml; use a name under `tables:`")
        info = tables[line.table]
        for column, _ in parse_row(line.row, at):
            if column not in info.columns:
                raise InputError(
                    f"{at}: row key {column!r} is not a column of table {line.table}; use its columns "
                    f"({', '.join(info.columns)})"
                )
        if line.column not in info.columns and not line.column.startswith(PAPER_ONLY_PREFIX):
            raise InputError(
                f"{at}: column {line.column!r} is not a column of table {line.table}; use one of "
                f"{', '.join(info.columns)}, or paper:<name> for a number the pipeline does not compute"
            )
        if line.sd and (_number(line.sd) is None or _number(line.sd) < 0):
            raise InputError(f"{at}: sd {line.sd!r} is not a non-negative number; give the paper's ± or leave it empty")
        if line.sd and _number(line.value) is None:
            raise InputError(f"{at}: value {line.value!r} is not a number but has an sd; give the number as printed")
        if line.n and not re.fullmatch(r"[1-9]\d{0,5}", line.n):
            raise InputError(f"{at}: n {line.n!r} is not a positive whole number; give the networks or leave it empty")
        key = (line.table, ";".join(f"{c}={v}" for c, v in parse_row(line.row, at)), line.column)
        if key in seen:
            raise InputError(f"{at}: repeats line {seen[key]} (table {key[0]}, row {key[1]}, column {key[2]})")
        seen[key] = i
    return frame.assign(line=lines)


def read_paper_values(path: str | Path, tables: Mapping[str, TableInfo], paper: str, where: str = "") -> pd.DataFrame:
    """One paper's values file (``config/papers/p1.csv``), checked (:func:`check_paper_values`), labelled ``paper``."""
    where = where or str(path)
    header = ",".join(PAPER_COLUMNS)
    try:
        reader = csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8"), newline=""), strict=True)
        rows = [(reader.line_num, row) for row in reader if row]
    except UnicodeDecodeError:
        raise InputError(f"{where}: not UTF-8 text; save it as a UTF-8 CSV file with the header {header}") from None
    except csv.Error as exc:
        raise InputError(f"{where} line {reader.line_num}: not CSV ({exc}); quote fields that hold commas") from None
    if not rows:
        raise InputError(f"{where}: empty; give the header {header} and a line per number")
    (_, names), body = rows[0], rows[1:]
    if len(set(names)) != len(names):
        raise InputError(f"{where}: the header repeats a column; give {header}")
    for i, row in body:
        if len(row) != len(names):
            raise InputError(
                f"{where} line {i}: {len(row)} fields where the header has {len(names)}; quote a note that holds commas"
            )
    frame = pd.DataFrame([row for _, row in body], columns=names, dtype=str)
    return check_paper_values(frame, where, tables, [i for i, _ in body]).assign(paper=paper, source=where)


def shown_path(path: str | Path) -> str:
    """A file of the repository as messages name it: ``config/papers/p1.csv``, whatever the folder above."""
    return str(Path(*Path(path).parts[-3:]))


def read_papers(paths: Mapping[str, Any], tables: Mapping[str, TableInfo]) -> pd.DataFrame:
    """The values files of :data:`PAPER_FILES` among ``paths`` (label -> path), in that order, as one frame."""
    frames = [
        read_paper_values(paths[label], tables, label, where=shown_path(paths[label]))
        for label in PAPER_FILES
        if label in paths
    ]
    empty = pd.DataFrame(columns=[*PAPER_COLUMNS, "line", "paper", "source"])
    return pd.concat(frames, ignore_index=True) if frames else empty


def check_facts(data: Any, where: str, tables: Mapping[str, TableInfo]) -> list[Fact]:
    """The facts of ``facts.yaml`` (a list of ``{id, tables, text}``, or ``{facts: [...]}``), checked."""
    if isinstance(data, Mapping) and set(data) == {"facts"}:
        data = data["facts"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise InputError(f"{where}: not a list of facts; give a list of {{id, tables, text}}")
    facts: list[Fact] = []
    for i, entry in enumerate(data):
        at = f"{where}: fact {i + 1}"
        if not isinstance(entry, Mapping) or set(entry) - {"id", "tables", "text"}:
            raise InputError(f"{at}: give exactly the keys id, tables and text")
        fid, names, text = entry.get("id"), entry.get("tables"), entry.get("text")
        if not isinstance(fid, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", fid):
            raise InputError(f"{at}: id {fid!r} is not a name (letters, digits, _ . -)")
        if fid in {f.id for f in facts}:
            raise InputError(f"{at}: id {fid!r} is used twice; give each fact its own id")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise InputError(f"{at} ({fid}): tables is not a non-empty list of table names")
        unknown = [n for n in names if n not in tables]
        if unknown:
            raise InputError(f"{at} ({fid}): table {unknown[0]!r} is not a table of config.yaml")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{at} ({fid}): give its text")
        facts.append(Fact(fid, tuple(names), " ".join(text.split())))
    return facts


def read_facts(path: str | Path, tables: Mapping[str, TableInfo], where: str = "") -> list[Fact]:
    """``config/papers/facts.yaml``, checked (:func:`check_facts`)."""
    import yaml

    where = where or str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: not YAML ({type(exc).__name__}); give a list of {{id, tables, text}}") from None
    return check_facts(data, where, tables)


def read_table(path: str | Path) -> pd.DataFrame:
    """A result table as written (every cell as text), or an empty frame if it has no columns."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


# ---------------------------------------------------------------------------- comparing


def _flag(text: str) -> bool | None:
    """``True``/``False`` (any case, ``yes``/``no``) as a bool; anything else None."""
    text = text.strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def same_cell(ours: str, printed: str) -> bool:
    """Whether a table cell is the printed key value or text: numbers by value, flags as flags (1 = True)."""
    a, b = _number(ours), _number(printed)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    fa, fb = _flag(ours), _flag(printed)
    if fa is not None or fb is not None:
        fa = fa if fa is not None else (bool(a) if a in (0.0, 1.0) else None)
        fb = fb if fb is not None else (bool(b) if b in (0.0, 1.0) else None)
        return fa is not None and fa == fb
    return ours.strip().lower() == printed.strip().lower()


def find_row(table: pd.DataFrame, key: Sequence[tuple[str, str]], where: str) -> pd.Series | None:
    """The one row of ``table`` with every key column equal to its value (None if none; ambiguity is an error)."""
    if table.empty or any(c not in table.columns for c, _ in key):
        return None
    keep = pd.Series(True, index=table.index)
    for column, value in key:
        keep &= table[column].map(lambda cell, v=value: same_cell(str(cell), v))
    rows = table[keep]
    if len(rows) > 1:
        raise InputError(
            f"{where}: row {';'.join(f'{c}={v}' for c, v in key)} matches {len(rows)} rows of the table; "
            "add key columns (e.g. stage, run) until it names one"
        )
    return rows.iloc[0] if len(rows) else None


def sd_used(value: str, sd: str, tol: Tolerances, column: str = "") -> tuple[float, str]:
    """The sd a line's distance is counted in, and where it comes from (``paper``, ``relative``, ``absolute``).

    At least half a unit of the last printed digit of the value (and of the sd), so
    that a difference of rounding is never more than one sd.
    """
    floor = half_unit(value)
    if sd:
        return max(float(sd), floor, half_unit(sd)), "paper"
    if column in tol.absolute_sd:
        return max(tol.absolute_sd[column], floor), "absolute"
    return max(tol.relative_sd * abs(float(value)), floor), "relative"


def pattern_kind(column: str, analysis: str) -> str | None:
    """``majority`` (a summary row's prop. sig.), ``lowest`` (a network's p-value), ``flag`` or None."""
    if column in MAJORITY_COLUMNS:
        return "majority"
    if column in LOWEST_COLUMNS and analysis == "networks":
        return "lowest"
    if column in FLAG_COLUMNS:
        return "flag"
    return None


def paper_significant(kind: str, printed: str, paper_shuffles: int) -> bool | None:
    """The paper's pattern from a printed number: a majority, lower than all shuffles (to its last digit), a flag."""
    value = _number(printed)
    if kind == "flag":
        flag = _flag(printed)
        return flag if flag is not None else (bool(value) if value in (0.0, 1.0) else None)
    if value is None:
        return None
    if kind == "majority":
        return value > 0.5
    return paper_shuffles > 0 and value <= 1 / (paper_shuffles + 1) + half_unit(printed)


def our_significant(kind: str, row: pd.Series, column: str, shuffles: int) -> bool | None:
    """Our pattern from a table row: a majority, lower than all its shuffles (``p = 1 / (n + 1)``), a flag."""
    cell = str(row.get(column, ""))
    if kind == "flag":
        return _flag(cell)
    value = _number(cell)
    if value is None:
        return None
    if kind == "majority":
        return value > 0.5
    n = _number(str(row.get(LOWEST_COLUMNS[column], ""))) or shuffles
    return n > 0 and value <= (1 / (n + 1)) * (1 + 1e-5)


def pattern_chance(our_sig: int, n_ours: int, paper_sig: float, paper_n: int) -> float:
    """The chance that ``n_ours`` networks have ``our_sig`` significant or fewer (more, if that is above the
    paper's rate) when each is significant at the paper's rate, ``(paper_sig + 1/2) / (paper_n + 1)``
    (``paper_sig`` of its ``paper_n`` networks; the half keeps 0 or 10 of 10 from being certain)."""
    rate = (paper_sig + 0.5) / (paper_n + 1)
    n = max(int(n_ours), 1)
    counts = range(our_sig + 1) if our_sig < rate * n else range(our_sig, n + 1)
    return float(sum(math.comb(n, k) * rate**k * (1 - rate) ** (n - k) for k in counts))


def verdict(distance: float | None, same_pattern: bool | None, chance: float | None, tol: Tolerances) -> str:
    """``agrees``, ``close`` or ``differs`` from a distance in sd (None: a pattern line) and the row's pattern."""
    pattern_ok = same_pattern is not False
    by_chance = same_pattern is False and chance is not None and chance >= tol.pattern_alpha
    if distance is None:
        return "agrees" if pattern_ok else "close" if by_chance else "differs"
    if distance <= tol.agree_sd and pattern_ok:
        return "agrees"
    if distance <= tol.close_sd and (pattern_ok or by_chance):
        return "close"
    return "differs"


# ---------------------------------------------------------------------------- one network against the paper's


class Spread(NamedTuple):
    """The paper's networks of one condition and column of a per-network table (P1 Tables A.4-A.15).

    ``runs``: each network's ``run`` as printed in its row key; ``printed``: its number (:func:`network_spreads`).
    """

    runs: tuple[str, ...]
    printed: tuple[str, ...]


class SpreadStats(NamedTuple):
    """The numbers of a :class:`Spread` (:func:`network_spread`): how many, mean, sd used, min, max, half a unit."""

    n: int
    mean: float
    sd: float
    low: float
    high: float
    unit: float


def network_group(table: str, row: str, info: TableInfo | None) -> tuple[str, str] | None:
    """``(table, condition)`` of a per-network line (a ``networks`` table, a row keyed by ``run``), else None.

    The condition is the row key without ``run`` (``dataset=mnist;dropout=true;stage=pruned``): the paper's
    networks of one condition are the same family's networks of other seeds, and so are ours.
    """
    if info is None or info.analysis != "networks" or not row:
        return None
    pairs = parse_row(row)
    if RUN_COLUMN not in dict(pairs):
        return None
    return table, ";".join(sorted(f"{c}={v.lower()}" for c, v in pairs if c != RUN_COLUMN))


def network_spreads(
    values: pd.DataFrame, tables: Mapping[str, TableInfo], tol: Tolerances = TOLERANCES
) -> dict[tuple[str, str, str], Spread]:
    """The paper's networks of every per-network ``(table, condition, column)`` with at least
    ``tol.spread_networks`` of them printed as a number or flag (fewer: each line stands for itself)."""
    groups: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for line in values.itertuples(index=False):
        group = network_group(line.table, line.row, tables.get(line.table))
        if group is None or line.column.startswith(PAPER_ONLY_PREFIX):
            continue
        if _number(line.value) is not None or _flag(line.value) is not None:
            run = dict(parse_row(line.row))[RUN_COLUMN]
            groups.setdefault((*group, line.column), []).append((run, line.value))
    return {
        key: Spread(tuple(r for r, _ in nets), tuple(v for _, v in nets))
        for key, nets in groups.items()
        if len(nets) >= max(tol.spread_networks, 2)
    }


def network_spread(printed: Sequence[str], tol: Tolerances = TOLERANCES, column: str = "") -> SpreadStats | None:
    """The paper's networks' numbers: their mean, range and the sd a network of ours is measured in (None: too few).

    sd: their sample sd × √(1 + 1/n), the sd of one more network's difference from the mean of n; at least half
    a unit of the last printed digit, and the column's absolute sd where it has one (Cohen's d: its own error).
    """
    numbers = [(x, half_unit(p)) for p in printed if (x := _number(p)) is not None]
    n = len(numbers)
    if n < max(tol.spread_networks, 2):
        return None
    mean = sum(x for x, _ in numbers) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x, _ in numbers) / (n - 1) * (1 + 1 / n))
    unit = max(u for _, u in numbers)
    sd = max(sd, unit, tol.absolute_sd.get(column, 0.0))
    return SpreadStats(n, mean, sd, min(x for x, _ in numbers), max(x for x, _ in numbers), unit)


def spread_distance(ours: float, stats: SpreadStats, tol: Tolerances = TOLERANCES) -> float:
    """One network of ours against the paper's networks, in sd for :func:`verdict`: ``|ours - mean| / sd``, and no
    more than ``tol.agree_sd`` within their range (min to max, to the printed digit), which one of them reaches."""
    distance = abs(ours - stats.mean) / stats.sd
    inside = stats.low - stats.unit <= ours <= stats.high + stats.unit
    return min(distance, tol.agree_sd) if inside else distance


def spread_pattern(
    ours: bool, printed: Sequence[str], kind: str, paper_shuffles: int, tol: Tolerances = TOLERANCES
) -> tuple[bool, float, int, int] | None:
    """One network's pattern against the paper's networks': ``(same, chance, k, n)``, None where fewer than
    ``tol.spread_networks`` have one. ``same``: at least one of the paper's networks shows it (``k`` of the ``n``
    are significant); ``chance``: :func:`pattern_chance` of it at the paper's rate."""
    sig = [s for s in (paper_significant(kind, p, paper_shuffles) for p in printed) if s is not None]
    if len(sig) < max(tol.spread_networks, 2):
        return None
    k, n = sum(sig), len(sig)
    return (k > 0 if ours else k < n), pattern_chance(int(ours), 1, k, n), k, n


def unprinted_networks(
    values: pd.DataFrame,
    tables: Mapping[str, TableInfo],
    built: Mapping[str, pd.DataFrame],
    spreads: Mapping[tuple[str, str, str], Spread],
) -> pd.DataFrame:
    """Lines for our networks whose ``run`` the paper prints no line of (more networks than its): one per column
    with a spread, like the paper's first line of that spread but with our row key and no paper value."""
    extra: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for line in values.itertuples(index=False):
        group = network_group(line.table, line.row, tables.get(line.table))
        key = None if group is None else (*group, line.column)
        frame = built.get(line.table)
        if key not in spreads or key in seen or frame is None or frame.empty:
            continue
        seen.add(key)
        pairs = parse_row(line.row)
        if any(c not in frame.columns for c, _ in pairs):
            continue
        keep = pd.Series(True, index=frame.index)
        for column, value in pairs:
            if column != RUN_COLUMN:
                keep &= frame[column].map(lambda cell, v=value: same_cell(str(cell), v))
        for run in frame.loc[keep, RUN_COLUMN].astype(str):
            if any(same_cell(run, printed) for printed in spreads[key].runs):
                continue
            row = ";".join(f"{c}={run if c == RUN_COLUMN else v}" for c, v in pairs)
            note = f"the paper prints no network {RUN_COLUMN}={run} here: ours against the spread of its networks"
            extra.append({**line._asdict(), "row": row, "value": "", "sd": "", "n": "", "note": note})
    return pd.DataFrame(extra, columns=values.columns)


def scale_mismatch(table: pd.DataFrame, info: TableInfo, scale: str) -> str:
    """Why a built table is not of the scale in force (its shuffles, random sets or networks), or ``""``."""
    for column, expected in info.constants:
        found = {int(v) for v in map(_number, table.get(column, [])) if v is not None}
        if found and found != {expected}:
            return f"built with {column} {min(found)}, scale {scale} has {expected}"
    if info.n_networks and "n_networks" in table.columns:
        found = {int(v) for v in map(_number, table["n_networks"]) if v is not None}
        if found and found != set(info.n_networks):
            return f"built with {max(found)} networks per row, scale {scale} has {max(info.n_networks)}"
    if info.rows and len(table) != info.rows:
        return f"built with {len(table)} rows, scale {scale} has {info.rows}"
    return ""


def _networks(row: pd.Series, info: TableInfo) -> float:
    if info.analysis != "summary":
        return 1.0
    n = _number(str(row.get("n_networks", "")))
    return n if n is not None else float("nan")


def _paper_rates(values: pd.DataFrame, tables: Mapping[str, TableInfo]) -> dict[tuple[str, str], tuple[int, int]]:
    """Per (table, column) of networks' patterns: how many of the paper's networks are significant, of how many."""
    rates: dict[tuple[str, str], tuple[int, int]] = {}
    for line in values.itertuples(index=False):
        if line.table not in tables:
            continue
        kind = pattern_kind(line.column, tables[line.table].analysis)
        if kind not in ("lowest", "flag"):
            continue
        sig = paper_significant(kind, line.value, tables[line.table].paper_shuffles)
        if sig is None:
            continue
        k, n = rates.get((line.table, line.column), (0, 0))
        rates[(line.table, line.column)] = (k + int(sig), n + 1)
    return rates


def _row_key(table: str, row: str) -> tuple[str, str]:
    return table, ";".join(sorted(f"{c}={v.lower()}" for c, v in parse_row(row)))


def score(
    values: pd.DataFrame,
    tables: Mapping[str, TableInfo],
    built: Mapping[str, pd.DataFrame],
    facts: Sequence[Fact] = (),
    *,
    scale: str,
    commit: str,
    tol: Tolerances = TOLERANCES,
) -> pd.DataFrame:
    """The scorecard: one row per paper line (``values``, :func:`read_paper_values`), against ``built`` tables.

    ``built`` maps a table name to its CSV as read by :func:`read_table`; a table
    not in it is not run.
    """
    rates = _paper_rates(values, tables)
    spreads = network_spreads(values, tables, tol)
    extra = unprinted_networks(values, tables, built, spreads)
    values = pd.concat([values, extra], ignore_index=True) if len(extra) else values
    fact_ids = {name: [f.id for f in facts if name in f.tables] for name in tables}
    mismatch = {name: scale_mismatch(frame, tables[name], scale) for name, frame in built.items()}

    # First every line's own pattern, then the row's (prop_sig / p_value / significant) for the other lines.
    # A line of a per-network table is set against the spread of the paper's networks (network_spreads).
    lines = []
    row_patterns: dict[tuple[str, str], tuple[bool | None, bool | str | None, float | None, bool | None]] = {}
    for line in values.itertuples(index=False):
        info = tables.get(line.table)
        where = f"{line.source} line {line.line}"
        frame = built.get(line.table)
        row = None if frame is None or info is None else find_row(frame, parse_row(line.row, where), where)
        group = network_group(line.table, line.row, info)
        spread = None if group is None else spreads.get((*group, line.column))
        out: dict[str, Any] = {
            "paper": line.paper,
            "paper_table": line.paper_table,
            "table": line.table,
            "row": line.row,
            "column": line.column,
            "ours": "",
            "paper_value": line.value,
            "paper_sd": line.sd,
            "n_ours": float("nan"),
            "n_paper": float(line.n) if line.n else float("nan"),
            "note": line.note,
            "paper_spread": "",
        }
        lines.append((line, info, row, spread, out))
        kind = None if info is None else pattern_kind(line.column, info.analysis)
        if row is None or kind is None:
            continue
        ours = our_significant(kind, row, line.column, info.shuffles)
        paper: bool | str | None = paper_significant(kind, line.value, info.paper_shuffles)
        chance = None
        by_spread = (
            None
            if spread is None or ours is None
            else spread_pattern(ours, spread.printed, kind, info.paper_shuffles, tol)
        )
        if by_spread is not None:
            same, chance, k, n = by_spread
            paper = f"{k}/{n}"
            out.update(n_paper=float(n), paper_spread=f"{k} of {n} networks {_sig(True, kind)}")
        elif ours is not None and paper is not None:
            if kind == "majority":
                n_paper = int(line.n) if line.n else tol.paper_networks
                k_paper = round(float(line.value) * n_paper)
                n_ours = int(_networks(row, info)) if not math.isnan(_networks(row, info)) else 1
                k_ours = round(float(row[line.column]) * n_ours)
            else:
                (k_paper, n_paper), n_ours, k_ours = rates[(line.table, line.column)], 1, int(ours)
            chance = pattern_chance(k_ours, n_ours, k_paper, n_paper)
        if by_spread is None:
            same = None if ours is None or paper is None else ours == paper
        out["pattern"] = (ours, paper, chance, same)
        if line.column in ROW_PATTERN_COLUMNS:
            row_patterns.setdefault(_row_key(line.table, line.row), (ours, paper, chance, same))

    records = []
    none = (None, None, None, None)
    for line, info, row, spread, out in lines:
        ours_sig, paper_sig, chance, same = out.pop("pattern", None) or (
            row_patterns.get(_row_key(line.table, line.row), none) if info else none
        )
        out.update(
            sig_ours="" if ours_sig is None else ours_sig,
            sig_paper="" if paper_sig is None else paper_sig,
            same_pattern="" if same is None else same,
            pattern_chance=float("nan") if chance is None else chance,
            sd_used=float("nan"),
            sd_source="",
            diff=float("nan"),
            diff_sd=float("nan"),
            scale=scale,
            commit=commit,
            facts=" ".join(fact_ids.get(line.table, [])),
        )
        comparison = _compare(line, info, row, built, out, same, chance, tol, spread)
        if line.table in mismatch and mismatch[line.table]:
            out["scale"] = f"not {scale}"
            out["note"] = "; ".join(x for x in (mismatch[line.table], out["note"]) if x)
        evidence = scale in EVIDENCE_SCALES and not mismatch.get(line.table)
        judged = comparison in ("agrees", "close", "differs")
        arbitrary = info is not None and info.analysis in ARBITRARY_ROWS and line.table in built
        shown = "not comparable" if arbitrary else "smoke" if judged and not evidence else comparison
        out.update(comparison=comparison, verdict=shown)
        records.append(out)
    columns = [
        "paper", "paper_table", "table", "row", "column", "ours", "paper_value", "paper_sd", "sd_used", "sd_source",
        "diff", "diff_sd", "sig_ours", "sig_paper", "same_pattern", "pattern_chance", "n_ours", "n_paper", "scale",
        "commit", "comparison", "verdict", "facts", "note", "paper_spread",
    ]  # fmt: skip
    return pd.DataFrame(records, columns=columns)


def _compare(
    line: Any,
    info: TableInfo | None,
    row: pd.Series | None,
    built: Mapping[str, pd.DataFrame],
    out: dict[str, Any],
    same: bool | None,
    chance: float | None,
    tol: Tolerances,
    spread: Spread | None = None,
) -> str:
    """Fill ``out``'s value, difference and sd columns of one line; return its comparison (a verdict).

    With ``spread`` (a per-network line): our network against the paper's networks (:func:`network_spread`).
    """
    if info is None or line.column.startswith(PAPER_ONLY_PREFIX):
        return "paper only"
    if line.table not in built:
        return "not run (needs a GPU)" if info.gpu else "not run"
    if row is None:
        out["note"] = "; ".join(x for x in (f"no such row in results/{line.table}.csv at this scale", out["note"]) if x)
        return "not run (fewer networks here)" if info.analysis == "networks" else "not run"
    out["n_ours"] = _networks(row, info)
    cell = str(row.get(line.column, "")).strip()
    out["ours"] = cell
    if cell == "" or cell.lower() == "nan":
        return "no value"
    if pattern_kind(line.column, info.analysis) is not None:
        return verdict(None, same, chance, tol) if same is not None else "no value"
    ours, printed = _number(cell), _number(line.value)
    stats = None if spread is None else network_spread(spread.printed, tol, line.column)
    if stats is not None and ours is not None and _flag(cell) is None:
        digits = max(len(p.split(".")[1]) if "." in p else 0 for p in spread.printed if _number(p) is not None)
        out.update(
            sd_used=stats.sd,
            sd_source="networks",
            diff=ours - stats.mean,
            diff_sd=(ours - stats.mean) / stats.sd,
            n_paper=float(stats.n),
            paper_spread=f"{stats.n} networks: {stats.mean:.{digits}f} ± {stats.sd:.{digits}f}, "
            f"{stats.low:.{digits}f} to {stats.high:.{digits}f}",
        )
        return verdict(spread_distance(ours, stats, tol), same, chance, tol)
    if ours is None or printed is None or _flag(cell) is not None:
        return verdict(0.0 if same_cell(cell, line.value) else math.inf, same, chance, tol)
    sd, source = sd_used(line.value, line.sd, tol, line.column)
    diff = ours - printed
    out.update(sd_used=sd, sd_source=source, diff=diff, diff_sd=diff / sd)
    return verdict(abs(diff) / sd, same, chance, tol)


# ---------------------------------------------------------------------------- reporting


def summary_line(card: pd.DataFrame, tol: Tolerances = TOLERANCES) -> str:
    """``41 of 58 numbers within 2 sd with the same pattern; 5 differ; 12 not run (needs a GPU)``."""
    counts = card["verdict"].value_counts()
    compared = len(card) - int(counts.get("paper only", 0))
    parts = [f"{int(counts.get('agrees', 0))} of {compared} numbers within {tol.agree_sd:g} sd with the same pattern"]
    words = {"close": "close", "differs": "differ", "smoke": "smoke (not evidence at this scale)"}
    for name in VERDICTS[1:]:
        if counts.get(name, 0) and name != "paper only":
            parts.append(f"{int(counts[name])} {words.get(name, name)}")
    if counts.get("paper only", 0):
        n = int(counts["paper only"])
        parts.append(f"and {n} paper-only number{'s' if n > 1 else ''} not compared")
    return "; ".join(parts)


def _like(cell: str, printed: str) -> str:
    """Our number with one more decimal than the paper printed."""
    ours, paper = _number(cell), _number(printed)
    if ours is None or paper is None or "e" in printed.lower():
        return cell
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return f"{ours:.{decimals + 1}f}"


def _sig(value: Any, kind: str) -> str:
    if value == "" or value is None:
        return ""
    if isinstance(value, str) and "/" in value:  # the paper's networks of a per-network line: k/n significant
        k, n = value.split("/")
        return f"{k} of {n} {_sig(True, kind)}"
    return ("majority" if value else "minority") if kind == "majority" else ("lowest" if value else "not lowest")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def scorecard_markdown(
    card: pd.DataFrame,
    tables: Mapping[str, TableInfo],
    facts: Sequence[Fact],
    *,
    scale: str,
    commit: str,
    built: Iterable[str] = (),
    tol: Tolerances = TOLERANCES,
) -> str:
    """The scorecard as a page: the summary line, how to read it, one markdown table per paper table.

    The known facts about a table are numbered notes above its rows; a row whose
    note cites a fact (``fact <id>``) shows its number too.
    """
    built = set(built)
    lines = [
        "# Scorecard: this pipeline's tables against the papers' numbers",
        "",
        f"**{summary_line(card, tol)}.**",
        "",
        f"Scale `{scale}`, commit `{commit}`, recorded when the scorecard was written: the tables record neither. "
        "A table whose shuffles or networks are not this scale's says so in its rows' notes (verdict `smoke`).",
        "",
    ]
    if scale not in EVIDENCE_SCALES:
        lines += [
            f"> **Scale `{scale}`: these numbers are smoke, not evidence.** Verdicts are given only at the `paper` "
            "and `fidelity` scales (`make fidelity`); column `comparison` of scorecard.csv says what they would be.",
            "",
        ]
    lines += [
        "How to read it (`clusterability.workflow.scorecard`):",
        "",
        f"- sd: the paper's ± (for n-cuts, over its networks: each network of ours is placed in the paper's "
        f"spread); where it prints none, {tol.relative_sd:.1%} of its value (*rel.*), or for Cohen's d an absolute "
        "sd (*abs.*); never less than half a unit of the last printed digit.",
        "- significant: *majority* / *minority* of the row's networks lower than all their shuffles (prop. sig. "
        "above or below 0.5); *lowest* / *not lowest* for one network (its p-value is 1 / (shuffles + 1)). A row's "
        "pattern is that of its prop_sig or p_value line.",
        "- per network (P1 Tables A.4-A.15, rows keyed by `run`): our network *r* is another seed than the "
        "paper's network *r*, so it is set against the spread of the paper's networks of the same table, condition "
        "and column (*nets.*; the paper cell reads *n networks: mean ± sd, min to max*): distance from their mean "
        "in their sd × √(1 + 1/n) (the sd of one more network's difference from the mean of n; at least the "
        "absolute sd for Cohen's d), and within their range counts as within "
        f"{tol.agree_sd:g} sd. The pattern is the same when at least one of the paper's networks shows it "
        f"(*3 of 10 lowest*). Our network *r* stands on the paper's line of network *r*; a network the paper does "
        f"not print gets a line of its own; with fewer than {tol.spread_networks} of the paper's networks, a line "
        "stands for itself.",
        f"- **agrees**: within {tol.agree_sd:g} sd, the same pattern. **close**: within {tol.close_sd:g} sd, and the "
        "same pattern or a count of significant networks that the paper's rate gives with a probability of at "
        f"least {tol.pattern_alpha:g} (one network not significant where the paper has 7 of 10). **differs**: "
        "otherwise. **no value**: the row is here, the number is not (the sd of one network). **not comparable**: "
        "the lesion tables' rows are k-means labels, other in every clustering. **not run**: no such table or row "
        "here (*fewer networks here*: a network this scale does not train). **paper only**: a number the pipeline "
        "does not compute.",
        "",
    ]
    numbers = {f.id: i + 1 for i, f in enumerate(facts)}
    if card.empty:
        lines += ["No paper values: config/papers/p1.csv and p2.csv are missing.", ""]
    for paper_table, group in card.groupby("paper_table", sort=False):
        names = [n for n in dict.fromkeys(group["table"]) if n in tables]
        lines += [f"## {paper_table}", ""]
        for n in names:
            lines.append(f"`results/{n}.csv`{'' if n in built else ' (not built)'}: {tables[n].title}.  ")
        lines.append("")
        for i, fact in enumerate(f for f in facts if any(n in f.tables for n in names)):
            lines += [">"] * (i > 0) + [f"> [{numbers[fact.id]}] **{fact.id}**: {fact.text}"]
        if lines[-1] != "":
            lines.append("")
        lines += [
            "| row | column | ours | paper | (ours − paper) / sd | significant (ours / paper) | networks "
            "(ours / paper) | verdict | note |",
            "| --- | --- | ---: | ---: | ---: | --- | --- | --- | --- |",
        ]
        for r in group.itertuples(index=False):
            info = tables.get(r.table)
            analysis = info.analysis if info else ""
            kind = pattern_kind(r.column, analysis) or ("majority" if analysis == "summary" else "lowest")
            paper = r.paper_value + (f" ± {r.paper_sd}" if r.paper_sd else "")
            if r.paper_spread:
                paper = f"{paper or '–'} ({r.paper_spread})"
            dist = "" if math.isnan(r.diff_sd) else f"{r.diff_sd:+.1f}"
            dist += (
                {"relative": " *rel.*", "absolute": " *abs.*", "networks": " *nets.*"}.get(r.sd_source, "")
                if dist
                else ""
            )
            sig = " / ".join(x for x in (_sig(r.sig_ours, kind), _sig(r.sig_paper, kind)) if x)
            nets = " / ".join("–" if math.isnan(x) else f"{x:g}" for x in (r.n_ours, r.n_paper))
            cited = [f"[{numbers[f]}]" for f in numbers if re.search(rf"\bfact {re.escape(f)}\b", r.note)]
            note = " ".join([_cell(r.note), *cited]).strip()
            lines.append(
                f"| {_cell(r.row)} | {r.column} | {_like(r.ours, r.paper_value)} | {paper} | {dist} | {sig} | {nets} "
                f"| {r.verdict} | {note} |"
            )
        lines.append("")
    others = [n for n in tables if n not in set(card["table"])]
    if others:
        lines += [
            "## Tables without the papers' numbers",
            "",
            ", ".join(f"`{n}`" + (" (built)" if n in built else "") for n in others),
            "",
        ]
    return "\n".join(lines)
