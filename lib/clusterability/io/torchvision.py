"""P2 section 3.1's ImageNet models as wired channel graphs: VGG-16/19, ResNet-18/34/50, Inception-V3.

Pretrained weights cannot be downloaded everywhere, so three ways in:

* **torchvision checkpoints** (the ``.pth`` files users have, e.g.
  ``resnet50-0676ba61.pth``): :func:`torchvision_weights` wires a state dict
  by its torchvision names (read without torch by :mod:`clusterability.io.state_dict`);
* **Keras** (``keras.applications`` or the ``image-classifiers`` package P2
  used): :func:`clusterability.train.keras_model.network_weights` follows the model's
  functional graph (``Add``, ``Concatenate``);
* **random initialization** (:func:`random_torchvision_state`): a state dict
  with torchvision's names and shapes, He-normal kernels and fresh batch norms,
  for tests, benchmarks and the ``tiny``/``quick`` scales.

The wiring is one description per family (:data:`TORCHVISION`), used both to
read a state dict and to draw a random one, so the two cannot disagree. Each
convolution becomes a node layer; residual sums and Inception concatenations
become ``sources`` (:mod:`clusterability.core.dag_graph`). VGGs are chains.
Auxiliary classifiers (Inception's ``AuxLogits``) and the dense heads are left
out, as the input layer is.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from clusterability.core.network import BatchNorm, NetworkWeights
from clusterability.errors import InputError
from clusterability.io.wiring import DagBuilder, Producers

# ---------------------------------------------------------------------------- torchvision


class _TorchConvs:
    """Convolutions by torchvision name: read from a state dict, or drawn at random (He normal)."""

    def __init__(
        self,
        builder: DagBuilder,
        state: Mapping[str, np.ndarray] | None,
        rng: np.random.Generator | None,
        eps: float,
        basic: bool,
    ) -> None:
        self.builder, self.state, self.rng, self.eps, self.basic = builder, state, rng, eps, basic
        self.drawn: OrderedDict[str, np.ndarray] = OrderedDict()
        self.used: set[str] = set()

    def _get(self, key: str, shape: tuple[int, ...], init: Callable[[], np.ndarray]) -> np.ndarray:
        if self.state is None:
            self.drawn[key] = value = init().astype(np.float32)
            return value
        if key not in self.state:
            raise InputError(f"{self.builder.source}: missing {key!r}; not a torchvision state dict of this network")
        value = np.asarray(self.state[key])
        if value.shape != shape:
            raise InputError(f"{self.builder.source}: {key!r} has shape {value.shape}, expected {shape}")
        self.used.add(key)
        return value

    def __call__(
        self, name: str, x: Producers, out: int, kh: int, kw: int | None = None, bn: str | None = ""
    ) -> Producers:
        """Convolution ``name`` (``name.conv`` and ``name.bn`` for Inception's BasicConv2d) reading ``x``."""
        kw = kh if kw is None else kw
        conv_key = f"{name}.conv" if self.basic else name
        c_in = self.builder.width(x)
        fan_in = c_in * kh * kw
        weight = self._get(
            f"{conv_key}.weight",
            (out, c_in, kh, kw),
            lambda: self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (out, c_in, kh, kw)),
        )
        y = self.builder.conv(name, weight.transpose(2, 3, 1, 0), x)
        bn_key = f"{name}.bn" if self.basic else bn
        if bn_key:
            gamma = self._get(f"{bn_key}.weight", (out,), lambda: np.ones(out))
            var = self._get(f"{bn_key}.running_var", (out,), lambda: np.ones(out))
            for extra, init in (("bias", np.zeros), ("running_mean", np.zeros)):
                self._get(f"{bn_key}.{extra}", (out,), lambda init=init: init(out))
            if self.state is None:
                self.drawn[f"{bn_key}.num_batches_tracked"] = np.array(0, dtype=np.int64)
            else:
                self.used.add(f"{bn_key}.num_batches_tracked")
            y = self.builder.norm(y, BatchNorm(gamma.astype(np.float64), var.astype(np.float64), self.eps), bn_key)
        return y


