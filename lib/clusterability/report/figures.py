"""Figures of the papers, drawn with seaborn from the tidy result tables.

A plot takes a table's rows (a ``networks`` table: one row per network and
stage), for the distribution plots also the shuffle n-cuts of those networks
(a long frame: family, run, stage, method, ncut), or, for the drawing of a
network, its weights and clustering; it returns a matplotlib figure that
:func:`save_figure` writes as PNG and PDF. :data:`PLOTS`, :data:`NETWORK_PLOTS` and
:data:`DATASET_PLOTS` name them for the ``figures:`` entries of the experiment catalogue
(``config/experiments/``): the one list of plot names (:data:`PLOT_NAMES`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterability.atomic import atomic_path
from clusterability.report.tables import DATASET_LABELS

METHOD_COLOURS = {"layer": "#1f77b4", "layer_nonzero": "#ff7f0e"}  # seaborn's first two: blue, orange


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(dataset: str) -> str:
    return DATASET_LABELS.get(dataset, dataset)


def _training(row: Mapping[str, Any]) -> str:
    return "dropout" if _truthy(row["dropout"]) else "no dropout"


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _network_name(row: Mapping[str, Any]) -> str:
    return f"{_label(row['dataset'])}, {_training(row)}, run {int(row['run'])}"


def restrict(frame: pd.DataFrame, where: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """The rows of ``frame`` whose column ``c`` is one of ``where[c]`` for every ``c`` (compared as text)."""
    keep = np.ones(len(frame), dtype=bool)
    for column, values in where.items():
        keep &= frame[column].astype(str).str.lower().isin([str(v).lower() for v in values]).to_numpy()
    return frame[keep].reset_index(drop=True)


def shuffle_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The shuffle n-cuts of a table's records (see :mod:`clusterability.report.tables`) as a long frame."""
    rows = []
    for rec in records:
        for stage, paths in rec["stages"].items():
            for method, path in paths["shuffles"].items():
                ncuts = json.loads(Path(path).read_text())["shuffle_ncuts"]
                rows += [(rec["family"], int(rec["run"]), stage, method, float(x)) for x in ncuts]
    return pd.DataFrame(rows, columns=["family", "run", "stage", "method", "ncut"])


def _shuffles_of(shuffles: pd.DataFrame, row: Mapping[str, Any]) -> pd.DataFrame:
    return shuffles[
        (shuffles["family"] == row["family"])
        & (shuffles["run"] == int(row["run"]))
        & (shuffles["stage"] == row["stage"])
    ]


# ---------------------------------------------------------------------------- plots of tables


def plot_ncut_vs_accuracy(frame: pd.DataFrame, shuffles: pd.DataFrame | None = None) -> Any:
    """P1 figure 2: each network's n-cut against its test accuracy, before and after pruning.

    One panel per dataset; colour = dropout or not x before or after pruning.
    """
    import seaborn as sns

    frame = frame.copy()
    frame["training"] = [
        f"{_training(r)}, {'pruned' if r['stage'] == 'pruned' else 'before pruning'}" for _, r in frame.iterrows()
    ]
    frame["dataset"] = frame["dataset"].map(_label)
    hue_order = ["no dropout, before pruning", "no dropout, pruned", "dropout, before pruning", "dropout, pruned"]
    palette = dict(zip(hue_order, ["#1f3b73", "#7fb2e5", "#1b7a3e", "#f29bc4"]))
    grid = sns.relplot(
        data=frame,
        x="test_acc",
        y="ncut",
        hue="training",
        hue_order=[h for h in hue_order if h in set(frame["training"])],
        palette=palette,
        col="dataset",
        col_order=list(dict.fromkeys(frame["dataset"])),
        kind="scatter",
        facet_kws={"sharex": False, "sharey": True},
        height=3.2,
        aspect=1.0,
    )
    grid.set_axis_labels("test accuracy", "n-cut")
    grid.set_titles("{col_name}")
    return grid.figure


