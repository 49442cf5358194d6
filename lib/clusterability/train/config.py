"""Hyper-parameters of one training run (P1 section 3 and A.2; P2 A.2).

:class:`TrainConfig` is what a network family of the workflow resolves to
(:mod:`clusterability.workflow.experiments`) and what :func:`clusterability.train.training.train_and_prune`
takes. It needs no TensorFlow, so the workflow validates every family's
settings when it reads the config, before any job starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from clusterability.errors import InputError
from clusterability.train.models import ARCHITECTURES, CONV_ARCHITECTURES

#: How the regularizer holds the input norms at ``sqrt(2)`` after each step: P2's Algorithm 2 (the
#: next layer compensates, the function is kept) or a projection (the next layer is left alone).
NORMALIZATIONS = ("algorithm2", "projection")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run; defaults are the papers' MLP settings.

    ``epochs`` of Adam, then ``prune_epochs`` of pruning (0: no pruning phase,
    the pruned weights are the unpruned ones). The pruning schedule is tfmot's
    ``PolynomialDecay(initial_sparsity, final_sparsity, power=pruning_power,
    frequency=pruning_frequency, begin_step=0, end_step=<all pruning steps>)``.
    ``shuffle=False`` keeps the data order every epoch (the memorization runs).

    Convolutional architectures (:mod:`clusterability.train.models`) read ``widths``
    as their convolutions' channels, ``dense_widths`` as the hidden dense
    layers after them, ``dropout`` as the dense layers' rate and
    ``conv_dropout`` as the convolutions' (P2: 0.25 and 0.5 for the small CNN;
    VGG: 0.4, and Liu & Deng's 0.3 after its first convolution,
    :func:`clusterability.train.models.vgg_conv_dropout`);
    ``augment`` switches on Liu & Deng's data augmentation (random rotations up
    to 15 degrees, shifts up to 10 %, horizontal flips).

    P2 section 4: ``init_tags > 0`` initializes clusterably with that many tags
    and factor ``init_beta`` (:mod:`clusterability.train.clusterable_init`);
    ``regularizer_weight > 0`` adds the clusterability regularizer on
    eigenvalues 2..``regularizer_k`` with Algorithm 2's normalization after
    every step (``regularizer_normalization="projection"``: without the next
    layer's compensation; :mod:`clusterability.train.regularizer`; MLPs only).

    ``first_layer_l1`` (MLPs with ``l2 > 0`` and ``l1 = 0``): the first dense layer's
    kernel gets L1 at weight ``l2``, the others L2, as the authors' code trained P2's
    "L2" MLPs (P2's text: L2 on every layer; docs/reproducibility.md).
    """

    epochs: int = 20
    prune_epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    initial_sparsity: float = 0.5
    final_sparsity: float = 0.9
    pruning_power: float = 3.0
    pruning_frequency: int = 10
    dropout: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    shuffle: bool = True
    architecture: str = "mlp"
    widths: tuple[int, ...] = (256, 256, 256, 256)
    n_classes: int = 10
    dense_widths: tuple[int, ...] = ()
    conv_dropout: float = 0.0
    augment: bool = False
    init_tags: int = 0
    init_beta: float = 1.0
    regularizer_weight: float = 0.0
    regularizer_k: int = 4
    regularizer_normalization: str = "algorithm2"
    first_layer_l1: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _coerce(f.name, getattr(self, f.name), f.default))
        checks = [
            ("epochs", self.epochs >= 0, "a non-negative integer"),
            ("prune_epochs", self.prune_epochs >= 0, "a non-negative integer"),
            ("batch_size", self.batch_size >= 1, "a positive integer"),
            ("learning_rate", self.learning_rate > 0, "positive"),
            ("initial_sparsity", 0 <= self.initial_sparsity < 1, "in [0, 1)"),
            ("final_sparsity", self.initial_sparsity <= self.final_sparsity < 1, "in [initial_sparsity, 1)"),
            ("pruning_power", self.pruning_power > 0, "positive"),
            ("pruning_frequency", self.pruning_frequency >= 1, "a positive integer"),
            ("dropout", 0 <= self.dropout < 1, "in [0, 1)"),
            ("conv_dropout", 0 <= self.conv_dropout < 1, "in [0, 1)"),
            ("dense_widths", all(w >= 1 for w in self.dense_widths), "a list of positive integers"),
            ("l1", self.l1 >= 0, "non-negative"),
            ("l2", self.l2 >= 0, "non-negative"),
            (
                "widths",
                len(self.widths) > 0 and min(self.widths) >= 1,
                "a non-empty list of positive integers",
            ),
            ("n_classes", self.n_classes >= 2, "an integer >= 2"),
            ("architecture", self.architecture in ARCHITECTURES, f"one of {', '.join(ARCHITECTURES)}"),
            ("init_tags", self.init_tags >= 0, "a non-negative integer (0: the usual initialization)"),
            ("init_beta", 0 < self.init_beta <= 1, "in (0, 1]"),
            ("regularizer_weight", self.regularizer_weight >= 0, "non-negative"),
            ("regularizer_k", self.regularizer_k >= 2, "an integer >= 2 (eigenvalues 2..k)"),
            (
                "regularizer_normalization",
                self.regularizer_normalization in NORMALIZATIONS,
                "algorithm2 (P2's, the next layer compensates) or projection",
            ),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise InputError(f"training config: {key} must be {expected}, got {getattr(self, key)!r}")
        if self.architecture not in CONV_ARCHITECTURES and (self.dense_widths or self.conv_dropout):
            raise InputError(
                f"training config: dense_widths and conv_dropout are for convolutional networks "
                f"({', '.join(CONV_ARCHITECTURES)}), not {self.architecture}"
            )
        if self.first_layer_l1 and not (self.architecture == "mlp" and self.l2 > 0 and self.l1 == 0):
            raise InputError(
                f"training config: first_layer_l1 (a regime's mlp_first_layer: l1) is for L2 MLPs "
                f"(architecture mlp, l2 > 0, l1 = 0), got {self.architecture}, l1={self.l1}, l2={self.l2}"
            )
        if self.regularizer_weight and self.architecture != "mlp":
            raise InputError(
                f"training config: the clusterability regularizer (regularizer_weight) is for MLPs, "
                f"not {self.architecture}"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from a mapping (e.g. the workflow's YAML); unknown keys are errors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"training config: unknown key {unknown[0]!r}; known keys are {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``widths`` as a list).

        The fields added after P1 (:data:`OPTIONAL_FIELDS`: CNNs, P2 section 4)
        appear only when set, so that an MLP's settings -- the parameters of its
        training job -- are what they were before and its trained networks stay valid.
        """
        out = asdict(self)
        for name in OPTIONAL_FIELDS:
            if out[name] == _DEFAULTS[name]:
                del out[name]
        for name in ("widths", "dense_widths"):
            if name in out:
                out[name] = list(out[name])
        return out


#: Fields only convolutional networks use.
CNN_FIELDS = ("dense_widths", "conv_dropout", "augment")
#: Fields left out of :meth:`TrainConfig.to_dict` at their defaults (CNNs, clusterability promotion,
#: the authors' first layer of L2 MLPs).
OPTIONAL_FIELDS = CNN_FIELDS + (
    "init_tags",
    "init_beta",
    "regularizer_weight",
    "regularizer_k",
    "regularizer_normalization",
    "first_layer_l1",
)
_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}


def _coerce(key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of the field's default (YAML may give "1e-3" as a string)."""
    try:
        if isinstance(default, bool):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError
            return bool(value)
        if isinstance(default, int):
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise TypeError
            return int(float(value))
        if isinstance(default, float):
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if isinstance(default, tuple):
            if isinstance(value, (str, bytes)):
                raise TypeError
            return tuple(_coerce(key, v, 1) for v in value)
        if isinstance(default, str):
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError, InputError):
        raise InputError(f"training config: {key} must be of type {type(default).__name__}, got {value!r}") from None
    return value