def _vgg(conv: _TorchConvs, cfg: tuple[int | str, ...]) -> None:
    x: Producers = ()
    index = 0
    for v in cfg:
        if v == "M":
            index += 1
            continue
        x = conv(f"features.{index}", x, int(v), 3, bn=None)
        index += 2  # the convolution and its ReLU


def _resnet(conv: _TorchConvs, blocks: tuple[int, ...], bottleneck: bool) -> None:
    x = conv("conv1", (), 64, 7, bn="bn1")
    expansion = 4 if bottleneck else 1
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        for b in range(n):
            p = f"layer{stage}.{b}"
            if bottleneck:
                y = conv(f"{p}.conv1", x, planes, 1, bn=f"{p}.bn1")
                y = conv(f"{p}.conv2", y, planes, 3, bn=f"{p}.bn2")
                y = conv(f"{p}.conv3", y, planes * expansion, 1, bn=f"{p}.bn3")
            else:
                y = conv(f"{p}.conv1", x, planes, 3, bn=f"{p}.bn1")
                y = conv(f"{p}.conv2", y, planes, 3, bn=f"{p}.bn2")
            if b == 0 and (stage > 1 or conv.builder.width(x) != planes * expansion):
                x = conv(f"{p}.downsample.0", x, planes * expansion, 1, bn=f"{p}.downsample.1")
            x = conv.builder.add(y, x, name=f"{p} (residual)")


def _inception_v3(conv: _TorchConvs) -> None:
    c, cat = conv, conv.builder.concat
    x = c("Conv2d_1a_3x3", (), 32, 3)
    x = c("Conv2d_2a_3x3", x, 32, 3)
    x = c("Conv2d_2b_3x3", x, 64, 3)
    x = c("Conv2d_3b_1x1", x, 80, 1)
    x = c("Conv2d_4a_3x3", x, 192, 3)
    for name, pool in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):  # InceptionA
        b1 = c(f"{name}.branch1x1", x, 64, 1)
        b5 = c(f"{name}.branch5x5_2", c(f"{name}.branch5x5_1", x, 48, 1), 64, 5)
        b3 = c(f"{name}.branch3x3dbl_1", x, 64, 1)
        b3 = c(f"{name}.branch3x3dbl_3", c(f"{name}.branch3x3dbl_2", b3, 96, 3), 96, 3)
        x = cat(b1, b5, b3, c(f"{name}.branch_pool", x, pool, 1), name=name)
    b3 = c("Mixed_6a.branch3x3", x, 384, 3)  # InceptionB; its pool branch is the input, max-pooled
    d = c("Mixed_6a.branch3x3dbl_3", c("Mixed_6a.branch3x3dbl_2", c("Mixed_6a.branch3x3dbl_1", x, 64, 1), 96, 3), 96, 3)
    x = cat(b3, d, x, name="Mixed_6a")
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):  # InceptionC
        b1 = c(f"{name}.branch1x1", x, 192, 1)
        b7 = c(f"{name}.branch7x7_1", x, c7, 1)
        b7 = c(f"{name}.branch7x7_3", c(f"{name}.branch7x7_2", b7, c7, 1, 7), 192, 7, 1)
        d = c(f"{name}.branch7x7dbl_1", x, c7, 1)
        d = c(f"{name}.branch7x7dbl_3", c(f"{name}.branch7x7dbl_2", d, c7, 7, 1), c7, 1, 7)
        d = c(f"{name}.branch7x7dbl_5", c(f"{name}.branch7x7dbl_4", d, c7, 7, 1), 192, 1, 7)
        x = cat(b1, b7, d, c(f"{name}.branch_pool", x, 192, 1), name=name)
    b3 = c("Mixed_7a.branch3x3_2", c("Mixed_7a.branch3x3_1", x, 192, 1), 320, 3)  # InceptionD
    b7 = c("Mixed_7a.branch7x7x3_2", c("Mixed_7a.branch7x7x3_1", x, 192, 1), 192, 1, 7)
    b7 = c("Mixed_7a.branch7x7x3_4", c("Mixed_7a.branch7x7x3_3", b7, 192, 7, 1), 192, 3)
    x = cat(b3, b7, x, name="Mixed_7a")
    for name in ("Mixed_7b", "Mixed_7c"):  # InceptionE
        b1 = c(f"{name}.branch1x1", x, 320, 1)
        b3 = c(f"{name}.branch3x3_1", x, 384, 1)
        b3 = cat(c(f"{name}.branch3x3_2a", b3, 384, 1, 3), c(f"{name}.branch3x3_2b", b3, 384, 3, 1), name=name)
        d = c(f"{name}.branch3x3dbl_2", c(f"{name}.branch3x3dbl_1", x, 448, 1), 384, 3)
        d = cat(c(f"{name}.branch3x3dbl_3a", d, 384, 1, 3), c(f"{name}.branch3x3dbl_3b", d, 384, 3, 1), name=name)
        x = cat(b1, b3, d, c(f"{name}.branch_pool", x, 192, 1), name=name)


