"""Untrusted ``.npz`` files and the validation of every reader's result.

Each hostile case of the review has its test; a property-based test then mutates valid MLP, CNN (with batch
norm) and residual (``sources_``) files -- truncation, flipped bytes, rewritten ``.npy`` headers, members of
other dtypes and shapes, renamed members, zip bombs, corrupt zip directories -- and checks that every outcome
is a valid network or one :class:`InputError` line naming the file, in bounded memory.
"""

from __future__ import annotations

import functools
import io
import math
import struct
import tracemalloc
import zipfile
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterability import limits
from clusterability.core.build import network_graph
from clusterability.core.network import BatchNorm, NetworkWeights
from clusterability.errors import InputError
from clusterability.io.npz import load_weights, weights_to_arrays
from clusterability.io.state_dict import weights_from_state_dict
from clusterability.io.wiring import DagBuilder

RNG = np.random.default_rng(0)
MiB = 2**20
#: Peak memory a load may take here: the files are a few KiB, a bomb inflates to :data:`BOMB_BYTES`.
MEMORY_BUDGET = 12 * MiB
BOMB_BYTES = 48 * MiB

# --- files made by hand: .npy members and a zip writer whose directory can lie --------------------------


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array(out, np.asarray(array), allow_pickle=True)
    return out.getvalue()


def _npy_header(header: str, version: tuple[int, int] = (1, 0)) -> bytes:
    """A ``.npy`` preamble with ``header`` as its text, whatever it says."""
    text = header.encode("latin1")
    length = struct.pack("<H" if version == (1, 0) else "<I", len(text))
    return np.lib.format.magic(*version) + length + text


def _header_end(npy: bytes) -> int:
    """Where the data of a well-formed version 1.0/2.0 ``.npy`` member starts."""
    if npy[6:8] == b"\x01\x00":
        return 10 + struct.unpack("<H", npy[8:10])[0]
    return 12 + struct.unpack("<I", npy[8:12])[0]


@dataclass
class Member:
    """One zip member: its name and bytes, and what the zip headers say about it (None: the truth)."""

    name: str
    data: bytes
    method: int = zipfile.ZIP_DEFLATED
    raw: bytes | None = None  # the stored (compressed) bytes if made elsewhere
    crc: int | None = None
    file_size: int | None = None  # uncompressed size in the directory
    compress_size: int | None = None
    local_sizes: bool = False  # write the lying sizes in the local header too
    flags: int = 0

    def stored(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.method == zipfile.ZIP_DEFLATED:
            deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
            return deflate.compress(self.data) + deflate.flush()
        return self.data


def _zip(members: list[Member]) -> bytes:
    """The bytes of a zip archive of ``members`` (no data descriptors, no zip64)."""
    out, central = io.BytesIO(), io.BytesIO()
    for m in members:
        name = m.name.encode("utf-8")
        flags = m.flags | (0x800 if not m.name.isascii() else 0)
        stored = m.stored()
        crc = m.crc if m.crc is not None else zlib.crc32(m.data)
        true_sizes = (len(stored), len(m.data))
        lie = (
            m.compress_size if m.compress_size is not None else len(stored),
            m.file_size if m.file_size is not None else len(m.data),
        )
        local = lie if m.local_sizes else true_sizes
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, m.method, 0, 0x21, crc, *local, len(name), 0))
        out.write(name + stored)
        entry = (0x02014B50, 20, 20, flags, m.method, 0, 0x21, crc, *lie, len(name), 0, 0, 0, 0, 0, offset)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", *entry) + name)
    directory = central.getvalue()
    start = out.tell()
    out.write(directory)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), start, 0))
    return out.getvalue()


def _members(arrays: dict[str, np.ndarray], method: int = zipfile.ZIP_DEFLATED) -> list[Member]:
    return [Member(f"{name}.npy", _npy(a), method) for name, a in arrays.items()]


def _write(path: Path, members: list[Member]) -> Path:
    path.write_bytes(_zip(members))
    return path