REGIME_LABELS = {
    "plain": "None",
    "dropout": "Dropout",
    "l1": "L1",
    "l2": "L2",
    "dropout_l2": "Dropout & L2",
    "clusterable_init": "Clusterable init.",
    "clusterable_init_cnn": "Clusterable init.",
    "regularized": "Clust. reg.",
}


def plot_clusterability(frame: pd.DataFrame, shuffles: pd.DataFrame | None = None) -> Any:
    """P2 figures 2, 3, 5 and A.7: each network's n-cut against the mean n-cut of its shuffles.

    Absolute clusterability is the height (lower: more clusterable); relative
    clusterability is the distance below the diagonal, where a network is as
    clusterable as its shuffles. Each point is labelled with its one-sided
    p-value; colour = regime and/or dataset (whichever vary; else the
    architecture), marker = before or after pruning when the rows have both.
    """
    import seaborn as sns

    plt = _pyplot()
    frame = frame.copy()
    parts = []
    if frame["regime"].nunique() > 1:
        parts.append(frame["regime"].map(lambda r: REGIME_LABELS.get(r, r)))
    if frame["dataset"].nunique() > 1 or (not parts and frame.get("architecture", frame["dataset"]).nunique() < 2):
        parts.append(frame["dataset"].map(_label))
    if not parts:  # one dataset and regime, several networks (P2 figure 10: the ImageNet models)
        parts.append(frame["architecture"].map(_label))
    frame["condition"] = parts[0] if len(parts) == 1 else parts[1] + ", " + parts[0]
    frame["pruning"] = np.where(frame["stage"] == "pruned", "pruned", "before pruning")
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    sns.scatterplot(
        data=frame,
        x="shuffle_mean",
        y="ncut",
        hue="condition",
        style="pruning" if frame["pruning"].nunique() > 1 else None,
        s=60,
        ax=ax,
    )
    for _, row in frame.iterrows():
        ax.annotate(
            f"{row['p_value']:.2g}",
            (row["shuffle_mean"], row["ncut"]),
            fontsize=6,
            xytext=(3, 2),
            textcoords="offset points",
        )
    low = float(np.nanmin(frame[["shuffle_mean", "ncut"]].to_numpy()))
    high = float(np.nanmax(frame[["shuffle_mean", "ncut"]].to_numpy()))
    ax.plot([low, high], [low, high], color="0.6", linestyle="--", linewidth=0.8, label="n-cut = shuffles' mean")
    ax.set_xlabel(f"mean n-cut of the shuffled networks (k = {int(frame['k'].iloc[0])})")
    ax.set_ylabel("n-cut of the network")
    ax.legend(fontsize=7, loc="best")
    return fig


def plot_ncut_histogram(frame: pd.DataFrame, shuffles: pd.DataFrame | None = None) -> Any:
    """P1 figure 3: histogram and kernel density estimate of the networks' n-cuts."""
    import seaborn as sns

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    values = frame["ncut"].astype(float)
    sns.histplot(values, kde=len(values) > 2 and values.std() > 0, stat="density", ax=ax)
    ax.set_xlabel(f"n-cut (k = {int(frame['k'].iloc[0])}, {len(values)} networks)")
    return fig


