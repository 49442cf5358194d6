"""Lesion experiments (P1 section 4): what a network loses when a sub-module is cut off.

A **sub-module** is the neurons of one cluster within one hidden layer (P1
4.1). A **lesion** of a set of neurons sets their activations to 0 (P1
section 4: "setting the activations of their neurons to 0"; the authors' code
zeroed the incoming weights *and* the biases, the same for ReLU neurons):
``zero="activations"``, the default. ``zero="weights"`` follows P1 4.1's
wording ("set all weights incoming to the constituent neurons to 0") to the
letter: each lesioned neuron then outputs ``relu(bias)`` whatever the input.
The *damage* of a lesion, l(S), is the drop in test accuracy.

Only the *clustered* neurons of a layer count: neurons that pruning cut off
(label -1) belong to no sub-module, are never drawn into a random set (the
authors' code permuted the labels among the non-(-1) neurons), and are not in
the denominator of a sub-module's *proportion* of its layer (P1 Table A.18's
proportions sum to 1 within each layer).

* **Single lesion** (P1 4.1, Table A.18, figure 5): l(X) of every sub-module
  against l of ``n_random`` random sets of as many clustered neurons of the
  same layer, each drawn with its own seed. p = (r + 1) / (n + 1) (North et
  al. 2002), r = random sets at least as damaging. The sub-module is
  *significant* when it is more damaging than every random set (r = 0), and
  of type ``small`` (under 5 % of its layer's clustered neurons),
  ``important`` (significant, damage over 1 percentage point),
  ``sig-but-not-diff`` (significant, at most 1 point), ``diff-but-not-sig``
  (over 1 point, not significant: a case P1's four types leave out; the
  authors' code's name) or ``other`` (neither).
* **Double lesion** (P1 4.2, Table A.19, figures 6 and A.6): for sub-modules
  X and Y, l(X u Y), delta(Y, X) = l(X u Y) - l(X) and delta(X, Y) = l(X u Y)
  - l(Y); Y is *important conditioned on X* when l(X u Y) exceeds l(X u Y')
  for each of ``n_random`` random sets Y' of |Y| neurons from Y's layer (not
  in X) and delta(Y, X) > 1 point, and the other way round.
* **Dependency graph** (P1 4.2, figure 6(b)): for important X and Y in
  different layers, X earlier, an edge X -> Y when one of them is unimportant
  conditioned on the other.

Accuracies come from a numpy forward pass of the MLP (float32, like Keras) on
the test set, many lesions at once: the intact activations up to the first
lesioned layer are computed once, and a batch of lesions is a boolean mask
tensor ``(lesions, neurons)`` per layer applied to stacked activations. No
TensorFlow is imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from clusterability.core.network import NetworkWeights
from clusterability.errors import InputError
from clusterability.seeds import derive_seed

#: P1's thresholds: damage in accuracy (1 percentage point) and proportion of the layer (5 %).
MIN_DAMAGE = 0.01
MIN_PROPORTION = 0.05
#: Damages are differences of accuracies (multiples of 1 / test images) computed in float64: a
#: damage of exactly 1 point may come out 1e-17 above it. "Over 1 point" means over it by more.
_ROUNDING = 1e-9
TYPES = ("important", "sig-but-not-diff", "diff-but-not-sig", "small", "other")
ZERO_MODES = ("activations", "weights")


@dataclass(frozen=True)
class Submodule:
    """The neurons of cluster ``label`` in hidden layer ``layer`` (1-based, P1's numbering).

    ``clustered``: the clustered (non-isolated) neurons of the layer, where
    random sets are drawn from; ``None`` means all ``layer_width`` of them.
    """

    layer: int
    label: int
    neurons: tuple[int, ...]
    layer_width: int
    clustered: tuple[int, ...] | None = None

    @property
    def name(self) -> str:
        """P1's name: layer, then module number (``"2-7"``)."""
        return f"{self.layer}-{self.label}"

    @property
    def pool(self) -> np.ndarray:
        """The layer's clustered neurons: where random sets of this sub-module's size come from."""
        return np.arange(self.layer_width) if self.clustered is None else np.asarray(self.clustered, dtype=np.int64)

    @property
    def proportion(self) -> float:
        """The sub-module's share of its layer's clustered neurons (P1 Table A.18's "Proportion")."""
        return len(self.neurons) / len(self.pool)


def submodules(labels: Sequence[int] | np.ndarray, widths: Sequence[int]) -> list[Submodule]:
    """The sub-modules of a clustered MLP, by layer then label.

    ``labels`` is one cluster label per neuron in node order (inputs first, as
    :func:`clusterability.core.measure.cluster_network` gives them; -1 for dropped
    neurons, which belong to no sub-module); ``widths`` the layer widths,
    inputs first.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != sum(widths):
        raise InputError(f"clustering labels: {len(labels)} labels for layers of {list(widths)} neurons")
    out = []
    starts = np.cumsum([0, *widths])
    for layer in range(1, len(widths) - 1):
        layer_labels = labels[starts[layer] : starts[layer + 1]]
        clustered = tuple(int(i) for i in np.flatnonzero(layer_labels >= 0))
        for label in np.unique(layer_labels[layer_labels >= 0]):
            neurons = tuple(int(i) for i in np.flatnonzero(layer_labels == label))
            out.append(Submodule(layer, int(label), neurons, int(widths[layer]), clustered))
    return out


class MLPLesioner:
    """Test accuracy of an MLP (ReLU hidden layers, arg-max output) under many lesions.

    ``weights`` are dense kernels and biases; ``x`` the images (uint8 pixels
    are scaled to [0, 1] as in training) and ``y`` the labels.
    """

    def __init__(
        self,
        weights: NetworkWeights,
        x: np.ndarray,
        y: np.ndarray,
        zero: str = "activations",
        batch_bytes: int = 256 * 2**20,
    ) -> None:
        if weights.kind != "mlp":
            raise InputError(f"{weights.source}: lesions are defined for MLPs (dense kernels) only")
        if zero not in ZERO_MODES:
            raise InputError(f"lesion zero mode {zero!r}: expected one of {', '.join(ZERO_MODES)}")
        x = np.asarray(x)
        x = x.astype(np.float32) / np.float32(255.0) if x.dtype == np.uint8 else x.astype(np.float32)
        x = x.reshape(len(x), -1)
        if x.shape[1] != weights.kernels[0].shape[0]:
            raise InputError(
                f"{weights.source}: kernel_0 takes {weights.kernels[0].shape[0]} inputs, images have {x.shape[1]}"
            )
        self.kernels = [np.asarray(k, np.float32) for k in weights.kernels]
        self.biases = [
            np.zeros(k.shape[1], np.float32) if b is None else np.asarray(b, np.float32)
            for k, b in zip(self.kernels, weights.biases, strict=True)
        ]
        self.y = np.asarray(y)
        self.n_hidden = len(self.kernels) - 1
        self.widths = [k.shape[1] for k in self.kernels[:-1]]
        # The output of a lesioned neuron: 0, or relu(bias) (only the weights into it set to zero).
        self.lesioned_value = [np.maximum(b, 0) if zero == "weights" else np.zeros_like(b) for b in self.biases[:-1]]
        self.batch_bytes = batch_bytes
        # Intact activations of every hidden layer (the prefix a lesion leaves alone).
        self.activations = []
        h = x
        for kernel, bias in zip(self.kernels[:-1], self.biases[:-1], strict=True):
            h = np.maximum(h @ kernel + bias, 0)
            self.activations.append(h)
        self.accuracy = float(np.mean(self._predict(h) == self.y))

    def _predict(self, h: np.ndarray) -> np.ndarray:
        return np.argmax(h @ self.kernels[-1] + self.biases[-1], axis=-1)

    def accuracies(self, lesions: Sequence[Mapping[int, Iterable[int]]]) -> np.ndarray:
        """Test accuracy under each lesion: ``{hidden layer (1-based): neuron indices}``.

        Lesions that agree on their first layers share the forward pass
        through them: the 50 random Y' of a double lesion (X, Y') pass through
        X's layers once, then together through the rest.
        """
        masks = [np.zeros((len(lesions), w), bool) for w in self.widths]
        last = np.full(len(lesions), -1)
        for i, lesion in enumerate(lesions):
            for layer, neurons in lesion.items():
                if not 1 <= layer <= self.n_hidden:
                    raise InputError(f"lesion of layer {layer}: hidden layers are 1..{self.n_hidden}")
                neurons = list(neurons)
                masks[layer - 1][i, neurons] = True
                if neurons:
                    last[i] = max(last[i], layer - 1)
        out = np.full(len(lesions), self.accuracy)
        self._descend(0, None, np.flatnonzero(last >= 0), masks, last, out)
        return out

    def _descend(
        self, layer: int, h: np.ndarray | None, index: np.ndarray, masks: list[np.ndarray], last: np.ndarray, out
    ) -> None:
        """Accuracies of lesions ``index``, which agree on every hidden layer before ``layer`` (0-based).

        ``h`` is their shared output of hidden layer ``layer`` before its own
        lesion (``None``: the intact network's).
        """
        if not index.size:
            return
        state = self.activations[layer] if h is None else h
        keys, inverse = np.unique(masks[layer][index], axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        tails, tail_index = [], []
        for g, key in enumerate(keys):
            group = index[inverse == g]
            ends = last[group] == layer
            if ends.any():  # identical lesions from here on: one forward pass for all of them
                tails.append(key)
                tail_index.append(group[ends])
            rest = group[~ends]
            if rest.size:
                if h is None and not key.any():
                    self._descend(layer + 1, None, rest, masks, last, out)
                else:
                    lesioned = np.where(key, self.lesioned_value[layer], state)
                    nxt = lesioned @ self.kernels[layer + 1]
                    nxt += self.biases[layer + 1]
                    self._descend(layer + 1, np.maximum(nxt, 0, out=nxt), rest, masks, last, out)
        if tails:
            n = len(self.y)
            per_batch = max(1, self.batch_bytes // (4 * n * max(self.widths)))
            tails = np.asarray(tails)
            for start in range(0, len(tails), per_batch):
                accuracy = self._tail(layer, state, tails[start : start + per_batch])
                for acc, where in zip(accuracy, tail_index[start : start + per_batch], strict=True):
                    out[where] = acc

    def _tail(self, layer: int, state: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Accuracies of lesions that differ only in hidden layer ``layer`` (masks ``keys``) from ``state`` on."""
        b, n = len(keys), len(self.y)
        h = np.where(keys[:, None, :], self.lesioned_value[layer], state).reshape(b * n, -1)
        for nxt in range(layer + 1, self.n_hidden):
            h = h @ self.kernels[nxt]
            h += self.biases[nxt]
            np.maximum(h, 0, out=h)
        predictions = self._predict(h).reshape(b, n)
        return np.mean(predictions == self.y, axis=1)


# ---------------------------------------------------------------------------- statistics


def p_value(damage: float, random_damages: np.ndarray) -> float:
    """North et al.'s (r + 1) / (n + 1), r = random lesions at least as damaging."""
    random_damages = np.asarray(random_damages)
    return float((np.sum(random_damages >= damage) + 1) / (len(random_damages) + 1))


def more_than_one_point(damage: float) -> bool:
    """Whether a damage (or delta) exceeds P1's 1 percentage point (not by rounding alone)."""
    return bool(damage > MIN_DAMAGE + _ROUNDING)


def submodule_type(damage: float, significant: bool, proportion: float) -> str:
    """P1's type of a sub-module (figure 5, Table A.18), with the authors' code's ``diff-but-not-sig``.

    ``small`` (under 5 % of its layer) first; then by significance and damage over 1 point:
    ``important`` (both), ``sig-but-not-diff``, ``diff-but-not-sig``, ``other`` (neither).
    """
    if proportion < MIN_PROPORTION:
        return "small"
    if significant:
        return "important" if more_than_one_point(damage) else "sig-but-not-diff"
    return "diff-but-not-sig" if more_than_one_point(damage) else "other"


def random_sets(size: int, pool: np.ndarray, n: int, seed: int) -> tuple[list[np.ndarray], list[int]]:
    """``n`` random sets of ``size`` neurons from ``pool``, each from its own seed (returned with them)."""
    seeds = [derive_seed(seed, i) for i in range(n)]
    return [np.sort(np.random.default_rng(s).choice(pool, size=size, replace=False)) for s in seeds], seeds


@dataclass(frozen=True)
class SingleLesion:
    """One sub-module's lesion against random sets of its size (a row of Table A.18)."""

    submodule: Submodule
    accuracy: float
    damage: float
    random_damages: np.ndarray
    random_seeds: tuple[int, ...]

    @property
    def p_value(self) -> float:
        return p_value(self.damage, self.random_damages)

    @property
    def significant(self) -> bool:
        return bool(np.all(self.damage > self.random_damages))

    @property
    def type(self) -> str:
        return submodule_type(self.damage, self.significant, self.submodule.proportion)


def single_lesions(lesioner: MLPLesioner, modules: Sequence[Submodule], n_random: int, seed: int) -> list[SingleLesion]:
    """Lesion every sub-module, and ``n_random`` random sets of its size from its layer's clustered neurons."""
    lesions, draws = [], []
    for module in modules:
        sets, seeds = random_sets(
            len(module.neurons), module.pool, n_random, derive_seed(seed, module.layer, module.label)
        )
        draws.append(seeds)
        lesions.append({module.layer: module.neurons})
        lesions += [{module.layer: s} for s in sets]
    damage = lesioner.accuracy - lesioner.accuracies(lesions)
    out = []
    for i, module in enumerate(modules):
        row = damage[i * (n_random + 1) : (i + 1) * (n_random + 1)]
        out.append(SingleLesion(module, lesioner.accuracy - row[0], row[0], row[1:], tuple(draws[i])))
    return out


@dataclass(frozen=True)
class DoubleLesion:
    """Two sub-modules lesioned together, with random stand-ins for each (P1 4.2)."""

    x: Submodule
    y: Submodule
    damage: float  # l(X u Y)
    damage_x: float  # l(X)
    damage_y: float  # l(Y)
    random_y: np.ndarray  # l(X u Y') for random Y'
    random_x: np.ndarray  # l(X' u Y) for random X'

    @property
    def delta_y_given_x(self) -> float:
        """delta(Y, X) = l(X u Y) - l(X): what Y adds once X is lesioned."""
        return self.damage - self.damage_x

    @property
    def delta_x_given_y(self) -> float:
        """delta(X, Y) = l(X u Y) - l(Y)."""
        return self.damage - self.damage_y

    @property
    def y_given_x_significant(self) -> bool:
        return bool(np.all(self.damage > self.random_y))

    @property
    def x_given_y_significant(self) -> bool:
        return bool(np.all(self.damage > self.random_x))

    @property
    def y_important_given_x(self) -> bool:
        return self.y_given_x_significant and more_than_one_point(self.delta_y_given_x)

    @property
    def x_important_given_y(self) -> bool:
        return self.x_given_y_significant and more_than_one_point(self.delta_x_given_y)


def double_lesions(
    lesioner: MLPLesioner,
    pairs: Sequence[tuple[Submodule, Submodule]],
    damages: Mapping[str, float],
    n_random: int,
    seed: int,
) -> list[DoubleLesion]:
    """Lesion each pair (X, Y) together, and each with ``n_random`` random stand-ins for the other.

    ``damages`` holds each sub-module's single-lesion damage l(X), by name. A
    stand-in Y' is drawn from the clustered neurons of Y's layer (not in X).
    """
    lesions = []
    for mx, my in pairs:
        lesions.append(_union({mx.layer: mx.neurons}, {my.layer: my.neurons}))
        for module, other in ((my, mx), (mx, my)):
            pool = module.pool
            if other.layer == module.layer:
                pool = np.setdiff1d(pool, other.neurons)
            if len(pool) < len(module.neurons):
                raise InputError(f"sub-modules {mx.name} and {my.name} leave too few neurons for random sets")
            key = derive_seed(seed, mx.layer, mx.label, my.layer, my.label, module.layer, module.label)
            sets, _ = random_sets(len(module.neurons), pool, n_random, key)
            lesions += [_union({other.layer: other.neurons}, {module.layer: s}) for s in sets]
    damage = lesioner.accuracy - lesioner.accuracies(lesions)
    out = []
    step = 1 + 2 * n_random
    for i, (mx, my) in enumerate(pairs):
        row = damage[i * step : (i + 1) * step]
        out.append(
            DoubleLesion(mx, my, row[0], damages[mx.name], damages[my.name], row[1 : 1 + n_random], row[1 + n_random :])
        )
    return out


def single_damages(lesioner: MLPLesioner, modules: Sequence[Submodule]) -> dict[str, float]:
    """l(X) of every sub-module, by name (the single lesions without their random sets)."""
    accuracies = lesioner.accuracies([{m.layer: m.neurons} for m in modules])
    return {m.name: float(lesioner.accuracy - a) for m, a in zip(modules, accuracies, strict=True)}


def all_pairs(modules: Sequence[Submodule]) -> list[tuple[Submodule, Submodule]]:
    """Every unordered pair of sub-modules, the earlier (by layer, then label) first (P1 figure A.6)."""
    ordered = sorted(modules, key=lambda m: (m.layer, m.label))
    return [(x, y) for i, x in enumerate(ordered) for y in ordered[i + 1 :]]


def important_pair(x_type: str, y_type: str, x_layer: int, y_layer: int) -> bool:
    """Whether two sub-modules make a pair of P1's double lesions: both important, in different layers."""
    return x_type == y_type == "important" and int(x_layer) != int(y_layer)


def pairs_to_lesion(
    modules: Sequence[Submodule], types: Mapping[str, str], scope: str
) -> list[tuple[Submodule, Submodule]]:
    """The pairs of a double-lesion experiment, the earlier sub-module first.

    ``scope`` ``important``: pairs of important sub-modules (by ``types``, the
    single-lesion types by name) in different layers (P1 Table A.19, figure
    6); ``all``: every pair (figure A.6).
    """
    if scope not in ("important", "all"):
        raise InputError(f"lesion pairs: scope {scope!r} is not one of important, all")
    pairs = all_pairs(modules)
    if scope == "all":
        return pairs
    return [(x, y) for x, y in pairs if important_pair(types[x.name], types[y.name], x.layer, y.layer)]


def _union(a: Mapping[int, Iterable[int]], b: Mapping[int, Iterable[int]]) -> dict[int, list[int]]:
    out: dict[int, set[int]] = {}
    for lesion in (a, b):
        for layer, neurons in lesion.items():
            out.setdefault(layer, set()).update(int(i) for i in neurons)
    return {layer: sorted(neurons) for layer, neurons in out.items()}


def dependency_edges(pairs: Iterable[Mapping[str, object]]) -> list[dict[str, str]]:
    """Edges of P1's dependency graph, from rows of :func:`double_lesion_rows`.

    Among pairs of important sub-modules in different layers (X the earlier),
    an edge X -> Y when X is unimportant conditioned on Y (``why`` = ``x|y``:
    all of X's information goes to Y), Y unimportant conditioned on X
    (``y|x``: all of Y's comes from X), or both (``x|y+y|x``).
    """
    edges = []
    for pair in pairs:
        if not important_pair(pair["x_type"], pair["y_type"], pair["x_layer"], pair["y_layer"]):
            continue
        failed = [why for why, ok in (("x|y", pair["x_given_y"]), ("y|x", pair["y_given_x"])) if not _truthy(ok)]
        if failed:
            edges.append({"source": str(pair["x"]), "target": str(pair["y"]), "why": "+".join(failed)})
    return edges


def _truthy(value: object) -> bool:
    """A boolean, also as read back from a CSV (``"True"``)."""
    return bool(value) if isinstance(value, (bool, np.bool_)) else str(value).lower() == "true"


def load_lesion_inputs(
    weights_path: str, clustering_path: str, data_path: str, zero: str = "activations"
) -> tuple[MLPLesioner, list[Submodule]]:
    """The lesioner of a network on its dataset's test set, and the sub-modules of its clustering."""
    import json
    from pathlib import Path

    from clusterability.data.prepare import load_prepared
    from clusterability.io.npz import load_weights

    weights = load_weights(weights_path)
    labels = json.loads(Path(clustering_path).read_text())["labels"]
    data = load_prepared(data_path)
    modules = submodules(labels, weights.layer_widths())
    return MLPLesioner(weights, data["x_test"], data["y_test"], zero=zero), modules


# ---------------------------------------------------------------------------- rows of the CSVs

#: Columns of the per-network CSVs (``single.csv``, ``single_random.csv``, ``pairs.csv``).
SINGLE_FIELDS = (
    "layer",
    "label",
    "submodule",
    "n_neurons",
    "proportion",
    "accuracy",
    "acc_diff",
    "p_value",
    "type",
    "acc_diff_dist_mean",
    "acc_diff_dist_std",
    "n_random",
)
RANDOM_FIELDS = ("submodule", "draw", "seed", "acc_diff")
PAIR_FIELDS = (
    "x",
    "y",
    "x_layer",
    "y_layer",
    "x_type",
    "y_type",
    "x_given_y",
    "y_given_x",
    "delta_x_y",
    "delta_y_x",
    "damage_xy",
    "damage_x",
    "damage_y",
    "x_given_y_p_value",
    "y_given_x_p_value",
    "n_random",
)


def single_lesion_rows(results: Sequence[SingleLesion]) -> list[dict[str, object]]:
    """One row per sub-module: P1 Table A.18's columns (``acc_diff`` = lesioned - intact accuracy)."""
    return [
        {
            "layer": r.submodule.layer,
            "label": r.submodule.label,
            "submodule": r.submodule.name,
            "n_neurons": len(r.submodule.neurons),
            "proportion": r.submodule.proportion,
            "accuracy": r.accuracy,
            "acc_diff": -r.damage,
            "p_value": r.p_value,
            "type": r.type,
            "acc_diff_dist_mean": float(-np.mean(r.random_damages)),
            "acc_diff_dist_std": float(np.std(r.random_damages, ddof=1)) if len(r.random_damages) > 1 else float("nan"),
            "n_random": len(r.random_damages),
        }
        for r in results
    ]


def random_lesion_rows(results: Sequence[SingleLesion]) -> list[dict[str, object]]:
    """One row per random set of every sub-module: its seed and the accuracy it cost."""
    return [
        {"submodule": r.submodule.name, "draw": i, "seed": seed, "acc_diff": float(-damage)}
        for r in results
        for i, (seed, damage) in enumerate(zip(r.random_seeds, r.random_damages, strict=True))
    ]


def double_lesion_rows(results: Sequence[DoubleLesion], types: Mapping[str, str]) -> list[dict[str, object]]:
    """One row per pair: P1 Table A.19's columns and figure A.6's cells."""
    return [
        {
            "x": r.x.name,
            "y": r.y.name,
            "x_layer": r.x.layer,
            "y_layer": r.y.layer,
            "x_type": types[r.x.name],
            "y_type": types[r.y.name],
            "x_given_y": r.x_important_given_y,
            "y_given_x": r.y_important_given_x,
            "delta_x_y": r.delta_x_given_y,
            "delta_y_x": r.delta_y_given_x,
            "damage_xy": r.damage,
            "damage_x": r.damage_x,
            "damage_y": r.damage_y,
            "x_given_y_p_value": p_value(r.damage, r.random_x),
            "y_given_x_p_value": p_value(r.damage, r.random_y),
            "n_random": len(r.random_x),
        }
        for r in results
    ]