@functools.cache
def _bomb(name: str = "kernel_0.npy") -> Member:
    """A member whose honest header and directory describe :data:`BOMB_BYTES` of float32 zeros (about 1000:1)."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": (BOMB_BYTES // 4,)})
    header = out.getvalue()
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(MiB)
    raw, crc = deflate.compress(header), zlib.crc32(header)
    for _ in range(BOMB_BYTES // MiB):
        raw += deflate.compress(zeros)
        crc = zlib.crc32(zeros, crc)
    raw += deflate.flush()
    return Member(name, header, raw=raw, crc=crc, file_size=len(header) + BOMB_BYTES)


def _load(path: Path) -> tuple[NetworkWeights | None, str | None, int]:
    """``load_weights(path)``: the weights or the InputError's message, and the peak memory it took."""
    tracemalloc.start()
    try:
        return load_weights(path), None, tracemalloc.get_traced_memory()[1]
    except InputError as exc:
        return None, str(exc), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _refused(path: Path, *fragments: str) -> str:
    """The one-line message refusing ``path``, which names it and each of ``fragments``, in bounded memory."""
    weights, msg, peak = _load(path)
    assert weights is None, f"{path.name} was accepted"
    assert "\n" not in msg and str(path) in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg
    assert peak < MEMORY_BUDGET, f"{peak / MiB:.0f} MiB to refuse {path.name}"
    return msg


# --- the networks the mutations start from ----------------------------------------------------------------


def _mlp() -> dict[str, np.ndarray]:
    return {
        "kernel_0": RNG.normal(size=(6, 5)).astype(np.float32),
        "bias_0": np.zeros(5, np.float32),
        "kernel_1": RNG.normal(size=(5, 3)),
    }


def _cnn() -> dict[str, np.ndarray]:
    return {
        "kernel_0": RNG.normal(size=(3, 3, 2, 4)).astype(np.float32),
        "kernel_1": RNG.normal(size=(3, 3, 4, 4)).astype(np.float32),
        "bn_gamma_1": RNG.uniform(0.5, 2, 4),
        "bn_moving_variance_1": RNG.uniform(0.5, 2, 4),
        "bn_epsilon_1": np.asarray(1e-3),
        "bn_beta_1": np.zeros(4),
        "bn_moving_mean_1": np.zeros(4),
        "kernel_2": RNG.normal(size=(16, 3)).astype(np.float16),
    }


def _dag() -> dict[str, np.ndarray]:
    """stem(2->4); a(4->4) reads stem; b(4->3) reads stem + a; c reads concat(a, b) (7 channels)."""
    builder = DagBuilder("toy", input_channels=2)
    stem = builder.conv("stem", RNG.normal(size=(3, 3, 2, 4)), ())
    a = builder.conv("a", RNG.normal(size=(3, 3, 4, 4)), stem)
    b = builder.conv("b", RNG.normal(size=(1, 1, 4, 3)), builder.add(stem, a))
    builder.conv("c", RNG.normal(size=(3, 3, 7, 2)), builder.concat(a, b))
    return weights_to_arrays(builder.weights())


BASES: dict[str, dict[str, np.ndarray]] = {"mlp": _mlp(), "cnn": _cnn(), "dag": _dag()}


def test_the_bases_load(tmp_path: Path) -> None:
    for name, arrays in BASES.items():
        for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            weights, msg, _ = _load(_write(tmp_path / f"{name}.npz", _members(arrays, method)))
            assert msg is None and weights is not None
            for i, kernel in enumerate(weights.kernels):
                np.testing.assert_array_equal(kernel, arrays[f"kernel_{i}"])
    assert load_weights(tmp_path / "dag.npz").is_dag and load_weights(tmp_path / "cnn.npz").batch_norms[1] is not None