def plot_shuffle_distributions(frame: pd.DataFrame, shuffles: pd.DataFrame) -> Any:
    """P1 figure 4: per network, both shuffle distributions (histogram + KDE) and its n-cut (black line)."""
    import seaborn as sns

    plt = _pyplot()
    n = len(frame)
    cols = min(n, 2)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (_, row) in zip(axes.flat, frame.iterrows()):
        dist = _shuffles_of(shuffles, row)
        for method, colour in METHOD_COLOURS.items():
            values = dist.loc[dist["method"] == method, "ncut"]
            if len(values):
                kde = len(values) > 2 and values.std() > 0
                sns.histplot(values, kde=kde, stat="density", color=colour, label=method, ax=ax, alpha=0.4)
        ax.axvline(float(row["ncut"]), color="black")
        ax.set_title(_network_name(row), fontsize=9)
        ax.set_xlabel("n-cut")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_cohens_d(frame: pd.DataFrame, shuffles: pd.DataFrame | None = None) -> Any:
    """P1 figure A.1: each network's Cohen's d (light dots) and their means (diamonds), per dataset and training."""
    import seaborn as sns

    plt = _pyplot()
    frame = frame.dropna(subset=["cohens_d"]).copy()
    frame["training"] = [f"{_training(r)}, {r['stage']}" for _, r in frame.iterrows()]
    frame["dataset"] = frame["dataset"].map(_label)
    order = list(dict.fromkeys(frame["training"]))
    fig, ax = plt.subplots(figsize=(1.6 * max(len(order), 2) + 1.5, 3.4))
    sns.stripplot(data=frame, x="training", y="cohens_d", hue="dataset", order=order, dodge=True, alpha=0.35, ax=ax)
    means = frame.groupby(["training", "dataset"], sort=False)["cohens_d"].mean().reset_index()
    sns.pointplot(
        data=means,
        x="training",
        y="cohens_d",
        hue="dataset",
        order=order,
        dodge=0.53 if means["dataset"].nunique() > 1 else False,  # seaborn divides by (datasets - 1)
        linestyle="none",
        markers="D",
        ax=ax,
        legend=False,
    )
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("")
    ax.set_ylabel("Cohen's d (layer - layer_nonzero)")
    return fig


def plot_shuffle_violins(frame: pd.DataFrame, shuffles: pd.DataFrame) -> Any:
    """P1 figures A.2-A.5: per network a split violin, layer (left) and layer_nonzero (right); x = its n-cut."""
    import seaborn as sns

    plt = _pyplot()
    frame = frame.sort_values("run").reset_index(drop=True)
    parts = [_shuffles_of(shuffles, row).assign(network=int(row["run"])) for _, row in frame.iterrows()]
    data = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["network", "method", "ncut"])
    fig, ax = plt.subplots(figsize=(0.9 * max(len(frame), 3) + 1.5, 3.4))
    order = [int(r) for r in frame["run"]]
    sns.violinplot(
        data=data,
        x="network",
        y="ncut",
        hue="method",
        hue_order=list(METHOD_COLOURS),
        palette=METHOD_COLOURS,
        order=order,
        split=True,
        inner=None,
        ax=ax,
    )
    ax.scatter(range(len(frame)), frame["ncut"].astype(float), marker="x", color="black", zorder=3, label="network")
    ax.set_xlabel("run")
    ax.set_ylabel("n-cut")
    ax.legend(fontsize=7)
    return fig


# ---------------------------------------------------------------------------- lesions (P1 section 4)

LESION_TYPE_COLOURS = {
    "important": "#d62728",
    "sig-but-not-diff": "#ff7f0e",
    "diff-but-not-sig": "#9467bd",
    "small": "#7f7f7f",
    "other": "#1f77b4",
}
_TYPE_TAGS = {"important": "IMP", "sig-but-not-diff": "SIG", "diff-but-not-sig": "DIF", "small": "SMA", "other": "OTH"}


def _submodule_order(names: Sequence[str]) -> list[str]:
    """Sub-module names (``layer-label``) by layer, then label."""
    return sorted(set(names), key=lambda n: tuple(int(p) for p in str(n).split("-")))


