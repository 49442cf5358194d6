"""Residual and branching networks: the wired channel graph, its solver and the ImageNet models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clusterability.core.build import cnn_graph, network_graph
from clusterability.core.dag_graph import DagGraph, solver_input
from clusterability.core.measure import cluster_network, shuffle_ncut
from clusterability.core.ncut import cluster_cut_terms
from clusterability.core.network import BatchNorm
from clusterability.core.shuffles import shuffle_graph
from clusterability.core.spectral import spectral_clusters
from clusterability.errors import InputError
from clusterability.io.npz import load_weights, save_weights
from clusterability.io.torchvision import TORCHVISION, detect_torchvision, random_torchvision_state, torchvision_weights
from clusterability.io.wiring import DagBuilder

RNG = np.random.default_rng(0)


def _residual_weights() -> tuple:
    """stem(3->4) -> a(4->4) -> b(4->4); out = b + stem; c(4->6) reads the sum; d(4->2) reads stem;
    e reads concat(c, d) (8 channels). Batch norm on b."""
    builder = DagBuilder("toy", input_channels=3)
    k = {name: RNG.normal(size=shape) for name, shape in {
        "stem": (3, 3, 3, 4), "a": (3, 3, 4, 4), "b": (1, 1, 4, 4), "c": (3, 3, 4, 6), "d": (1, 1, 4, 2),
        "e": (3, 3, 8, 5)}.items()}  # fmt: skip
    stem = builder.conv("stem", k["stem"], ())
    b = builder.conv("b", k["b"], builder.conv("a", k["a"], stem))
    bn = BatchNorm(RNG.uniform(0.5, 2, 4), RNG.uniform(0.5, 2, 4), 1e-5)
    total = builder.add(builder.norm(b, bn, "bn"), stem)
    c, d = builder.conv("c", k["c"], total), builder.conv("d", k["d"], stem)
    builder.conv("e", k["e"], builder.concat(c, d))
    return builder.weights(), k, bn


def test_residual_sum_and_concatenation_wire_the_producers() -> None:
    weights, k, bn = _residual_weights()
    graph = network_graph(weights)
    assert isinstance(graph, DagGraph) and graph.sizes == (4, 4, 4, 6, 2, 5)
    a = graph.adjacency().toarray()
    off = graph.layer_offsets()
    norms = {n: np.abs(v).sum(axis=(0, 1)) for n, v in k.items()}
    b_folded = np.abs(k["b"] * (bn.gamma / np.sqrt(bn.moving_variance + 1e-5))).sum(axis=(0, 1))
    np.testing.assert_allclose(a[off[1] : off[2], off[2] : off[3]], b_folded)  # a -> b, batch norm folded
    # c reads stem + b: both producers' channel i join c's outputs with the weights of input channel i.
    np.testing.assert_allclose(a[off[0] : off[1], off[3] : off[4]], norms["c"])
    np.testing.assert_allclose(a[off[2] : off[3], off[3] : off[4]], norms["c"])
    assert not a[off[1] : off[2], off[3] : off[4]].any()  # a feeds b only
    # e reads concat(c, d): c's 6 channels are e's inputs 0-5, d's are 6-7.
    np.testing.assert_allclose(a[off[3] : off[4], off[5] :], norms["e"][:6])
    np.testing.assert_allclose(a[off[4] : off[5], off[5] :], norms["e"][6:])
    np.testing.assert_allclose(a, a.T)
    assert not a[off[0] : off[1], off[0] : off[1]].any()  # the stem has no input edges
    x = RNG.normal(size=(graph.n_nodes, 3))
    np.testing.assert_allclose(graph.matmat(x), a @ x)
    np.testing.assert_allclose(graph.degrees(), a.sum(axis=1))
    labels = RNG.integers(0, 3, graph.n_nodes)
    np.testing.assert_allclose(cluster_cut_terms(graph, labels)[0], cluster_cut_terms(graph.adjacency(), labels)[0])


def test_dag_weights_round_trip_and_errors(tmp_path: Path) -> None:
    weights, _, _ = _residual_weights()
    save_weights(tmp_path / "w.npz", weights)
    loaded = load_weights(tmp_path / "w.npz")
    assert loaded.is_dag and [None if s is None else s.tolist() for s in loaded.sources][:3] == [
        None,
        [[0, 0]],
        [[1, 0]],
    ]
    np.testing.assert_allclose(
        network_graph(loaded).adjacency().toarray(), network_graph(weights).adjacency().toarray()
    )
    arrays = dict(np.load(tmp_path / "w.npz"))
    arrays["sources_3"] = np.array([[5, 0]])
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match="sources_3 names kernel_5; producers must be earlier"):
        load_weights(tmp_path / "bad.npz")
    builder = DagBuilder("toy")
    x = builder.conv("x", np.ones((1, 1, 3, 4)), ())
    y = builder.conv("y", np.ones((1, 1, 4, 2)), x)
    with pytest.raises(InputError, match="adds tensors of different widths"):
        builder.add(x, y)
    with pytest.raises(InputError, match="does not directly follow one convolution"):
        builder.norm(builder.concat(x, y), BatchNorm(np.ones(6), np.ones(6), 1e-5), "bn")


def test_a_wired_chain_is_the_layered_cnn_graph() -> None:
    builder = DagBuilder("chain", input_channels=2)
    x: tuple = ()
    for c_in, c_out in ((2, 5), (5, 6), (6, 4)):
        x = builder.conv(f"c{c_out}", RNG.normal(size=(3, 3, c_in, c_out)), x)
    weights = builder.weights()
    graph = network_graph(weights)
    chain = cnn_graph(type(weights)(weights.kernels, weights.biases, weights.batch_norms))
    assert graph.layer_sizes == chain.layer_sizes == (5, 6, 4)
    for mine, theirs in zip(graph.blocks, chain.blocks):
        np.testing.assert_allclose(mine, theirs)


def test_dag_clustering_matches_scikit_learn_and_shuffles_keep_the_wiring() -> None:
    weights, _, _ = _residual_weights()
    graph = network_graph(weights)
    shuffled = shuffle_graph(graph, "layer", np.random.default_rng(3))
    assert shuffled.sources == graph.sources and shuffled.sizes == graph.sizes
    for block, orig in zip(shuffled.blocks, graph.blocks):
        np.testing.assert_allclose(np.sort(block.ravel()), np.sort(orig.ravel()))
    # A random-init ResNet-18 (4,800 channels): the operator solver's n-cut is as low as scikit-learn's.
    big = network_graph(torchvision_weights(random_torchvision_state("resnet18", 0), "resnet18"))
    fast = cluster_network(big, 12, seed=0)
    reference = cluster_cut_terms(
        big.adjacency(), spectral_clusters(big.adjacency(), 12, seed=0, solver="sklearn-arpack")
    )
    assert fast.ncut <= reference[0].sum() * 1.01
    assert 0 < shuffle_ncut(big, 12, seed=0, method="layer", index=0) < 12
    assert solver_input(big) is big


@pytest.mark.parametrize(
    ("architecture", "channels", "convolutions"),
    [("vgg16", 4224, 13), ("vgg19", 5504, 16), ("resnet18", 4800, 20), ("resnet34", 8512, 36),
     ("resnet50", 26560, 53), ("inception_v3", 17216, 94)],
)  # fmt: skip
def test_torchvision_models_at_random_init(architecture: str, channels: int, convolutions: int) -> None:
    """P2 Table A.11's models: their size, wiring and names (ResNet-50: about 26,000 channels)."""
    state = random_torchvision_state(architecture, seed=1)
    weights = torchvision_weights(state, architecture, architecture)
    graph = network_graph(weights)
    assert graph.n_nodes == channels and len(weights.kernels) == convolutions
    assert detect_torchvision(state) == (architecture if not architecture.startswith("vgg") else None)
    assert type(graph).__name__ == ("LayeredGraph" if architecture.startswith("vgg") else "DagGraph")
    if architecture == "resnet50":  # stage 4, block 3: conv1 reads the whole residual stream
        assert len(weights.sources[-3]) == 3  # the downsampling and blocks 1-2 conv3
    broken = dict(state)
    broken.pop(next(iter(broken)))
    with pytest.raises(InputError, match="missing"):
        torchvision_weights(broken, architecture)
    assert set(TORCHVISION) >= {architecture}