# --- one test per hostile case -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("bn_epsilon_1", np.full(4, 1e-3), "expected a scalar"),
        ("bn_epsilon_1", np.asarray("0.001"), "dtype <U5"),
        ("bn_epsilon_1", np.asarray(1e-3 + 1j), "dtype complex128"),
        ("bn_epsilon_1", np.asarray(True), "dtype bool"),
        ("bn_gamma_1", np.ones((4, 1)), "expected shape (4,)"),
        ("bn_moving_variance_1", np.ones(5), "expected shape (4,)"),
        ("bn_beta_1", np.ones(3), "expected shape (4,)"),
        ("bn_moving_mean_1", np.asarray(["a"] * 4), "dtype <U1"),
        ("bn_gamma_1", np.ones(4, complex), "dtype complex128"),
    ],
)
def test_batch_norm_fields_of_the_wrong_shape_or_dtype(tmp_path: Path, key: str, value: np.ndarray, expected: str):
    arrays = dict(BASES["cnn"], **{key: value})
    _refused(_write(tmp_path / "bn.npz", _members(arrays)), key, expected)


@pytest.mark.parametrize("name", ["kernel_00", "kernel_01", "kernel_\u0663", "kernel_-1", "kernel_ 1", "bias_\uff11"])
def test_layer_numbers_are_ascii_decimals_without_leading_zeros(tmp_path: Path, name: str) -> None:
    arrays = dict(BASES["mlp"], **{name: np.ones((3, 2))})
    assert "not a name of the format" in _refused(_write(tmp_path / "w.npz", _members(arrays)), repr(name))
    # A file whose only kernel is so named has no kernel_0 (int() and re's \d would have read kernel_3).
    _refused(_write(tmp_path / "only.npz", _members({name: np.ones((3, 2))})), repr(name))


def test_other_names_are_ignored_and_never_decompressed(tmp_path: Path) -> None:
    members = _members(dict(BASES["mlp"], kernel_names=np.asarray(["dense", "out"]), other=np.ones(3)))
    members.append(_bomb("junk.npy"))
    weights, msg, peak = _load(_write(tmp_path / "w.npz", members))
    assert msg is None and weights.n_layers == 2
    assert peak < MEMORY_BUDGET


def test_fields_need_their_kernel_and_names_are_stored_once(tmp_path: Path) -> None:
    _refused(_write(tmp_path / "a.npz", _members(dict(BASES["mlp"], bias_2=np.ones(3)))), "bias_2", "no kernel_2")
    members = _members(BASES["mlp"]) + [Member("kernel_1", _npy(np.ones((5, 3))))]  # kernel_1.npy and kernel_1
    _refused(_write(tmp_path / "b.npz", members), "kernel_1 is stored twice")
    members = _members(BASES["mlp"]) + _members({"kernel_0": np.ones((6, 5))})
    _refused(_write(tmp_path / "c.npz", members), "stored twice")


@pytest.mark.parametrize("shape", [(0, 10**11), (10**11, 0), (3, 3, 0, 10**11), (0,) * 9, (2**24 + 1, 0)])
def test_zero_size_arrays_declaring_huge_dimensions(tmp_path: Path, shape: tuple[int, ...]) -> None:
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"
    members = [Member("kernel_0.npy", _npy_header(header))] + _members({"kernel_1": np.ones((5, 3))})
    _refused(_write(tmp_path / "w.npz", members), "kernel_0 declares")


def test_zero_size_and_oversized_kernels_from_any_reader() -> None:
    with pytest.raises(InputError, match="kernel_1 has shape \\(5, 0\\) with no entries"):
        NetworkWeights((np.ones((4, 5)), np.empty((5, 0))), source="mem")
    with pytest.raises(InputError, match="MAX_DIMENSION"):
        NetworkWeights((np.empty((0, limits.MAX_DIMENSION + 1)),), source="mem")
    for bad in (np.ones((2, 2), bool), np.ones((2, 2), complex), np.full((2, 2), "x"), np.full((2, 2), None)):
        with pytest.raises(InputError, match="kernel_0 (has dtype|holds Python objects)"):
            NetworkWeights((bad,), source="mem")