def plot_lesion_importance(frame: pd.DataFrame, shuffles: pd.DataFrame | None = None) -> Any:
    """P1 figure 5: each sub-module's accuracy drop when lesioned against its share of the layer, by type."""
    import seaborn as sns

    plt = _pyplot()
    data = frame.assign(drop=-frame["acc_diff"].astype(float))
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    sns.scatterplot(
        data=data,
        x="proportion",
        y="drop",
        hue="type",
        hue_order=list(LESION_TYPE_COLOURS),
        palette=LESION_TYPE_COLOURS,
        ax=ax,
    )
    for _, row in data[data["type"] == "important"].iterrows():
        ax.annotate(
            str(row["submodule"]),
            (row["proportion"], row["drop"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.axhline(0.01, color="grey", linewidth=0.6, linestyle=":")
    ax.axvline(0.05, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xlabel("proportion of the layer's neurons")
    ax.set_ylabel("drop in test accuracy")
    ax.legend(fontsize=7, title=None)
    return fig


def _mark(value: Any) -> str:
    return "\u2713" if _truthy(value) else "\u00d7"


def plot_conditional_importance(frame: pd.DataFrame, shuffles: pd.DataFrame | None = None) -> Any:
    """P1 figure 6(a): per pair (X, Y) of important sub-modules, (X|Y, Y|X) and delta(X, Y), delta(Y, X) in points."""
    plt = _pyplot()
    xs, ys = _submodule_order(frame["x"]) if len(frame) else [], _submodule_order(frame["y"]) if len(frame) else []
    grid = np.full((max(len(xs), 1), max(len(ys), 1)), np.nan)
    fig, ax = plt.subplots(figsize=(1.1 * max(len(ys), 2) + 1.5, 0.6 * max(len(xs), 2) + 1.2))
    for _, row in frame.iterrows():
        i, j = xs.index(row["x"]), ys.index(row["y"])
        grid[i, j] = float(row["delta_x_y"]) * 100
        marks = f"({_mark(row['x_given_y'])},{_mark(row['y_given_x'])})"
        text = f"{marks}\n{100 * float(row['delta_x_y']):+.1f}, {100 * float(row['delta_y_x']):+.1f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=6)
    ax.imshow(grid, cmap="Reds", vmin=0, aspect="auto")
    ax.set_xticks(range(len(ys)), ys)
    ax.set_yticks(range(len(xs)), xs)
    ax.set_xlabel("Y (later)")
    ax.set_ylabel("X (earlier)")
    if not len(frame):
        ax.text(0, 0, "no pair of important sub-modules\nin different layers", ha="center", va="center", fontsize=8)
    return fig


def plot_dependency_graph(frame: pd.DataFrame, shuffles: pd.DataFrame | None = None) -> Any:
    """P1 figure 6(b): important sub-modules by layer, an arrow X -> Y where one is unimportant given the other."""
    plt = _pyplot()
    names = _submodule_order([*frame["source"], *frame["target"]]) if len(frame) else []
    layers = sorted({int(n.split("-")[0]) for n in names})
    position = {}
    for layer in layers:
        in_layer = [n for n in names if int(n.split("-")[0]) == layer]
        for i, name in enumerate(in_layer):
            position[name] = (layer, i - (len(in_layer) - 1) / 2)
    fig, ax = plt.subplots(figsize=(1.5 * max(len(layers), 2) + 1, 3.5))
    for _, row in frame.iterrows():
        (x0, y0), (x1, y1) = position[row["source"]], position[row["target"]]
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "color": "#444444", "shrinkA": 12, "shrinkB": 12, "lw": 0.8},
        )
    for name, (x, y) in position.items():
        ax.scatter([x], [y], s=500, color=LESION_TYPE_COLOURS["important"], alpha=0.3, zorder=2)
        ax.text(x, y, name, ha="center", va="center", fontsize=8, zorder=3)
    ax.set_xticks(layers, [f"hidden {layer}" for layer in layers])
    ax.set_yticks([])
    if layers:
        ax.set_xlim(min(layers) - 0.5, max(layers) + 0.5)
    else:
        ax.text(0.5, 0.5, "no edges", ha="center", va="center", transform=ax.transAxes)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return fig


def plot_pair_matrix(frame: pd.DataFrame, shuffles: pd.DataFrame | None = None) -> Any:
    """P1 figure A.6: cell (first, second) = 100 x delta(first, second); diagonal = single-lesion damage (bold).

    A star marks a first sub-module significantly damaging given the second
    (more than every random stand-in), a question mark one less damaging than
    every stand-in (p = 1).
    """
    plt = _pyplot()
    names = _submodule_order([*frame["x"], *frame["y"]]) if len(frame) else []
    index = {n: i for i, n in enumerate(names)}
    n = max(len(names), 1)
    grid = np.full((n, n), np.nan)
    notes: dict[tuple[int, int], str] = {}
    types: dict[str, str] = {}
    for _, row in frame.iterrows():
        x, y = index[row["x"]], index[row["y"]]
        types[row["x"]], types[row["y"]] = row["x_type"], row["y_type"]
        for (i, j), delta, p in (
            ((x, y), row["delta_x_y"], row["x_given_y_p_value"]),
            ((y, x), row["delta_y_x"], row["y_given_x_p_value"]),
        ):
            grid[i, j] = 100 * float(delta)
            star = "*" if float(p) <= 1 / (int(row["n_random"]) + 1) else "?" if float(p) >= 1 else ""
            notes[(i, j)] = f"{grid[i, j]:.1f}{star}"
        grid[x, x], grid[y, y] = 100 * float(row["damage_x"]), 100 * float(row["damage_y"])
    fig, ax = plt.subplots(figsize=(0.42 * n + 2, 0.42 * n + 1.5))
    ax.imshow(
        grid,
        cmap="RdBu_r",
        vmin=-np.nanmax(np.abs(grid)) if len(frame) else -1,
        vmax=np.nanmax(np.abs(grid)) if len(frame) else 1,
    )
    for (i, j), text in notes.items():
        ax.text(j, i, text, ha="center", va="center", fontsize=5)
    for i in range(len(names)):
        ax.text(i, i, f"{grid[i, i]:.1f}", ha="center", va="center", fontsize=5, fontweight="bold")
    ticks = [f"{name} {_TYPE_TAGS.get(types.get(name, ''), '')}" for name in names]
    ax.set_xticks(range(len(names)), ticks, rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)), ticks, fontsize=6)
    ax.set_xlabel("second (lesioned first)")
    ax.set_ylabel("first (its added damage)")
    return fig


