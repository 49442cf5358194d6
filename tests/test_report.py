"""`snakemake --report`: every table and figure, with captions giving what it shows and the scale run."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from workflow_helpers import MIRROR, REPO, snakemake, tiny_config_args

RESULTS = {
    "results/table1.csv": "Table 1",
    "results/table1_networks.csv": "Table 1",
    "results/figures/fig2_ncut_vs_accuracy.png": "Figure 2",
    "results/figures/fig2_ncut_vs_accuracy.pdf": "Figure 2",
}
# At tiny scale: k = 4, 4 shuffles, 1 network per row (config.yaml `scales: tiny`).
SCALE_LINE = "at scale tiny with k = 4 clusters, 4 shuffles per network and 1 network per row"
CAPTIONS = {
    "results/table1.csv": [
        "Table 1 of Filan, Hod et al. (2020)",
        "recomputed " + SCALE_LINE,
        "One row per dataset (MNIST) and training regime (plain, dropout)",
        "prop_sig: proportion of the row's networks whose n-cut is lower than that of every one of their 4 shuffles",
        "dist_ncut_mean, dist_ncut_std: mean and standard deviation of the n-cuts of all the shuffles",
        "Scale tiny is a reduced run",
    ],
    "results/table1_networks.csv": [
        "Per-network results behind Table 1 of Filan, Hod et al. (2020)",
        SCALE_LINE,
        "4 rows",
        "p_value: one-sided empirical p-value (r+1)/(4+1)",
    ],
    "results/figures/fig2_ncut_vs_accuracy.png": [
        "Figure 2 of Filan, Hod et al. (2020)",
        SCALE_LINE + " of Table 1",
        "One panel per dataset (MNIST)",
        "each panel has 4 points",
    ],
}
CAPTIONS["results/figures/fig2_ncut_vs_accuracy.pdf"] = CAPTIONS["results/figures/fig2_ncut_vs_accuracy.png"]


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
@pytest.mark.skipif(not MIRROR.is_dir(), reason=f"dataset mirror {MIRROR} not found")
def test_report_has_every_result_with_its_caption(tmp_path: Path) -> None:
    config = tiny_config_args(table1={"datasets": ["mnist"], "regimes": ["plain", "dropout"], "n_networks": 1})
    snakemake(tmp_path, "--cores", "4", *config, "--", *RESULTS)
    report = tmp_path / "results/report.html"
    snakemake(tmp_path, "--report", str(report), *config)

    assert report.is_file()
    page = report.read_text()
    results = _script_json(page, "results")
    assert set(results) == set(RESULTS)
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
    """The caption templates at the paper's numbers, without running anything (fast)."""
    from docutils.core import publish_parts
    from jinja2 import Environment

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    params = SimpleNamespace(
        scale="paper",
        k=config["clustering"]["k"],
        n_shuffles=config["clustering"]["shuffles"],
        n_networks=config["table1"]["n_networks"],
        datasets=config["table1"]["datasets"],
        regimes=config["table1"]["regimes"],
        shuffle_methods=["layer", "layer_nonzero"],
    )
    links = "\n\n.. _table1.csv: x\n.. _table1_networks.csv: x\n"
    env = Environment(trim_blocks=True, lstrip_blocks=True)  # as snakemake.report
    texts = {}
    for name in ("table1", "table1_networks", "fig2_ncut_vs_accuracy"):
        source = (REPO / "report" / f"{name}.rst").read_text() + links
        rst = env.from_string(source).render(snakemake=SimpleNamespace(params=params, config=config))
        body = publish_parts(rst, writer="html", settings_overrides={"halt_level": 2})["body"]
        texts[name] = _text(body)
    line = "at scale paper with k = 4 clusters, 320 shuffles per network and 10 networks per row"
    assert all(line in text for text in texts.values())
    assert "(MNIST, Fashion-MNIST, CIFAR-10)" in texts["table1"]
    assert "reduced run" not in texts["table1"] and "not a meaningful significance test" not in texts["table1"]
    assert "120 rows" in texts["table1_networks"]
    assert "layer_nonzero_" in texts["table1_networks"] and "cohens_d" in texts["table1_networks"]
    assert "each panel has 40 points" in texts["fig2_ncut_vs_accuracy"]
