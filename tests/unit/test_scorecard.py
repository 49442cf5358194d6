"""The scorecard (papers' numbers against the built tables) and the fidelity scale.

Unit tests build small tables in the pipeline's CSV format (``tables.write_csv``)
and paper values files in the format of ``config/papers/README.md``, with their
own numbers; one test runs ``snakemake scorecard`` on an empty work folder.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from clusterability.errors import InputError
from clusterability.report.tables import write_csv
from clusterability.workflow.config import load_config, merge
from clusterability.workflow.scorecard import (
    FIDELITY_LEFT_OUT,
    PAPER_COLUMNS,
    TOLERANCES,
    Fact,
    TableInfo,
    Tolerances,
    built_tables,
    check_facts,
    fidelity_tables,
    find_row,
    half_unit,
    network_spread,
    paper_files,
    paper_significant,
    parse_row,
    pattern_chance,
    read_facts,
    read_paper_values,
    read_papers,
    read_table,
    score,
    scorecard_markdown,
    sd_used,
    spread_distance,
    spread_pattern,
    summary_line,
    table_infos,
    verdict,
)
from workflow_helpers import REPO, TINY, planned_jobs, snakemake

SCHEMA = REPO / "schemas/config.schema.yaml"
HEADER = ",".join(PAPER_COLUMNS)

# A P1-like summary table (k = 4, 320 shuffles), its per-network table, a lesion table and a GPU table.
TABLES = {
    "t1": TableInfo(
        name="t1",
        title="P1 Table 1, test",
        paper="p1",
        analysis="summary",
        columns=("dataset", "dropout", "n_networks", "prop_sig", "test_acc", "ncut_mean", "ncut_std", "n_shuffles"),
        gpu=False,
        shuffles=320,
        paper_shuffles=320,
        n_networks=(1,),
        constants=(("n_shuffles", 320),),
    ),
    "nets": TableInfo(
        name="nets",
        title="P1 Table A.4, test",
        paper="p1",
        analysis="networks",
        columns=("dataset", "stage", "run", "ncut", "p_value", "cohens_d", "n_shuffles"),
        gpu=False,
        shuffles=320,
        paper_shuffles=320,
        rows=2,
        constants=(("n_shuffles", 320),),
    ),
    "lesions": TableInfo(
        name="lesions",
        title="P1 Table A.18, test",
        paper="p1",
        analysis="single_lesions",
        columns=("submodule", "acc_diff", "n_random"),
        gpu=False,
        shuffles=0,
        paper_shuffles=0,
        constants=(("n_random", 100),),
    ),
    "cnn": TableInfo(
        name="cnn",
        title="P2 Table A.8, test",
        paper="p2_cnn",
        analysis="summary",
        columns=("dataset", "pruned", "ncut_mean", "prop_sig"),
        gpu=True,
        shuffles=50,
        paper_shuffles=50,
    ),
}

# Paper lines: the expected verdict at the fidelity scale is in the note (checked below).
PAPER_LINES = """\
t1,P1 Table 1,dataset=mnist;dropout=False,ncut_mean,2.000,0.035,10,agrees
t1,P1 Table 1,dataset=mnist;dropout=False,test_acc,0.984,,10,agrees
t1,P1 Table 1,dataset=mnist;dropout=False,prop_sig,0.7,,10,agrees
t1,P1 Table 1,dataset=mnist;dropout=True,ncut_mean,1.840,0.015,10,close
t1,P1 Table 1,dataset=mnist;dropout=True,ncut_std,0.015,,10,no value
t1,P1 Table 1,dataset=mnist;dropout=True,prop_sig,1.0,,10,agrees
t1,P1 Table 1,dataset=fashion_mnist;dropout=False,ncut_mean,1.880,0.030,10,differs
t1,P1 Table 1,dataset=fashion_mnist;dropout=False,prop_sig,1.0,,10,differs
t1,P1 Table 1,dataset=cifar10;dropout=False,prop_sig,0.1,,10,close
t1,P1 Table 1,dataset=cifar10;dropout=True,ncut_mean,1.84,0.089,10,not run
nets,P1 Table A.4,dataset=mnist;stage=unpruned;run=0,ncut,2.423,,1,agrees
nets,P1 Table A.4,dataset=mnist;stage=unpruned;run=0,p_value,0.003,,1,agrees
nets,P1 Table A.4,dataset=mnist;stage=unpruned;run=0,cohens_d,-0.087,,1,agrees
nets,P1 Table A.4,dataset=mnist;stage=unpruned;run=1,ncut,2.419,,1,close
nets,P1 Table A.4,dataset=mnist;stage=unpruned;run=1,p_value,0.065,,1,close
nets,P1 Table A.4,dataset=mnist;stage=unpruned;run=2,ncut,2.445,,1,not run (fewer networks here)
lesions,P1 Table A.18,submodule=1-0,acc_diff,-0.0552,,1,not comparable
cnn,P2 Table A.8,dataset=mnist;pruned=True,ncut_mean,8.9,,5,not run (needs a GPU)
cnn,P2 Table A.8,dataset=mnist;pruned=True,paper:top1_acc,0.70,,1,paper only
"""


def _values_file(tmp_path: Path, lines: str = PAPER_LINES, name: str = "p1.csv") -> Path:
    path = tmp_path / name
    path.write_text(f"{HEADER}\n{lines}", encoding="utf-8")
    return path


def _built(tmp_path: Path, shuffles: int = 320, random_sets: int = 100) -> dict[str, pd.DataFrame]:
    """Our tables, written and read back as the workflow does (6 significant digits, True/False)."""
    t1 = pd.DataFrame(
        {
            "dataset": ["mnist", "mnist", "fashion_mnist", "cifar10"],
            "dropout": [False, True, False, False],
            "n_networks": [1, 1, 1, 1],
            # Significant like the paper's majority (7 of 10, 10 of 10); not, where the paper has 10 of 10
            # (chance 0.045: differs); significant where the paper has 1 of 10 (chance 0.14: close).
            "prop_sig": [1.0, 1.0, 0.0, 1.0],
            "test_acc": [0.981, 0.97, 0.88, 0.40],
            "ncut_mean": [2.0301, 1.880, 1.881, 2.0],  # +0.9 sd (0.035); +2.7 sd (0.015); +0.03 sd
            "ncut_std": [float("nan")] * 4,
            "n_shuffles": [shuffles] * 4,
        }
    )
    nets = pd.DataFrame(
        {
            "dataset": ["mnist", "mnist"],
            "stage": ["unpruned", "unpruned"],
            "run": [0, 1],
            # Set against the paper's three networks (2.423, 2.419, 2.445: mean 2.429, sd × √(4/3) 0.0162): run 0
            # within their range; run 1 2.5 of their sd above their mean.
            "ncut": [2.44, 2.47],
            "p_value": [1 / (shuffles + 1), 1 / (shuffles + 1)],  # run 1: lowest where the paper's is not
            "cohens_d": [0.0, 0.1],
            "n_shuffles": [shuffles, shuffles],
        }
    )
    lesions = pd.DataFrame({"submodule": ["1-0"], "acc_diff": [-0.2], "n_random": [random_sets]})
    out = {}
    for name, frame in (("t1", t1), ("nets", nets), ("lesions", lesions)):
        write_csv(frame, tmp_path / f"{name}.csv")
        out[name] = read_table(tmp_path / f"{name}.csv")
    return out


def _card(tmp_path: Path, scale: str = "fidelity", **built_args: int) -> pd.DataFrame:
    values = read_paper_values(_values_file(tmp_path), TABLES, "P1")
    facts = [Fact("p1_pvalues", ("t1", "nets"), "P1's p-values are (10m + 1)/321.")]
    return score(values, TABLES, _built(tmp_path, **built_args), facts, scale=scale, commit="abc1234")


# ---------------------------------------------------------------------------- the rules, one by one


def test_verdicts_at_the_fidelity_scale(tmp_path: Path) -> None:
    """Every verdict, each on the line whose note names it."""
    card = _card(tmp_path)
    assert list(card["verdict"]) == list(card["note"].str.split(";").str[-1].str.strip())
    assert set(card["verdict"]) == {
        "agrees", "close", "differs", "no value", "not run", "not run (fewer networks here)", "not run (needs a GPU)",
        "paper only", "not comparable",
    }  # fmt: skip
    assert set(card["scale"]) == {"fidelity"} and set(card["commit"]) == {"abc1234"}
    row = card[(card["row"] == "dataset=mnist;dropout=False") & (card["column"] == "ncut_mean")].iloc[0]
    assert row["sd_source"] == "paper" and row["diff_sd"] == pytest.approx(0.0301 / 0.035)
    assert row["n_ours"] == 1 and row["n_paper"] == 10
    # The sd rule: where the paper prints none, 2.5 % of its value; Cohen's d an absolute 0.08.
    acc = card[card["column"] == "test_acc"].iloc[0]
    assert acc["sd_source"] == "relative" and acc["sd_used"] == pytest.approx(0.025 * 0.984)
    d = card[card["column"] == "cohens_d"].iloc[0]
    assert d["sd_source"] == "absolute" and d["diff_sd"] == pytest.approx(0.087 / 0.08)
    # The pattern rule: the row's prop_sig sets every line's pattern.
    fashion = card[card["row"] == "dataset=fashion_mnist;dropout=False"]
    assert list(fashion["same_pattern"]) == [False, False]
    assert fashion["diff_sd"].iloc[0] == pytest.approx(0.001 / 0.030, abs=1e-9)  # within 2 sd, yet differs
    assert card[card["row"] == "dataset=cifar10;dropout=True"]["note"].str.startswith("no such row").all()
    # A network's n-cut against the paper's three networks of its condition; its p-value (two printed) by itself.
    ncut = card[
        (card["table"] == "nets") & (card["column"] == "ncut") & (card["verdict"] != "not run (fewer networks here)")
    ]
    assert list(ncut["sd_source"]) == ["networks", "networks"] and list(ncut["n_paper"]) == [3, 3]
    assert ncut["diff_sd"].iloc[1] == pytest.approx((2.47 - 2.429) / (math.sqrt(0.000196 * 4 / 3)), rel=1e-3)
    assert card.loc[(card["table"] == "nets") & (card["column"] == "p_value"), "n_paper"].tolist() == [1, 1]


def test_quick_scale_is_smoke_and_another_scale_is_flagged(tmp_path: Path) -> None:
    quick = _card(tmp_path, scale="quick")
    fidelity = _card(tmp_path)
    judged = fidelity["verdict"].isin(["agrees", "close", "differs"])
    assert judged.sum() == 13
    assert (quick.loc[judged, "verdict"] == "smoke").all()
    assert (quick.loc[judged, "comparison"] == fidelity.loc[judged, "verdict"]).all()
    assert (quick.loc[~judged, "verdict"] == fidelity.loc[~judged, "verdict"]).all()  # not run stays not run
    # Tables built with 50 shuffles (or 20 random sets) seen at the fidelity scale: smoke, and the notes say why.
    other = _card(tmp_path, shuffles=50, random_sets=20)
    t1 = other[(other["table"] == "t1") & other["comparison"].isin(["agrees", "close", "differs"])]
    assert len(t1) and (t1["verdict"] == "smoke").all() and (t1["scale"] == "not fidelity").all()
    assert t1["note"].str.contains("built with n_shuffles 50, scale fidelity has 320").all()
    lesion = other[other["table"] == "lesions"].iloc[0]
    assert "n_random 20" in lesion["note"]


def test_facts_are_attached_to_their_tables(tmp_path: Path) -> None:
    card = _card(tmp_path)
    assert (card.loc[card["table"].isin(["t1", "nets"]), "facts"] == "p1_pvalues").all()
    assert (card.loc[~card["table"].isin(["t1", "nets"]), "facts"] == "").all()
    facts = [Fact("p1_pvalues", ("t1", "nets"), "P1's p-values are (10m + 1)/321.")]
    page = scorecard_markdown(card, TABLES, facts, scale="fidelity", commit="abc1234", built=["t1", "nets"])
    sections = page.split("\n## ")
    t1 = next(s for s in sections if s.startswith("P1 Table 1\n"))
    assert "> [1] **p1_pvalues**: P1's p-values are (10m + 1)/321." in t1
    assert "[1]" not in next(s for s in sections if s.startswith("P1 Table A.18\n"))


def test_markdown_page(tmp_path: Path) -> None:
    card = _card(tmp_path, scale="quick")
    page = scorecard_markdown(card, TABLES, [], scale="quick", commit="abc1234", built=["t1"])
    first = page.splitlines()[2]
    assert first == f"**{summary_line(card)}.**"
    assert "smoke, not evidence" in page and "Scale `quick`, commit `abc1234`" in page
    # One markdown table per paper table, in the files' order; a table not built says so.
    assert [line for line in page.splitlines() if line.startswith("## ")] == [
        "## P1 Table 1",
        "## P1 Table A.4",
        "## P1 Table A.18",
        "## P2 Table A.8",
    ]
    assert "`results/cnn.csv` (not built)" in page
    assert "| dataset=mnist;dropout=False | ncut_mean | 2.0301 | 2.000 ± 0.035 | +0.9 |" in page
    assert "majority / majority" in page and "lowest / lowest" in page
    evidence = scorecard_markdown(_card(tmp_path), TABLES, [], scale="fidelity", commit="x")
    assert "smoke, not evidence" not in evidence


def test_summary_line_counts_every_verdict(tmp_path: Path) -> None:
    card = _card(tmp_path)
    assert summary_line(card) == (
        "7 of 18 numbers within 2 sd with the same pattern; 4 close; 2 differ; 1 not comparable; 1 no value; "
        "1 not run; 1 not run (fewer networks here); 1 not run (needs a GPU); and 1 paper-only number not compared"
    )
    assert summary_line(card.iloc[:0]) == "0 of 0 numbers within 2 sd with the same pattern"


def test_verdict_rule() -> None:
    tol = TOLERANCES
    assert verdict(1.99, True, None, tol) == "agrees"
    assert verdict(2.0, None, None, tol) == "agrees"  # no pattern in the row (e.g. Table A.16)
    assert verdict(2.5, True, None, tol) == "close"
    assert verdict(3.0, None, None, tol) == "close"
    assert verdict(3.01, True, None, tol) == "differs"
    assert verdict(0.0, False, 0.3, tol) == "close"  # the pattern differs, as few networks often do
    assert verdict(0.0, False, 0.01, tol) == "differs"
    assert verdict(2.5, False, 0.3, tol) == "close"
    assert verdict(3.5, False, 0.3, tol) == "differs"
    assert verdict(None, True, None, tol) == "agrees"  # a pattern line
    assert verdict(None, False, 0.3, tol) == "close"
    assert verdict(None, False, 0.04, tol) == "differs"
    assert verdict(math.inf, None, None, tol) == "differs"  # text or flag that differs
    strict = Tolerances(agree_sd=1.0, close_sd=1.5)
    assert verdict(1.2, True, None, strict) == "close" and verdict(1.6, True, None, strict) == "differs"


def test_sd_rule() -> None:
    tol = TOLERANCES
    assert sd_used("2.000", "0.035", tol) == (0.035, "paper")
    assert sd_used("2.000", "0.000", tol) == (0.0005, "paper")  # at least half a printed unit
    assert sd_used("0.984", "", tol) == (pytest.approx(0.0246), "relative")
    assert sd_used("0.01", "", tol) == (0.005, "relative")  # rounding is never more than one sd
    assert sd_used("-0.087", "", tol, "cohens_d") == (0.08, "absolute")
    assert sd_used("2.06", "0.14", Tolerances(relative_sd=0.5)) == (0.14, "paper")
    assert [half_unit(x) for x in ("2.06", "1", "0.0552", "1.5e-3", "-3.10")] == pytest.approx(
        [0.005, 0.5, 0.00005, 0.00005, 0.005]
    )


def test_pattern_rule() -> None:
    # The paper's "lower than all shuffles": its printed p-value is 1 / (n + 1) to its last digit.
    assert paper_significant("lowest", "0.003", 320) and not paper_significant("lowest", "0.034", 320)
    assert paper_significant("lowest", "0.02", 50) and not paper_significant("lowest", "0.04", 50)
    assert paper_significant("lowest", "0.01", 100) and not paper_significant("lowest", "0.02", 100)
    assert not paper_significant("lowest", "0.003", 0)
    assert paper_significant("majority", "0.6", 0) and not paper_significant("majority", "0.5", 0)
    assert paper_significant("flag", "1", 0) and paper_significant("flag", "True", 0) is True
    assert paper_significant("flag", "0", 0) is False and paper_significant("flag", "maybe", 0) is None
    # The chance of a count as far from the paper's: one network against 7 of 10, 0 of 10, 10 of 10.
    assert pattern_chance(0, 1, 7, 10) == pytest.approx(1 - 7.5 / 11)
    assert pattern_chance(1, 1, 0, 10) == pytest.approx(0.5 / 11)
    assert pattern_chance(0, 1, 10, 10) == pytest.approx(0.5 / 11)
    # Ten networks, 2 significant, against the paper's 7 of 10: no longer chance.
    assert pattern_chance(2, 10, 7, 10) < 0.01 < pattern_chance(4, 10, 7, 10)
    assert pattern_chance(9, 10, 2, 10) == pytest.approx(sum(math.comb(10, k) * (2.5 / 11) ** k * (8.5 / 11) ** (10 - k)
                                                             for k in (9, 10)))  # fmt: skip


def test_missing_tables_are_not_run(tmp_path: Path) -> None:
    values = read_paper_values(_values_file(tmp_path), TABLES, "P1")
    card = score(values, TABLES, {}, scale="fidelity", commit="x")
    assert set(card["verdict"]) == {"not run", "not run (needs a GPU)", "paper only"}
    assert list(card.loc[card["table"] == "cnn", "verdict"]) == ["not run (needs a GPU)", "paper only"]
    assert card["ours"].eq("").all() and card["diff_sd"].isna().all()


# ---------------------------------------------------------------------------- one network against the paper's


def test_spread_rule() -> None:
    """A network of ours against the paper's networks: mean ± sd × √(1 + 1/n), and their range agrees."""
    tol = TOLERANCES
    stats = network_spread(["2.0", "2.2", "2.4"], tol)
    assert (stats.n, stats.mean, stats.low, stats.high) == (3, pytest.approx(2.2), 2.0, 2.4)
    assert stats.sd == pytest.approx(0.2 * math.sqrt(4 / 3))
    assert spread_distance(2.3, stats, tol) == pytest.approx(0.1 / stats.sd)
    assert (
        spread_distance(3.5, stats, tol) == pytest.approx(1.3 / stats.sd)
        and verdict(1.3 / stats.sd, True, None, tol) == "differs"
    )
    # One outlier among ten: 1.95 is 2.6 sd from their mean, but a network of the paper's reaches it.
    skewed = network_spread(["1.00"] * 9 + ["2.00"], tol)
    assert abs(1.95 - skewed.mean) / skewed.sd > tol.agree_sd == spread_distance(1.95, skewed, tol)
    assert spread_distance(2.05, skewed, tol) > tol.agree_sd  # beyond their range: its sd only
    # Floors: half a printed unit; Cohen's d its own error (0.08). Too few networks: no spread.
    assert network_spread(["2.0", "2.0", "2.0"], tol).sd == 0.05
    assert network_spread(["0.10", "0.11", "0.12"], tol, "cohens_d").sd == 0.08
    assert network_spread(["2.0", "2.2"], tol) is None and network_spread(["2.0", "x", "2.2"], tol) is None
    assert network_spread(["2.0", "2.2"], Tolerances(spread_networks=2)) is not None