# ---------------------------------------------------------------------------- drawing a network


def layout_network(layer_sizes: Sequence[int], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node positions ``(x, y)`` for a drawing: layer ``l`` at x = l, each layer's nodes sorted by cluster.

    Nodes of a layer are spread evenly over y in [0, 1] (a single node at 0.5),
    ordered by cluster label (isolated nodes, label -1, first) and then by index.
    """
    x = np.empty(int(sum(layer_sizes)))
    y = np.empty_like(x)
    start = 0
    for layer, size in enumerate(layer_sizes):
        block = slice(start, start + size)
        order = np.lexsort((np.arange(size), labels[block]))
        rank = np.empty(size)
        rank[order] = np.arange(size)
        x[block] = layer
        y[block] = rank / (size - 1) if size > 1 else 0.5
        start += size
    return x, y


def draw_network(blocks: Sequence[np.ndarray], labels: np.ndarray, *, max_edges: int = 20000) -> Any:
    """P1 figure 1: the network as layers of neurons coloured by cluster, with its heaviest edges.

    ``blocks`` are the edge weights between adjacent layers (a layered graph's
    blocks: ``|w|`` of an MLP, kernel-slice norms of a CNN), ``labels`` the
    clusters in node order. Edges are drawn with opacity proportional to their
    weight over the largest, at most ``max_edges`` of them (the heaviest);
    isolated neurons (label -1) are grey.
    """
    import seaborn as sns
    from matplotlib.collections import LineCollection

    plt = _pyplot()
    layer_sizes = [blocks[0].shape[0], *(b.shape[1] for b in blocks)]
    labels = np.asarray(labels)
    x, y = layout_network(layer_sizes, labels)
    offsets = np.cumsum([0, *layer_sizes])
    segments, strengths = [], []
    for layer, block in enumerate(blocks):
        block = np.asarray(block.todense() if hasattr(block, "todense") else block)
        rows, cols = np.nonzero(block)
        src, dst = offsets[layer] + rows, offsets[layer + 1] + cols
        segments.append(np.stack([np.c_[x[src], y[src]], np.c_[x[dst], y[dst]]], axis=1))
        strengths.append(np.abs(block[rows, cols]))
    segs = np.concatenate(segments) if segments else np.empty((0, 2, 2))
    strength = np.concatenate(strengths) if strengths else np.empty(0)
    if strength.size > max_edges:
        keep = np.argpartition(strength, -max_edges)[-max_edges:]
        segs, strength = segs[keep], strength[keep]
    fig, ax = plt.subplots(figsize=(1.6 * len(layer_sizes) + 1, 5))
    if strength.size:
        alpha = 0.6 * strength / strength.max()
        colours = np.zeros((strength.size, 4))
        colours[:, 3] = alpha
        ax.add_collection(LineCollection(segs, colors=colours, linewidths=0.3))
    k = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 1
    palette = np.asarray(sns.color_palette("tab10" if k <= 10 else "husl", k))
    node_colours = np.where(labels[:, None] >= 0, palette[np.clip(labels, 0, None)], 0.75)
    ax.scatter(x, y, c=node_colours, s=6, zorder=3, linewidths=0)
    ax.set_xticks(
        range(len(layer_sizes)), ["input", *(f"hidden {i}" for i in range(1, len(layer_sizes) - 1)), "output"]
    )
    ax.set_yticks([])
    ax.set_xlim(-0.3, len(layer_sizes) - 0.7)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return fig


# ---------------------------------------------------------------------------- plots of datasets


def samples_of_class(x: np.ndarray, y: np.ndarray, label: int, n: int) -> np.ndarray:
    """The first ``n`` images of class ``label`` (fewer if the split has fewer)."""
    return x[np.flatnonzero(np.asarray(y) == label)[:n]]


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A uint8 image for ``imshow``: gray ``(h, w)`` as is; two channels as blue (first) and green
    (second), as P2 figure 11; three as RGB."""
    if image.ndim == 2 or image.shape[-1] == 3:
        return image
    if image.shape[-1] == 1:
        return image[..., 0]
    if image.shape[-1] == 2:
        rgb = np.zeros((*image.shape[:2], 3), dtype=image.dtype)
        rgb[..., 2], rgb[..., 1] = image[..., 0], image[..., 1]
        return rgb
    return image[..., :3]


def plot_dataset_samples(rows: Sequence[tuple[str, np.ndarray]]) -> Any:
    """P2 figures 4 and 11: a row of sample images per dataset (``(name, images)`` each; see :func:`as_rgb`)."""
    plt = _pyplot()
    n = max((len(images) for _, images in rows), default=1) or 1
    fig, axes = plt.subplots(len(rows), n, figsize=(0.9 * n, 1.0 * len(rows)), squeeze=False)
    for r, (name, images) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                ax.imshow(as_rgb(images[c]), cmap="gray", vmin=0, vmax=255)
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(_label(name), fontsize=7, rotation=0, ha="right", va="center")
    return fig


def plot_dataset_figure(
    plot: str,
    dataset_paths: Sequence[str | Path],
    outputs: Sequence[str | Path],
    *,
    label: int,
    samples: int,
    title: str = "",
) -> None:
    """Draw the plot named ``plot`` of prepared datasets: ``samples`` test images of class ``label`` each."""
    from clusterability.data.prepare import load_prepared

    rows = []
    for path in dataset_paths:
        data = load_prepared(path)
        rows.append((data["name"], samples_of_class(data["x_test"], data["y_test"], label, samples)))
    save_figure(DATASET_PLOTS[plot](rows), outputs, title)


# ---------------------------------------------------------------------------- writing


def _fixed_metadata(path: str | Path) -> dict[str, object]:
    """Metadata without creation dates, so the same data gives the same file."""
    suffix = Path(path).suffix.lower()
    if suffix == ".pdf":
        return {"CreationDate": None, "Creator": None, "Producer": None}
    if suffix == ".svg":
        return {"Date": None, "Creator": None}
    return {"Software": None}


def save_figure(fig: Any, outputs: Sequence[str | Path], title: str = "") -> None:
    """Write ``fig`` to each output (format from the suffix) atomically, with ``title`` above it."""
    plt = _pyplot()
    if title:
        fig.suptitle(title, y=1.02, fontsize=9)
    for out in outputs:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=Path(out).suffix[1:], metadata=_fixed_metadata(out))
    plt.close(fig)