def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path: Path) -> None:
    bomb = _bomb()
    assert len(bomb.raw) < BOMB_BYTES / 500
    members = [bomb] + _members({"kernel_1": np.ones((1, 1), np.float32)})
    _refused(_write(tmp_path / "bomb.npz", members), "zip bomb")
    # A directory that understates the size: the .npy header then declares more than the member holds.
    _refused(_write(tmp_path / "under.npz", [replace(bomb, file_size=4 * MiB)]), "kernel_0", "the file is corrupt")
    # A directory that overstates the compressed size, or places data past the end of the file.
    members = _members(BASES["mlp"])
    members[1].compress_size = 10**9
    _refused(_write(tmp_path / "over.npz", members), "compressed bytes")


def test_a_lying_npy_header_is_refused_before_anything_is_allocated(tmp_path: Path) -> None:
    npy = _npy(np.ones((6, 5), np.float32))
    lie = _npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4096, 4096), }") + npy[_header_end(npy) :]
    members = [Member("kernel_0.npy", lie)] + _members({"kernel_1": np.ones((5, 3))})
    _refused(_write(tmp_path / "w.npz", members), "kernel_0", "(67,108,864 bytes) but the member holds 120 bytes")
    # The CRC catches a member whose bytes were changed after the directory was written.
    members = _members(BASES["mlp"])
    members[0].data = members[0].data[:-4] + b"\x7f\x7f\x7f\x7f"
    members[0].crc = zlib.crc32(_npy(BASES["mlp"]["kernel_0"]))
    _refused(_write(tmp_path / "crc.npz", members), "CRC")


def test_other_headers_dtypes_and_layouts_read_as_numpy_does(tmp_path: Path) -> None:
    kernel = np.asfortranarray(RNG.normal(size=(6, 5))).astype(">f8")
    quantized = RNG.integers(-128, 127, size=(5, 3)).astype(np.int8)
    path = _write(tmp_path / "w.npz", _members({"kernel_0": kernel, "kernel_1": quantized}))
    weights = load_weights(path)
    np.testing.assert_array_equal(weights.kernels[0], kernel)
    assert weights.kernels[1].dtype == np.float64 and np.array_equal(weights.kernels[1], quantized)
    for version, expected in (((3, 0), "version (3, 0)"), ((1, 0), "no valid .npy header")):
        header = _npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,", version=version)
        _refused(_write(tmp_path / "h.npz", [Member("kernel_0.npy", header)]), expected)


def test_wiring_must_feed_every_input_channel(tmp_path: Path) -> None:
    arrays = dict(BASES["dag"])
    # c reads concat(a, b): 7 channels. Feeding it a's 4 and nothing else leaves channels 4-6 unfed.
    arrays["sources_3"] = np.array([[1, 0]])
    _refused(_write(tmp_path / "half.npz", _members(arrays)), "sources_3 feed 4 of kernel_3's 7 input channels")
    sixteen = {
        "kernel_0": np.ones((1, 1, 3, 8)),
        "kernel_1": np.ones((3, 3, 16, 4)),
        "sources_1": np.array([[0, 0]]),
    }
    _refused(_write(tmp_path / "8of16.npz", _members(sixteen)), "feed 8 of kernel_1's 16", "channel 8")
    arrays = dict(BASES["dag"], sources_3=np.array([[1, 0], [2, 4], [1, 0]]))
    _refused(_write(tmp_path / "twice.npz", _members(arrays)), "row twice")
    arrays = {k: v for k, v in BASES["dag"].items() if k != "sources_1"}  # a (4 inputs) reads the 2-channel input
    _refused(_write(tmp_path / "input.npz", _members(arrays)), "kernel_1 has no sources_1", "2 channels")
    arrays = dict(BASES["dag"], sources_2=np.zeros((0, 2), np.int64))
    _refused(_write(tmp_path / "empty.npz", _members(arrays)), "sources_2 is empty")