def test_torchvision_checkpoint_files_are_wired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ResNet-18 checkpoint as .safetensors and .pt (torch's zip layout, no torch) is read and wired."""
    from safetensors.numpy import save_file

    from clusterability.io.network_files import read_network
    from test_network_files import write_torch_zip

    state = random_torchvision_state("resnet18", seed=2)
    state["fc.weight"] = np.zeros((1000, 512), np.float32)
    save_file(dict(state), str(tmp_path / "resnet18.safetensors"))
    write_torch_zip(tmp_path / "resnet18-f37072fd.pth", state, monkeypatch)
    for name in ("resnet18.safetensors", "resnet18-f37072fd.pth"):
        weights = read_network(tmp_path / name)
        assert weights.is_dag and network_graph(weights).n_nodes == 4800


@pytest.mark.tf
def test_keras_applications_are_wired_like_torchvision() -> None:
    """keras.applications' ResNet-50 and Inception-V3 (random init) give torchvision's channel graphs."""
    pytest.importorskip("tf_keras")
    from clusterability.train.keras_model import keras_application, network_weights

    for name, channels in (("resnet50", 26560), ("inception_v3", 17216)):
        weights = network_weights(keras_application(name), name)
        graph = network_graph(weights)
        assert weights.is_dag and graph.n_nodes == channels
        assert all(bn is not None for bn in weights.batch_norms)  # every convolution has its batch norm


def test_fetch_checkpoint_checks_the_sha256_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision checkpoints are downloaded (here: a fake opener) or copied from a folder, then checked
    against the sha256 prefix in their file name; a mismatch leaves nothing behind."""
    import hashlib
    import io

    from clusterability.workflow import pretrained as imagenet

    payload = b"a checkpoint"
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    monkeypatch.setitem(imagenet.CHECKPOINTS, "resnet18", f"resnet18-{prefix}.pth")
    urls = []

    def opener(url: str):
        urls.append(url)
        return io.BytesIO(payload)

    out = imagenet.fetch_checkpoint("resnet18", tmp_path / "a/resnet18.pth", opener=opener)
    assert out.read_bytes() == payload and urls == [f"{imagenet.CHECKPOINT_URL}resnet18-{prefix}.pth"]
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "resnet18.pth").write_bytes(b"something else")
    with pytest.raises(InputError, match=f"does not start with {prefix}"):
        imagenet.fetch_checkpoint("resnet18", tmp_path / "b/resnet18.pth", mirror=mirror)
    assert not (tmp_path / "b/resnet18.pth").exists()
    with pytest.raises(InputError, match="holds neither"):
        imagenet.fetch_checkpoint("resnet18", tmp_path / "c.pth", mirror=tmp_path / "b")


def test_import_pretrained_writes_wired_weights(tmp_path: Path) -> None:
    from clusterability.workflow.pretrained import import_pretrained

    metrics = import_pretrained("inception_v3", None, 5, tmp_path / "w.npz", tmp_path / "m.json")
    weights = load_weights(tmp_path / "w.npz")
    assert weights.is_dag and network_graph(weights).n_nodes == 17216
    assert metrics["checkpoint"] is None and metrics["unpruned"]["test_acc"] is None
    assert len(metrics["sparsity"]["unpruned"]) == 94


def test_cli_measures_a_residual_network_and_refuses_to_draw_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from clusterability.cli import main

    weights, _, _ = _residual_weights()
    save_weights(tmp_path / "res.npz", weights)
    assert main(["ncut", str(tmp_path / "res.npz"), "--k", "3", "--shuffles", "3"]) == 0
    assert "cnn with layers [4, 4, 4, 6, 2, 5]" in capsys.readouterr().out
    assert main(["draw", str(tmp_path / "res.npz"), "-o", str(tmp_path / "x.png"), "--k", "3"]) == 2
    assert "residual or branching" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def _random_dag(seed: int = 0) -> DagGraph:
    """Four layers: a chain, a residual sum (layers 0 and 1 into 2) and a concatenation (2 and 1 into 3)."""
    rng = np.random.default_rng(seed)
    blocks = (np.zeros((0, 40)), rng.random((40, 40)), rng.random((40, 60)), np.asfortranarray(rng.random((100, 50))))
    return DagGraph((40, 40, 60, 50), blocks, ((), ((0, 0),), ((1, 0), (0, 0)), ((2, 0), (1, 60))))


def test_the_fused_float32_operator_is_the_adjacency_with_float32_weights() -> None:
    from clusterability.core import dag_graph

    graph = _random_dag()
    rounded = graph.with_blocks([b.astype(np.float32).astype(np.float64) for b in graph.blocks])
    x = RNG.normal(size=graph.n_nodes)
    blocks = dag_graph._float32_blocks(graph.blocks)
    assert [t for _, t in blocks] == [False, False, False, True]  # the Fortran-ordered block is read transposed
    np.testing.assert_allclose(dag_graph._operator_product(graph, blocks, x), rounded.adjacency() @ x, rtol=1e-12)
    np.testing.assert_allclose(graph.matmat(x), graph.adjacency() @ x, rtol=1e-12)


def test_dag_embedding_spans_the_exact_eigenvectors_and_frees_its_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    import weakref

    from clusterability.core import dag_graph

    graph = _random_dag(1)
    a = graph.adjacency().toarray()
    d = a.sum(axis=1)
    _, u = np.linalg.eigh(a / np.sqrt(np.outer(d, d)))
    exact = u[:, -4:] / np.sqrt(d)[:, None]
    buffers = []
    original = dag_graph._float32_blocks

    def recording(blocks):
        out = original(blocks)
        buffers.append(weakref.ref(out[0][0].base if out[0][0].base is not None else out[0][0]))
        return out

    monkeypatch.setattr(dag_graph, "_float32_blocks", recording)
    x = dag_graph.dag_embedding(graph, 4, np.random.default_rng(0))
    qa, qb = np.linalg.qr(x)[0], np.linalg.qr(exact)[0]
    assert 1 - np.linalg.svd(qa.T @ qb, compute_uv=False).min() < 1e-10
    # The float32 copies are gone when it returns, without waiting for the garbage collector.
    assert len(buffers) == 1 and buffers[0]() is None