_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
_VGG19 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")

#: torchvision's ImageNet models (P2 Table A.11): wiring, batch-norm epsilon, BasicConv2d naming.
TORCHVISION: dict[str, tuple[Callable[[_TorchConvs], None], float, bool]] = {
    "vgg16": (lambda c: _vgg(c, _VGG16), 1e-5, False),
    "vgg19": (lambda c: _vgg(c, _VGG19), 1e-5, False),
    "resnet18": (lambda c: _resnet(c, (2, 2, 2, 2), bottleneck=False), 1e-5, False),
    "resnet34": (lambda c: _resnet(c, (3, 4, 6, 3), bottleneck=False), 1e-5, False),
    "resnet50": (lambda c: _resnet(c, (3, 4, 6, 3), bottleneck=True), 1e-5, False),
    "inception_v3": (_inception_v3, 1e-3, True),
}
#: Parameters a torchvision checkpoint holds outside the channel graph.
_OUTSIDE = re.compile(r"^(fc|classifier|AuxLogits)\.")


def torchvision_weights(
    state: Mapping[str, np.ndarray], architecture: str, source: str = "<state dict>"
) -> NetworkWeights:
    """The wired convolutions of a torchvision ``architecture`` state dict (``TORCHVISION``'s keys)."""
    if architecture not in TORCHVISION:
        raise InputError(f"unknown ImageNet architecture {architecture!r}; choose one of {', '.join(TORCHVISION)}")
    wiring, eps, basic = TORCHVISION[architecture]
    builder = DagBuilder(source)
    convs = _TorchConvs(builder, state, None, eps, basic)
    wiring(convs)
    left = [k for k in state if k not in convs.used and not _OUTSIDE.match(k)]
    if left:
        raise InputError(f"{source}: {left[0]!r} is not part of torchvision's {architecture}; wrong architecture?")
    return builder.weights()


def random_torchvision_state(architecture: str, seed: int) -> OrderedDict[str, np.ndarray]:
    """A randomly initialized ``architecture`` as a torchvision state dict (convolutions and batch norms)."""
    if architecture not in TORCHVISION:
        raise InputError(f"unknown ImageNet architecture {architecture!r}; choose one of {', '.join(TORCHVISION)}")
    wiring, eps, basic = TORCHVISION[architecture]
    convs = _TorchConvs(DagBuilder(f"random {architecture}"), None, np.random.default_rng(seed), eps, basic)
    wiring(convs)
    return convs.drawn


def detect_torchvision(state: Mapping[str, Any]) -> str | None:
    """The torchvision architecture whose names ``state`` has (ResNets by block count), else None."""
    keys = set(state)
    if "Mixed_5b.branch1x1.conv.weight" in keys:
        return "inception_v3"
    if "layer1.0.conv1.weight" in keys:
        blocks = tuple(len({k.split(".")[1] for k in keys if k.startswith(f"layer{s}.")}) for s in range(1, 5))
        bottleneck = "layer1.0.conv3.weight" in keys
        return next((name for name, spec in _RESNETS.items() if spec == (blocks, bottleneck)), None)
    return None


_RESNETS = {
    "resnet18": ((2, 2, 2, 2), False),
    "resnet34": ((3, 4, 6, 3), False),
    "resnet50": ((3, 4, 6, 3), True),
}