def _state_dict(variance: np.ndarray) -> OrderedDict[str, np.ndarray]:
    return OrderedDict(
        [
            ("conv1.weight", RNG.normal(size=(4, 3, 3, 3)).astype(np.float32)),
            ("bn1.weight", np.ones(4, np.float32)),
            ("bn1.bias", np.zeros(4, np.float32)),
            ("bn1.running_mean", np.zeros(4, np.float32)),
            ("bn1.running_var", variance.astype(np.float32)),
            ("conv2.weight", RNG.normal(size=(5, 4, 3, 3)).astype(np.float32)),
        ]
    )


@pytest.mark.parametrize(
    ("variance", "expected"),
    [
        ([1.0, -0.5, 1.0, 1.0], "batch norm of layer 0 has a negative moving variance (-0.5 for channel 1)"),
        ([1.0, np.nan, 1.0, 1.0], "batch norm of layer 0 has NaN or infinite moving variance entries"),
    ],
)
def test_batch_norm_values_are_checked_for_every_reader(variance: list[float], expected: str) -> None:
    with pytest.raises(InputError) as exc:
        weights_from_state_dict(_state_dict(np.asarray(variance)), "net.pt")
    msg = str(exc.value)
    assert expected in msg and "scale" not in msg and "order" not in msg and "\n" not in msg, msg
    kernels = (np.ones((3, 3, 3, 4)), np.ones((3, 3, 4, 5)))
    bn = BatchNorm(np.ones(4), np.asarray(variance), 1e-5)
    with pytest.raises(InputError, match="^keras.h5: batch norm of layer 0"):
        NetworkWeights(kernels, batch_norms=(bn, None), source="keras.h5")


