"""`snakemake --report`: every table and figure, with captions giving what it shows and the scale run."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from workflow_helpers import REPO, TINY_TARGETS, snakemake, tiny_config_args

RESULTS = {
    "results/table1.csv": "Tables",
    "results/table1_networks.csv": "Tables",
    "results/figures/fig2_ncut_vs_accuracy.png": "Figures",
    "results/figures/fig2_ncut_vs_accuracy.pdf": "Figures",
    "results/p2/tableA5.csv": "Tables",
    "results/figures/p2/fig4_halves_samples.png": "Figures",
    "results/p2/table1.csv": "Tables",
}
SCALE_LINE = "recomputed at scale tiny with k = 4 clusters and 4 shuffles per network (layer)"
CAPTIONS = {
    "results/table1.csv": [
        "P1 Table 1, clusterability of pruned MLPs",
        SCALE_LINE,
        "One row per network family and weight set (pruned): mnist_plain (1 network), mnist_dropout (1 network), "
        "fashion_mnist_plain (1 network)",
        "prop_sig is the proportion of networks whose n-cut is lower than that of every one of their 4 shuffles",
        "Columns: dataset, dropout, n_networks, n_degenerate, prop_sig",
        "Scale tiny is a reduced run",
        "no network can reach p < 0.05",
    ],
    "results/table1_networks.csv": [
        "P1 Table 1 per network, before and after pruning",
        SCALE_LINE,
        "One row per network and weight set (unpruned, pruned), 12 rows",
        "(r+1)/(4+1)",
    ],
    "results/figures/fig2_ncut_vs_accuracy.png": [
        "P1 Figure 2, n-cut against test accuracy before and after pruning, drawn from results/table1_networks.csv",
        "Scale tiny is a reduced run",
    ],
}
CAPTIONS["results/figures/fig2_ncut_vs_accuracy.pdf"] = CAPTIONS["results/figures/fig2_ncut_vs_accuracy.png"]
CAPTIONS["results/p2/tableA5.csv"] = [
    "P2 Table A.5, MLPs trained on MNIST",
    "recomputed at scale tiny with k = 12 clusters and 4 shuffles per network (layer)",
    "mnist_plain (1 network), mnist_dropout (1 network), mnist_l1 (1 network), mnist_l2 (1 network)",
]
CAPTIONS["results/p2/table1.csv"] = [
    "P2 Table 1, 3x64 MLPs on 7x7 MNIST with and without the clusterability regularizer",
    "recomputed at scale tiny with k = 12 clusters and 4 shuffles per network (layer)",
    "mnist_7x7_plain (1 network), mnist_7x7_regularized (1 network)",
]
CAPTIONS["results/figures/p2/fig4_halves_samples.png"] = [
    "P2 Figure 4, samples of the halves datasets",
    "drawn from the test images of mnist_halves_same, mnist_halves_diff",
]


def _text(fragment: str) -> str:
    """Rendered HTML as plain text on one line."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def _script_json(page: str, name: str):
    """The JSON value of ``var name`` in the report's ``<script id=...>`` of that name."""
    script = name.replace("_", "-")
    match = re.search(rf'<script id="{script}">\s*var {name} = (.*?);\n\s*</script>', page, re.DOTALL)
    assert match, f"no `var {name}` in the report"
    return json.loads(match.group(1))


@pytest.mark.slow
def test_report_has_every_result_with_its_caption(tiny_run: Path, env: dict[str, str], synthetic_mirror: Path) -> None:
    """The report of the tiny run of both papers: every table and figure, each with its caption."""
    report = tiny_run / "report.html"
    snakemake(tiny_run, "--report", str(report), *tiny_config_args(synthetic_mirror), "--", *TINY_TARGETS, env=env)
    built = {str(f.relative_to(tiny_run)) for f in (tiny_run / "results").glob("*.csv")}
    built |= {str(f.relative_to(tiny_run)) for f in (tiny_run / "results/p2").glob("*.csv")}
    built |= {str(f.relative_to(tiny_run)) for f in (tiny_run / "results/figures").rglob("*.*")}
    # P1, then P2 by part: MLPs, CNNs, section 4 (tables, then figures as PNG and PDF).
    assert set(RESULTS) <= built and len(built) == (28 + 18 + 10 + 9) + 2 * (13 + 8 + 10 + 4)

    assert report.is_file()
    page = report.read_text()
    results = _script_json(page, "results")
    assert set(results) == built
    categories = _script_json(page, "categories")
    for path, category in RESULTS.items():
        assert path in [p for sub in categories[category].values() for p in sub]
        caption = _text(results[path]["caption"])
        for phrase in CAPTIONS[path]:
            assert phrase in caption, f"{path}: {phrase!r} not in caption:\n{caption}"
        assert results[path]["data_uri"].startswith("data:")
    assert results["results/figures/fig2_ncut_vs_accuracy.png"]["mime_type"] == "image/png"
    assert "tiny" in page and "system-message" not in page  # no RST errors in any caption

    description = _text(_script_json(page, "workflow_desc"))
    assert "run at scale tiny" in description


def test_captions_render_at_paper_scale() -> None:
    """The caption template at the paper's settings, without running anything (fast)."""
    from docutils.core import publish_parts
    from jinja2 import Environment

    from clusterability.workflow.config import load_config

    config, exp = load_config(yaml.safe_load((REPO / "config.yaml").read_text()), REPO / "schemas/config.schema.yaml")
    env = Environment(trim_blocks=True, lstrip_blocks=True)  # as snakemake.report
    texts = {}
    for name in ("table1", "table1_networks", "tableA3"):
        t = exp.tables[name]
        caption = {
            "title": t.title,
            "analysis": t.analysis,
            "families": list(t.families),
            "runs": [exp.families[f].runs for f in t.families],
            "stages": list(t.stages),
            "k": t.k,
            "shuffles": t.shuffles,
            "shuffle_methods": list(t.shuffle_methods),
            "columns": list(t.columns),
        }
        params = SimpleNamespace(scale="paper", caption=caption)
        source = (REPO / "report/table.rst").read_text()
        rst = env.from_string(source).render(snakemake=SimpleNamespace(params=params, config=config))
        body = publish_parts(rst, writer="html", settings_overrides={"halt_level": 2})["body"]
        texts[name] = _text(body)
    assert "recomputed at scale paper with k = 4 clusters and 320 shuffles per network" in texts["table1"]
    assert "cifar10_dropout (10 networks)" in texts["table1"]
    assert "reduced run" not in texts["table1"] and "not a meaningful" not in texts["table1"]
    assert "120 rows" in texts["table1_networks"]
    assert "k = 2 clusters" in texts["tableA3"] and "P1 Table A.3" in texts["tableA3"]