def test_spread_pattern_rule() -> None:
    """A network's pattern is the paper's when at least one of its networks shows it."""
    three = ["0.003", "0.034", "0.065"]  # 1 of 3 lower than all 320 shuffles
    assert spread_pattern(True, three, "lowest", 320) == (True, pytest.approx(1.5 / 4), 1, 3)
    assert spread_pattern(False, three, "lowest", 320)[:1] == (True,)
    none = ["0.034"] * 10
    same, chance, k, n = spread_pattern(True, none, "lowest", 320)
    assert (same, k, n) == (False, 0, 10) and chance == pytest.approx(0.5 / 11)
    assert verdict(None, same, chance, TOLERANCES) == "differs"
    assert spread_pattern(True, ["0.003", "0.034"], "lowest", 320) is None  # fewer than 3: the line's own


def test_a_network_against_the_papers_networks(tmp_path: Path) -> None:
    """Our run 0 is not the paper's network 0: it is judged against the paper's ten networks of its condition."""
    nets = dataclasses.replace(TABLES["nets"], rows=0)
    ncuts = ["2.00", "2.10", "2.20", "2.30", "2.15", "2.25", "2.05", "2.12", "2.18", "2.22"]
    pvals = ["0.003", "0.003", "0.003"] + ["0.065"] * 7  # 3 of 10 lower than all shuffles
    lines = "".join(
        f"nets,P1 Table A.6,dataset=mnist;stage=pruned;run={r},{column},{value},,1,\n"
        for r in range(10)
        for column, value in (("ncut", ncuts[r]), ("p_value", pvals[r]))
    )
    values = read_paper_values(_values_file(tmp_path, lines), {"nets": nets}, "P1")
    ours = pd.DataFrame(
        {
            "dataset": ["mnist"] * 3,
            "stage": ["pruned"] * 3,
            "run": [0, 1, 12],  # the paper prints no network 12
            "ncut": [2.25, 3.0, 2.1],
            "p_value": [1 / 321, 0.5, 1 / 321],
            "cohens_d": [1.0, 1.0, 1.0],
            "n_shuffles": [320] * 3,
        }
    )
    write_csv(ours, tmp_path / "nets.csv")
    card = score(values, {"nets": nets}, {"nets": read_table(tmp_path / "nets.csv")}, scale="fidelity", commit="x")
    assert len(card) == 20 + 2  # the paper's lines, and ours for network 12
    got = {(r.row.split("run=")[1], r.column): r for r in card.itertuples(index=False)}
    run0 = got[("0", "ncut")]
    # Against the paper's network 0 (2.00, 2.5 % sd) it would be 5 sd away; against its ten, within their range.
    assert run0.verdict == "agrees" and run0.sd_source == "networks" and run0.n_paper == 10
    assert run0.diff == pytest.approx(2.25 - 2.157) and run0.paper_spread.startswith("10 networks: 2.16 ± ")
    assert (run0.sig_ours, run0.sig_paper, run0.same_pattern) == (True, "3/10", True)
    assert got[("0", "p_value")].verdict == "agrees"
    # Run 1: not lower than all shuffles, like 7 of the paper's 10, but its n-cut is far above all of theirs.
    assert got[("1", "p_value")].verdict == "agrees" and got[("1", "ncut")].verdict == "differs"
    # Run 12: judged on a line of its own, with no paper value; the paper's networks 2-9: not run here.
    run12 = got[("12", "ncut")]
    assert run12.verdict == "agrees" and run12.paper_value == "" and "prints no network run=12" in run12.note
    assert got[("12", "p_value")].sig_paper == "3/10"
    assert {got[(str(r), c)].verdict for r in range(2, 10) for c in ("ncut", "p_value")} == {
        "not run (fewer networks here)"
    }
    page = scorecard_markdown(card, {"nets": nets}, [], scale="fidelity", commit="x", built=["nets"])
    assert "| dataset=mnist;stage=pruned;run=0 | ncut | 2.250 | 2.00 (10 networks: 2.16 ± " in page
    assert "*nets.* | lowest / 3 of 10 lowest | 1 / 10 | agrees |" in page