# ---------------------------------------------------------------------------- the plot registry
# The one list of the plots a ``figures:`` entry may name as ``plot``: the config model
# (clusterability.workflow.experiments) checks entries against it, no schema repeats it.

#: Plots of tables, by the name a ``figures:`` entry gives as ``plot``; those of
#: :data:`SHUFFLE_PLOTS` also get the shuffle n-cuts.
PLOTS: dict[str, Callable[[pd.DataFrame, pd.DataFrame | None], Any]] = {
    "ncut_vs_accuracy": plot_ncut_vs_accuracy,
    "ncut_histogram": plot_ncut_histogram,
    "shuffle_distributions": plot_shuffle_distributions,
    "cohens_d": plot_cohens_d,
    "shuffle_violins": plot_shuffle_violins,
    "lesion_importance": plot_lesion_importance,
    "conditional_importance": plot_conditional_importance,
    "dependency_graph": plot_dependency_graph,
    "pair_matrix": plot_pair_matrix,
    "clusterability": plot_clusterability,
}
#: Plots of datasets (sample images).
DATASET_PLOTS = {"dataset_samples": plot_dataset_samples}
#: Plots of one network (its weights and clustering).
NETWORK_PLOTS = {"network_drawing": draw_network}
#: Table plots that also draw the networks' shuffle n-cuts (their rule reads the shuffle files).
SHUFFLE_PLOTS = ("shuffle_distributions", "shuffle_violins")
#: Every plot a ``figures:`` entry may name.
PLOT_NAMES = (*PLOTS, *NETWORK_PLOTS, *DATASET_PLOTS)


def plot_table_figure(
    plot: str,
    table_csv: str | Path,
    outputs: Sequence[str | Path],
    *,
    where: Mapping[str, Sequence[Any]] | None = None,
    records: Sequence[Mapping[str, Any]] = (),
    title: str = "",
) -> None:
    """Draw the plot named ``plot`` from a table's CSV (rows restricted by ``where``) and its records."""
    frame = restrict(pd.read_csv(table_csv), where or {})
    shuffles = shuffle_frame(records) if plot in SHUFFLE_PLOTS else None
    save_figure(PLOTS[plot](frame, shuffles), outputs, title)


def plot_network_figure(
    plot: str, weights_path: str | Path, clustering_json: str | Path, outputs: Sequence[str | Path], title: str = ""
) -> None:
    """Draw the plot named ``plot`` of one network from its weights ``.npz`` and its clustering JSON."""
    from clusterability.core.build import network_graph
    from clusterability.io.npz import load_weights

    graph = network_graph(load_weights(weights_path))
    labels = np.asarray(json.loads(Path(clustering_json).read_text())["labels"])
    save_figure(NETWORK_PLOTS[plot](graph.blocks, labels), outputs, title)