def test_batch_norm_values_from_onnx(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    inits = {
        "w1": RNG.normal(size=(4, 3, 3, 3)).astype(np.float32),
        "scale": np.ones(4, np.float32),
        "bias": np.zeros(4, np.float32),
        "mean": np.zeros(4, np.float32),
        "var": np.array([1.0, 1.0, -2.0, 1.0], np.float32),
        "w2": RNG.normal(size=(5, 4, 3, 3)).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"]),
        helper.make_node("BatchNormalization", ["c1", "scale", "bias", "mean", "var"], ["b1"]),
        helper.make_node("Conv", ["b1", "w2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    onnx.save(helper.make_model(graph), tmp_path / "net.onnx")
    from clusterability.io.network_files import read_network

    with pytest.raises(InputError) as exc:
        read_network(tmp_path / "net.onnx")
    msg = str(exc.value)
    assert msg == (
        f"{tmp_path / 'net.onnx'}: batch norm of layer 0 has a negative moving variance (-2.0 for channel 2); "
        "a variance is never negative: the file is corrupt"
    )


@pytest.mark.parametrize(
    ("bn", "expected"),
    [
        (BatchNorm(np.ones(4), np.zeros(4), 0.0), "moving variance + epsilon = 0 (channel 0)"),
        (BatchNorm(np.ones(4), np.ones(4), -1e-3), "has epsilon -0.001; expected a finite number >= 0"),
        (BatchNorm(np.ones(4), np.ones(4), float("nan")), "has epsilon nan"),
        (BatchNorm(np.ones(4), np.ones(4), np.ones(4)), "epsilon must be one real number"),
        (BatchNorm(np.ones(4), np.ones(4), 1e-3 + 0j), "epsilon must be one real number, got a complex"),
        (BatchNorm(np.ones(4), np.ones(3), 1e-3), "moving variance must be 4 real numbers"),
        (BatchNorm(np.full(4, np.inf), np.ones(4), 1e-3), "NaN or infinite gamma"),
        (BatchNorm(np.ones(4), np.ones(4), 1e-3, beta=np.ones(5)), "beta must be 4 real numbers"),
    ],
)
def test_batch_norms_in_memory(bn: BatchNorm, expected: str) -> None:
    with pytest.raises(InputError) as exc:
        NetworkWeights((np.ones((3, 3, 1, 4)), np.ones((3, 3, 4, 2))), batch_norms=(bn, None), source="mem")
    assert str(exc.value).startswith("mem: batch norm of layer 0") and expected in str(exc.value), str(exc.value)


# --- mutations --------------------------------------------------------------------------------------------

Mutation = Callable[[st.DrawFn, list[Member]], None]
SHAPES = st.lists(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 16, -1, 2**24 + 1, 10**11, 2**64]), max_size=9).map(tuple)
DESCRS = st.sampled_from(
    ["<f4", ">f8", "<f2", "|i1", "<u8", "|b1", "<c16", "|O", "<U3", "|V4", "<M8[s]", "<f16", "S0", "<i4"]
    + [[("a", "<f4")], ("<f4", (2,)), 7, None, "nonsense"]
)
NAMES = st.sampled_from(
    ["kernel_00.npy", "kernel_\u0663.npy", "kernel_ 1.npy", "kernel_1", "kernel_9.npy", "bias_9.npy", "bn_gamma_x.npy"]
    + ["sources_0.npy", "other.npy", "kernel_0.npy", "dir/kernel_0.npy", "kernel_1.npy.npy", "bn_epsilon_0.npy"]
)
DTYPES = st.sampled_from([np.float16, np.float32, ">f8", np.int8, np.uint64, np.bool_, np.complex64, "<U2", object])


def _pick(draw: st.DrawFn, members: list[Member]) -> Member | None:
    return draw(st.sampled_from(members)) if members else None


def rewrite_header(draw: st.DrawFn, members: list[Member]) -> None:
    """A member's ``.npy`` header says another shape, dtype or order (or is not a header at all)."""
    m = _pick(draw, members)
    if m is None or m.raw is not None or m.data[:6] != b"\x93NUMPY":
        return
    body = m.data[_header_end(m.data) :]
    if draw(st.booleans()):
        text = f"{{'descr': {draw(DESCRS)!r}, 'fortran_order': {draw(st.sampled_from([False, True, 1]))}, "
        text += f"'shape': {draw(SHAPES)!r}, }}"
    else:
        text = draw(st.text(st.characters(max_codepoint=255), max_size=40))
    m.data = _npy_header(text, draw(st.sampled_from([(1, 0), (2, 0), (3, 0), (9, 9)]))) + body


def retype(draw: st.DrawFn, members: list[Member]) -> None:
    """A member holds its array in another dtype or shape."""
    m = _pick(draw, members)
    if m is None or m.raw is not None or m.data[:6] != b"\x93NUMPY":
        return
    try:
        stream = io.BytesIO(m.data)
        major, _ = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(stream)
        if math.prod(shape) * dtype.itemsize > 2**20:  # an earlier mutation declared a huge array: never allocate it
            return
        array = np.lib.format.read_array(io.BytesIO(m.data), allow_pickle=True)
    except (ValueError, SyntaxError, TypeError, OverflowError):  # a header an earlier mutation rewrote
        return
    how = draw(st.sampled_from(["dtype", "ravel", "axis", "transpose", "slice", "scalar", "empty", "nan", "neg"]))
    if how == "dtype":
        array = array.astype(draw(DTYPES))
    elif how == "ravel":
        array = array.ravel()
    elif how == "axis":
        array = array[None]
    elif how == "transpose":
        array = array.T
    elif how == "slice" and array.ndim:
        array = array[: max(array.shape[0] // 2, 0)]
    elif how == "scalar":
        array = np.asarray(array.ravel()[0] if array.size else 0.0)
    elif how == "empty":
        array = np.empty((0,) + array.shape[1:], array.dtype)
    elif how in ("nan", "neg") and array.size and array.dtype.kind == "f":
        array = array.copy()
        array.flat[0] = np.nan if how == "nan" else -abs(array.flat[0]) - 1
    m.data = _npy(array)


def rename(draw: st.DrawFn, members: list[Member]) -> None:
    m = _pick(draw, members)
    if m is not None:
        m.name = draw(NAMES)


def add_bomb(draw: st.DrawFn, members: list[Member]) -> None:
    name = draw(st.sampled_from(["kernel_0.npy", "bn_moving_mean_1.npy", "bias_0.npy", "junk.npy", "sources_1.npy"]))
    members[:] = [m for m in members if m.name != name] + [replace(_bomb(), name=name)]


def corrupt_sizes(draw: st.DrawFn, members: list[Member]) -> None:
    """The zip directory (and perhaps the local header) gives a member other sizes or CRC."""
    m = _pick(draw, members)
    if m is None:
        return
    sizes = st.sampled_from([0, 1, 7, 200, 2**20, 2**31, 2**32 - 1])
    setattr(m, draw(st.sampled_from(["file_size", "compress_size", "crc"])), draw(sizes))
    m.local_sizes = draw(st.booleans())


def change_method(draw: st.DrawFn, members: list[Member]) -> None:
    m = _pick(draw, members)
    if m is not None:
        m.method = draw(st.sampled_from([0, 8, 12, 14, 99]))
        m.flags = draw(st.sampled_from([0, 0, 1, 0x20, 0x40]))


def drop(draw: st.DrawFn, members: list[Member]) -> None:
    m = _pick(draw, members)
    if m is not None:
        members.remove(m)


def rewire(draw: st.DrawFn, members: list[Member]) -> None:
    rows = draw(st.lists(st.tuples(st.integers(-2, 5), st.integers(-3, 9)), max_size=4))
    i = draw(st.integers(0, 3))
    members[:] = [m for m in members if m.name != f"sources_{i}.npy"]
    members.append(Member(f"sources_{i}.npy", _npy(np.asarray(rows, np.int64).reshape(-1, 2))))


MUTATIONS: list[Mutation] = [rewrite_header, retype, rename, add_bomb, corrupt_sizes, change_method, drop, rewire]


@dataclass(frozen=True)
class Case:
    """A mutated file: how it was made (what a failing example prints) and its bytes."""

    made: str
    data: bytes = field(repr=False)


@st.composite
def hostile_files(draw: st.DrawFn) -> Case:
    """A valid file mutated by up to three of :data:`MUTATIONS`, then perhaps truncated or with bytes flipped."""
    base = draw(st.sampled_from(sorted(BASES)))
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    members = _members(BASES[base], method)
    made = [f"{base} ({'deflated' if method else 'stored'})"]
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=3)):
        mutation(draw, members)
        made.append(mutation.__name__)
    data = _zip(members)
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(data) - 1))
        if draw(st.sampled_from(["xor", "xor", "xor", "truncate"])) == "truncate":  # most truncations lose the
            data = data[:at]  # zip's end record
            made.append(f"truncate at {at}")
        else:
            flip = draw(st.integers(1, 255))
            data = data[:at] + bytes([data[at] ^ flip]) + data[at + 1 :]
            made.append(f"xor byte {at} with {flip}")
        if not data:
            break
    made.append("members " + ", ".join(f"{m.name!r}" for m in members))
    return Case(" + ".join(made), data)


def test_mutated_files_load_or_give_one_line(tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()
    path = tmp_path / "mutated.npz"

    @settings(max_examples=500, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(hostile_files())
    def check(case: Case) -> None:
        path.write_bytes(case.data)
        weights, msg, peak = _load(path)
        assert peak < MEMORY_BUDGET, f"{peak / MiB:.1f} MiB"
        if weights is None:
            assert msg and "\n" not in msg and str(path) in msg and len(msg) < 600, msg
            outcomes["refused"] += 1
            return
        outcomes["valid"] += 1
        for kernel in weights.kernels:
            assert kernel.dtype in (np.float32, np.float64) and kernel.size and np.all(np.isfinite(kernel))
            assert max(kernel.shape) <= limits.MAX_DIMENSION
        try:
            network_graph(weights)  # what is valid can be measured
        except InputError as exc:
            assert "\n" not in str(exc)

    check()
    print(f"mutated .npz files: {dict(outcomes)}")
    assert outcomes["refused"] >= 150 and outcomes["valid"] >= 10, outcomes