# ---------------------------------------------------------------------------- reading the files


def test_paper_values_files_read_and_join(tmp_path: Path) -> None:
    p1 = _values_file(tmp_path)
    quoted = 'cnn,P2 Table A.8,dataset=mnist;pruned=False,prop_sig,0.6,,5,"printed 3/5, a ""fraction"""\n'
    p2 = _values_file(tmp_path, quoted + ",P2 Table 9,,,0.5,,,no table reproduces it\n", "p2.csv")
    values = read_papers({"P2": str(p2), "P1": str(p1), "facts": "x"}, TABLES)
    assert list(values["paper"].unique()) == ["P1", "P2"] and len(values) == PAPER_LINES.count("\n") + 2
    assert set(values["source"]) == {f"{tmp_path.parent.name}/{tmp_path.name}/p{i}.csv" for i in (1, 2)}
    assert values["line"].iloc[0] == 2
    assert values.iloc[-2]["note"] == 'printed 3/5, a "fraction"'
    card = score(values, TABLES, {}, scale="paper", commit="x")
    assert card.iloc[-1]["verdict"] == "paper only"
    assert read_papers({}, TABLES).empty
    assert paper_files(tmp_path) == {"P1": str(p1), "P2": str(p2)}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("t9,P1 Table 9,dataset=mnist,ncut_mean,2.0,,10,", r"p1.csv line 2: table 't9' is not a table of config"),
        ("t1,P1 Table 1,dataset=mnist,ncut_meen,2.0,,10,", r"line 2: column 'ncut_meen' is not a column of table t1"),
        ("t1,P1 Table 1,dataset=mnist;family=x,ncut_mean,2.0,,10,", r"line 2: row key 'family' is not a column"),
        ("t1,P1 Table 1,dataset,ncut_mean,2.0,,10,", r"line 2: row 'dataset' is not column=value pairs"),
        ("t1,P1 Table 1,dataset=,ncut_mean,2.0,,10,", r"row 'dataset=' is not column=value pairs"),
        ("t1,P1 Table 1,dataset=a;dataset=b,ncut_mean,2.0,,10,", r"names column 'dataset' twice"),
        ("t1,P1 Table 1,dataset=mnist,ncut_mean,,,10,", r"line 2: no value"),
        ("t1,P1 Table 1,dataset=mnist,ncut_mean,2.0,-0.1,10,", r"sd '-0.1' is not a non-negative number"),
        ("t1,P1 Table 1,dataset=mnist,ncut_mean,2.0,±0.1,10,", r"sd '±0.1' is not a non-negative number"),
        ("t1,P1 Table 1,dataset=mnist,ncut_mean,two,0.1,10,", r"value 'two' is not a number but has an sd"),
        ("t1,P1 Table 1,dataset=mnist,ncut_mean,2.0,,ten,", r"n 'ten' is not a positive whole number"),
        ("t1,P1 Table 1,dataset=mnist,ncut_mean,2.0,,0,", r"n '0' is not a positive whole number"),
        ("t1,,dataset=mnist,ncut_mean,2.0,,10,", r"line 2: give paper_table"),
        (
            "t1,P1 Table 1,dataset=mnist,ncut_mean,2.0,,10,\nt1,P1 Table 1, dataset=mnist ,ncut_mean,2.1,,10,",
            r"line 3: repeats line 2 \(table t1, row dataset=mnist, column ncut_mean\)",
        ),
    ],
)
def test_bad_paper_lines_are_one_line_errors(tmp_path: Path, lines: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        read_paper_values(_values_file(tmp_path, lines + "\n"), TABLES, "P1", where="p1.csv")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"p1.csv: empty; give the header table,paper_table,row,column,value,sd,n,note"),
        (b"\n\n", r"empty"),
        (b"table,paper_table,row\nt1,P1,dataset=mnist\n", r"no column 'column'; the header is table,paper_table"),
        (b"\xff\xfe\x00garbage\x00\n", r"not UTF-8 text"),
        (b"table,table,row,column,value,sd,n,note\n", r"the header repeats a column"),
        (HEADER.encode() + b'\nt1,"P1 Table 1,dataset=mnist,ncut_mean,2.0,,10,\n', r"line 2: not CSV \(unexpected end"),
        (HEADER.encode() + b'\nt1,"P1" x,dataset=mnist,ncut_mean,2.0,,10,\n', r"line 2: not CSV \(',' expected"),
        (HEADER.encode() + b"\nt1,P1,dataset=mnist,ncut_mean,2.0,,10,,extra,fields\n", r"line 2: 10 fields where"),
        (HEADER.encode() + b"\n\nt1,P1,dataset=mnist,ncut_mean,2.0,,10\n", r"line 3: 7 fields where the header has 8"),
    ],
)
def test_hostile_paper_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "p1.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        read_paper_values(path, TABLES, "P1", where="p1.csv")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: x\n", r"not a list of facts"),
        ("- {id: x, tables: [t9], text: t}\n", r"fact 1 \(x\): table 't9' is not a table"),
        ("- {id: x, tables: [t1], text: t}\n- {id: x, tables: [t1], text: u}\n", r"fact 2: id 'x' is used twice"),
        ("- {id: x, tables: t1, text: t}\n", r"tables is not a non-empty list"),
        ("- {id: x, tables: [t1]}\n", r"give its text"),
        ("- {id: 'a b', tables: [t1], text: t}\n", r"id 'a b' is not a name"),
        ("- {id: x, tables: [t1], text: t, extra: 1}\n", r"give exactly the keys id, tables and text"),
        ("- [unbalanced\n", r"not YAML"),
        ("- !!python/object:os.system {}\n", r"not YAML"),
    ],
)
def test_hostile_facts(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "facts.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_facts(path, TABLES)
    assert "\n" not in str(err.value)


def test_facts_file(tmp_path: Path) -> None:
    path = tmp_path / "facts.yaml"
    path.write_text("# known facts\n- id: p1_x\n  tables: [t1, nets]\n  text: >-\n    two\n    lines\n")
    assert read_facts(path, TABLES) == [Fact("p1_x", ("t1", "nets"), "two lines")]
    assert check_facts({"facts": []}, "f", TABLES) == [] and check_facts(None, "f", TABLES) == []


def test_rows_are_found_by_value(tmp_path: Path) -> None:
    table = _built(tmp_path)["t1"]
    assert find_row(table, parse_row("dataset=mnist;dropout=true"), "x")["ncut_mean"] == "1.88"
    assert find_row(table, parse_row("dataset=mnist;dropout=0"), "x")["ncut_mean"] == "2.0301"
    assert find_row(table, parse_row("dropout=False;dataset=fashion_mnist"), "x") is not None
    assert find_row(table, parse_row("dataset=lines"), "x") is None
    assert find_row(table, parse_row("family=mnist_plain"), "x") is None  # no such column here
    nets = _built(tmp_path)["nets"]
    assert find_row(nets, parse_row("dataset=mnist;run=1.0"), "x")["ncut"] == "2.47"
    with pytest.raises(
        InputError, match=r"p1.csv line 9: row dataset=mnist matches 2 rows of the table; add key columns"
    ):
        find_row(table, parse_row("dataset=mnist"), "p1.csv line 9")


# ---------------------------------------------------------------------------- the config and the workflow


def _merge(base: dict, over: dict) -> dict:
    """Snakemake's update_config (:func:`clusterability.workflow.config.merge`) on a copy of ``base``."""
    return merge(copy.deepcopy(base), over)


def test_fidelity_scale_is_the_papers_settings_with_one_network() -> None:
    paper = yaml.safe_load((REPO / "config.yaml").read_text())
    fidelity = _merge(paper, yaml.safe_load((REPO / "config/scales/fidelity.yaml").read_text()))
    (_, exp), (cfg, fid) = load_config(copy.deepcopy(paper), SCHEMA), load_config(fidelity, SCHEMA)
    assert cfg["scale"] == "fidelity" and cfg["lesions"] == paper["lesions"]
    assert {f.runs for f in fid.families.values()} == {1}
    for name, family in exp.families.items():
        assert fid.families[name].train == family.train, name  # epochs: the kilo-epoch runs' 1,000 too
    assert fid.families["random_kilo_plain"].train.epochs == 1000
    for name, table in exp.tables.items():
        assert (fid.tables[name].shuffles, fid.tables[name].k) == (table.shuffles, table.k), name
    cpu, gpu = fidelity_tables(fid), fidelity_tables(fid, gpu=True)
    assert sorted(cpu + gpu + list(FIDELITY_LEFT_OUT)) == sorted(fid.tables)
    assert {"table1", "table3", "tableA18", "p2/tableA5", "p2/tableA17", "p2/table1", "p2/tableA13"} <= set(cpu)
    assert {"p2/tableA8", "p2/tableA10", "p2/tableA11", "p2/tableA14", "p2/tableA15"} <= set(gpu)
    infos = table_infos(fid, cfg)
    assert not any(infos[n].gpu for n in cpu) and all(infos[n].gpu for n in gpu)
    assert infos["table1"].constants == (("n_shuffles", 320),) and infos["table1"].n_networks == (1,)
    assert infos["tableA4"].rows == 1 and infos["tableA18"].constants == (("n_random", 100),)
    assert infos["p2/tableA5"].paper_shuffles == 50
    assert TableInfo.from_dict(json.loads(json.dumps(infos["tableA4"].to_dict()))) == infos["tableA4"]
    assert Tolerances(**json.loads(json.dumps(TOLERANCES.to_dict()))) == TOLERANCES


def test_snakemake_scorecard_on_an_empty_work_folder(tmp_path: Path) -> None:
    """Nothing built: every number not run; then a table appears, and only the scorecard reruns."""
    tiny = ["--cores", "1", "--configfile", str(TINY)]
    snakemake(tmp_path, *tiny, "--", "scorecard", timeout=300)
    card = pd.read_csv(tmp_path / "results/scorecard.csv", dtype=str, keep_default_na=False)
    papers = paper_files(REPO / "config/papers")
    assert len(card) == sum(len(pd.read_csv(p, dtype=str)) for k, p in papers.items() if k != "facts")
    assert set(card["verdict"]) <= {"not run", "not run (needs a GPU)", "paper only"}
    assert set(card["scale"]) <= {"tiny"}
    page = (tmp_path / "results/scorecard.md").read_text()
    line = page.splitlines()[2].strip("*.")
    assert line == summary_line(card.assign(diff_sd=float("nan")))
    assert line in (tmp_path / "logs/scorecard.log").read_text() and "smoke, not evidence" in page
    # A table built (here: written by hand) at another scale is read, not rebuilt: no training planned.
    (tmp_path / "results/table1.csv").write_text("dataset,dropout,n_networks,ncut_mean\nmnist,False,1,2.0\n")
    assert planned_jobs(tmp_path, *tiny, "--", "scorecard") == {"scorecard": 1}
    assert built_tables(["table1", "tableA1"], tmp_path).keys() == {"table1"}
