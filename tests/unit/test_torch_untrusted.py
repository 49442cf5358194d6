"""PyTorch files (``.pt``/``.pth``, ``.safetensors``) as untrusted input.

Files written by real torch (``tests/data/torch``, see its README) are read
without torch and compared with the arrays torch held; every hostile file is
made here, in the publishers' formats (a ``.pt`` is a zip of a protocol-2
pickle and raw storages, written opcode by opcode below; a ``.safetensors`` is
a length, a JSON header and the bytes), and must end in one
:class:`~clusterability.errors.InputError` line naming the file, never a
traceback or a huge allocation. The last tests mutate valid files at random
(hypothesis) and hold every outcome to the same rule.
"""

from __future__ import annotations

import io
import json
import math
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterability.cli import main
from clusterability.core.network import NetworkWeights
from clusterability.errors import InputError
from clusterability.io.network_files import read_network
from clusterability.io.state_dict import SAFETENSORS_DTYPES, TORCH_STORAGES, read_safetensors, read_torch_zip
from clusterability.io.torchvision import random_torchvision_state

DATA = Path(__file__).resolve().parents[1] / "data" / "torch"
RNG = np.random.default_rng(19)


# ---------------------------------------------------------------------------- writers


def _pint(n: int) -> bytes:
    """A pickle integer: BININT1, BININT or LONG1, as pickle writes them."""
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if -(2**31) <= n < 2**31:
        return b"J" + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def _pstr(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _ptuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


_ODICT = b"ccollections\nOrderedDict\n)R"  # OrderedDict()


@dataclass
class View:
    """How one tensor of a ``.pt`` views its storage (``torch._utils._rebuild_tensor_v2``'s arguments)."""

    key: str
    storage: str
    numel: int
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _storage_name(dtype: np.dtype) -> str:
    name = "bfloat16" if dtype == ml_dtypes.bfloat16 else dtype.name
    return next(k for k, v in TORCH_STORAGES.items() if v == name)


def _contiguous(size: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(math.prod(size[i + 1 :]) for i in range(len(size)))


def pt_pickle(views: dict[str, View]) -> bytes:
    """``data.pkl`` of ``torch.save(state_dict)``: an OrderedDict of rebuilt tensors, storages by persistent id."""
    out = b"\x80\x02" + _ODICT + b"("
    for name, v in views.items():
        storage = _ptuple(
            _pstr("storage"), f"ctorch\n{v.storage}\n".encode(), _pstr(v.key), _pstr("cpu"), _pint(v.numel)
        )
        args = _ptuple(
            storage + b"Q",  # BINPERSID
            _pint(v.offset),
            _ptuple(*map(_pint, v.size)) if v.size else b")",
            _ptuple(*map(_pint, v.stride)) if v.stride else b")",
            b"\x89",  # False: requires_grad
            _ODICT,  # backward hooks
        )
        out += _pstr(name) + b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R"
    return out + b"u."  # SETITEMS, STOP


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _le_bytes(array: np.ndarray, big_endian: bool = False) -> bytes:
    """The values of ``array`` as little- (or big-) endian bytes, whatever its dtype (bfloat16 and float8 too)."""
    flat = np.ascontiguousarray(array).ravel()
    if flat.itemsize == 1:
        return flat.view(np.uint8).tobytes()
    words = flat.view(f"=u{flat.itemsize}")
    return words.astype(words.dtype.newbyteorder(">" if big_endian else "<")).tobytes()


def pt_members(
    state: dict[str, np.ndarray], views: dict[str, View] | None = None, byteorder: str | None = "little"
) -> dict[str, bytes]:
    """The members of a ``torch.save`` archive of ``state`` (one contiguous storage per tensor unless ``views``)."""
    views = dict(views or {})
    members: dict[str, bytes] = {}
    for i, (name, array) in enumerate(state.items()):
        members[f"archive/data/{i}"] = _le_bytes(array, big_endian=byteorder == "big")
        shape = tuple(array.shape)
        views.setdefault(name, View(str(i), _storage_name(array.dtype), array.size, 0, shape, _contiguous(shape)))
    members = {"archive/data.pkl": pt_pickle(views), **members, "archive/version": b"3\n"}
    if byteorder is not None:
        members["archive/byteorder"] = byteorder.encode()
    return members


def write_pt(path: Path, state: dict[str, np.ndarray], **kwargs) -> Path:
    path.write_bytes(zip_bytes(pt_members(state, **kwargs)))
    return path


_ST_CODES = {v: k for k, v in SAFETENSORS_DTYPES.items()}


def safetensors_bytes(state: dict[str, np.ndarray], header_extra: dict | None = None) -> bytes:
    """``safetensors``' layout: u64 header length, JSON header (padded with spaces to 8 bytes), the bytes."""
    header: dict = dict(header_extra or {})
    blobs, end = [], 0
    for name, array in state.items():
        blobs.append(_le_bytes(array))
        header[name] = {
            "dtype": _ST_CODES[array.dtype.name],
            "shape": list(array.shape),
            "data_offsets": [end, end + len(blobs[-1])],
        }
        end += len(blobs[-1])
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return b"".join([struct.pack("<Q", len(text)), text, *blobs])


def _mlp(widths: tuple[int, ...] = (4, 8, 6, 3), dtype=np.float32) -> OrderedDict[str, np.ndarray]:
    """A torch MLP's state dict: ``fc1`` ... with weights ``(out, in)`` and biases (the same every call)."""
    rng = np.random.default_rng(19)
    state: OrderedDict[str, np.ndarray] = OrderedDict()
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:]), start=1):
        state[f"fc{i}.weight"] = rng.normal(size=(n_out, n_in)).astype(dtype)
        state[f"fc{i}.bias"] = rng.normal(size=n_out).astype(dtype)
    return state


def _cnn() -> OrderedDict[str, np.ndarray]:
    """Conv2d(1, 3) - BatchNorm2d - Conv2d(3, 4) - Linear(16, 5), as torch names them (the same every call)."""
    rng = np.random.default_rng(20)
    state: OrderedDict[str, np.ndarray] = OrderedDict()
    state["0.weight"] = rng.normal(size=(3, 1, 3, 3)).astype(np.float32)
    state["0.bias"] = np.zeros(3, np.float32)
    state["1.weight"] = rng.uniform(0.5, 2, 3).astype(np.float32)
    state["1.bias"] = np.zeros(3, np.float32)
    state["1.running_mean"] = rng.normal(size=3).astype(np.float32)
    state["1.running_var"] = rng.uniform(0.5, 2, 3).astype(np.float32)
    state["1.num_batches_tracked"] = np.array(3, np.int64)
    state["3.weight"] = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    state["5.weight"] = rng.normal(size=(5, 16)).astype(np.float32)
    return state


def refused(path: Path, *needles: str, layers: list[str] | None = None) -> str:
    """The one-line InputError reading ``path`` gives; it names the file and each of ``needles``."""
    with pytest.raises(InputError) as exc:
        read_network(path, layers)
    message = str(exc.value)
    assert "\n" not in message and str(path) in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def peak_bytes(read: Callable[[], object]) -> int:
    """The most bytes Python allocated while ``read()`` ran (tracemalloc)."""
    tracemalloc.start()
    try:
        read()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def _headers(data: bytes) -> dict[str, tuple[int, int]]:
    """Member name -> (offset of its local header, offset of its central directory entry)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        out, pos = {}, archive.start_dir
        for info in archive.infolist():
            assert data[pos : pos + 4] == b"PK\x01\x02"
            n, m, k = struct.unpack("<HHH", data[pos + 28 : pos + 34])
            out[info.filename] = (info.header_offset, pos)
            pos += 46 + n + m + k
    return out


#: Zip header fields: name -> (offset in the local header, offset in the central entry, struct format).
_FIELDS = {
    "flags": (6, 8, "<H"),
    "method": (8, 10, "<H"),
    "crc": (14, 16, "<I"),
    "compressed size": (18, 20, "<I"),
    "size": (22, 24, "<I"),
}


def patch(data: bytes, member: str, field: str, value: int, where: str = "both") -> bytes:
    """``data`` (a zip) with ``field`` of ``member``'s local and/or central header set to ``value``."""
    out = bytearray(data)
    local, central = _headers(data)[member]
    at_local, at_central, fmt = _FIELDS[field]
    for base, at, side in ((local, at_local, "local"), (central, at_central, "central")):
        if where in ("both", side):
            struct.pack_into(fmt, out, base + at, value)
    return bytes(out)


# ---------------------------------------------------------------------------- files written by real torch

REAL = ("mlp", "cnn_bn", "mlp_bf16", "mlp_big", "tied")


def _expected_arrays(name: str) -> dict[str, np.ndarray]:
    """The tensors torch held when it wrote ``NAME.pt``, from ``expected.json`` (dtype, shape, values; exact)."""
    tensors = json.loads((DATA / "expected.json").read_text())[name]
    return {k: np.array(t["values"], dtype=t["dtype"]).reshape(t["shape"]) for k, t in tensors.items()}


@pytest.mark.parametrize("name", REAL)
def test_real_torch_files_give_the_arrays_torch_held(name: str) -> None:
    """``torch.save`` of torch 2.13 (float32, BatchNorm2d, bfloat16, big-endian, tied views), read without torch."""
    state = read_torch_zip(DATA / f"{name}.pt")
    expected = _expected_arrays(name)
    assert list(state) == list(expected)  # the modules' registration order
    for key in expected:
        assert state[key].dtype == expected[key].dtype and state[key].shape == expected[key].shape, key
        np.testing.assert_array_equal(state[key], expected[key], err_msg=key)
    weights = read_network(DATA / f"{name}.pt")
    last = [k for k in expected if k.endswith(".weight") and expected[k].ndim in (2, 4)][-1]
    np.testing.assert_array_equal(weights.kernels[-1], expected[last].T)
    if name == "tied":  # one storage in the archive, three views of it
        assert [k.shape for k in weights.kernels] == [(4, 6), (6, 4), (4, 3)]
        assert [n for n in zipfile.ZipFile(DATA / "tied.pt").namelist() if "/data/" in n] == ["tied/data/0"]
        np.testing.assert_array_equal(state["fc2.weight"], expected["fc1.weight"].T)
    elif name == "cnn_bn":
        assert [k.shape for k in weights.kernels] == [(3, 3, 1, 3), (3, 3, 3, 4), (16, 5)]
        np.testing.assert_array_equal(weights.kernels[0], expected["0.weight"].transpose(2, 3, 1, 0))
        np.testing.assert_array_equal(weights.batch_norms[1].moving_variance, expected["4.running_var"])
        assert not np.allclose(expected["4.running_var"], 1)  # trained statistics, not the defaults
    else:
        assert [k.shape for k in weights.kernels] == [(4, 8), (8, 6), (6, 3)]


def test_big_endian_file_reads_as_the_little_endian_one() -> None:
    """The ``byteorder`` record is honoured: byte-swapped storages give the same numbers, not garbage."""
    little, big = read_torch_zip(DATA / "mlp.pt"), read_torch_zip(DATA / "mlp_big.pt")
    with zipfile.ZipFile(DATA / "mlp_big.pt") as archive:
        assert archive.read("mlp_big/byteorder") == b"big"
        assert archive.read("mlp_big/data/0") != zipfile.ZipFile(DATA / "mlp.pt").read("mlp/data/0")
    assert list(big) == list(little)
    for key in little:
        np.testing.assert_array_equal(big[key], little[key])


def test_bfloat16_file_is_the_float32_one_rounded() -> None:
    """``BFloat16Storage`` is read and upcast exactly: the bfloat16 file holds the float32 values, rounded."""
    f32, bf16 = read_torch_zip(DATA / "mlp.pt"), read_torch_zip(DATA / "mlp_bf16.pt")
    for key in f32:
        assert bf16[key].dtype == np.float32
        np.testing.assert_array_equal(bf16[key], f32[key].astype(ml_dtypes.bfloat16).astype(np.float32))


def test_legacy_and_float8_files_are_refused_in_one_line() -> None:
    """What cannot be honoured: the pre-1.6 format, and float8 (an untyped storage) in a .pt."""
    refused(DATA / "legacy.pt", "legacy format is not read", "re-save")
    refused(DATA / "mlp_f8.pt", "torch._utils._rebuild_tensor_v3 tensors, which are not read", ".safetensors")


def test_hand_written_pt_matches_the_real_one(tmp_path: Path) -> None:
    """The writer these tests use reads back like torch's own file of the same tensors."""
    real = read_torch_zip(DATA / "cnn_bn.pt")
    mine = read_torch_zip(write_pt(tmp_path / "mine.pt", real))
    assert list(mine) == list(real) and all(np.array_equal(mine[k], real[k]) for k in real)


# ---------------------------------------------------------------------------- .pt: one line, not a traceback


def test_pt_member_with_a_bad_crc(tmp_path: Path) -> None:
    data = bytearray(zip_bytes(pt_members(_mlp())))
    local, _ = _headers(bytes(data))["archive/data/0"]
    data[local + 30 + len("archive/data/0")] ^= 0xFF  # the first byte of the storage, not its CRC
    (tmp_path / "crc.pt").write_bytes(data)
    refused(tmp_path / "crc.pt", "'archive/data/0' is unreadable", "CRC")


def test_pt_member_with_the_encryption_flag(tmp_path: Path) -> None:
    data = zip_bytes(pt_members(_mlp()))
    for member in ("archive/data.pkl", "archive/data/1"):
        (tmp_path / "enc.pt").write_bytes(patch(data, member, "flags", 0x1))
        refused(tmp_path / "enc.pt", f"{member!r} is encrypted")


def test_pt_member_with_an_unsupported_compression_method(tmp_path: Path) -> None:
    data = zip_bytes(pt_members(_mlp()))
    for method in (9, 12, 14, 99):  # deflate64, bzip2, lzma, AES
        (tmp_path / "method.pt").write_bytes(patch(data, "archive/data/2", "method", method))
        refused(tmp_path / "method.pt", f"zip method {method}")
    deflated = tmp_path / "deflated.pt"  # deflate is read (torch.load reads it too)
    deflated.write_bytes(zip_bytes(pt_members(_mlp()), zipfile.ZIP_DEFLATED))
    assert read_network(deflated).layer_widths() == [4, 8, 6, 3]


def test_pt_0d_tensor_offset_outside_its_storage(tmp_path: Path) -> None:
    state = _cnn()
    for offset in (5, 1, -1):  # a one-value storage; -1 once read the last value silently
        view = View("6", "LongStorage", 1, offset, (), ())
        write_pt(tmp_path / "offset.pt", state, views={"1.num_batches_tracked": view})
        refused(tmp_path / "offset.pt", f"offset {offset}) reads beyond the storage's 1 values")
    write_pt(tmp_path / "ok.pt", state, views={"1.num_batches_tracked": View("6", "LongStorage", 1, 0, (), ())})
    assert read_torch_zip(tmp_path / "ok.pt")["1.num_batches_tracked"] == 3


def test_pt_tensor_views_beyond_its_storage(tmp_path: Path) -> None:
    state = _mlp()
    for size, stride, offset in (((8, 4), (4, 1), 1), ((8, 4), (5, 1), 0), ((8, 4), (1, -1), 0), ((8, 4), (4,), 0)):
        write_pt(tmp_path / "view.pt", state, views={"fc1.weight": View("0", "FloatStorage", 32, offset, size, stride)})
        refused(tmp_path / "view.pt", "storage '0'")
    transposed = View("0", "FloatStorage", 32, 0, (8, 4), (1, 8))  # a non-contiguous view inside: read
    write_pt(tmp_path / "t.pt", state, views={"fc1.weight": transposed})
    expected = state["fc1.weight"].ravel().reshape(4, 8).T
    np.testing.assert_array_equal(read_torch_zip(tmp_path / "t.pt")["fc1.weight"], expected)


# ---------------------------------------------------------------------------- memory: declared sizes first


def test_pt_stride_zero_view_cannot_ask_for_gigabytes(tmp_path: Path) -> None:
    """A 1-value storage viewed as 100,000 x 100,000 (37 GiB), or any view larger than its storage."""
    state = dict(_mlp(), **{"fc1.weight": np.ones(1, np.float32)})
    huge = View("0", "FloatStorage", 1, 0, (100_000, 100_000), (0, 0))
    write_pt(tmp_path / "huge.pt", state, views={"fc1.weight": huge})
    start = time.perf_counter()
    refused(tmp_path / "huge.pt", "declares 37.3 GiB", "MAX_TENSOR_BYTES")
    assert time.perf_counter() - start < 1
    broadcast = View("0", "FloatStorage", 1, 0, (8, 4), (0, 0))  # small, but 32 values from 1
    write_pt(tmp_path / "broadcast.pt", state, views={"fc1.weight": broadcast})
    refused(tmp_path / "broadcast.pt", "reads beyond the storage's 1 values")


def test_zero_size_weight_with_a_huge_dimension(tmp_path: Path) -> None:
    """A few hundred bytes declaring a layer of 10**11 neurons (745 GiB downstream) is refused by the caps."""
    state = dict(_mlp((4, 8, 3)), **{"fc1.weight": np.zeros((0, 4), np.float32)})
    empty = View("0", "FloatStorage", 0, 0, (0, 10**11), (10**11, 1))
    write_pt(tmp_path / "empty.pt", state, views={"fc1.weight": empty})
    refused(tmp_path / "empty.pt", "dimension of 100,000,000,000", "MAX_DIMENSION")
    header = {"fc1.weight": {"dtype": "F32", "shape": [10**11, 0], "data_offsets": [0, 0]}}
    text = json.dumps(header).encode()
    (tmp_path / "empty.safetensors").write_bytes(struct.pack("<Q", len(text)) + text)
    refused(tmp_path / "empty.safetensors", "dimension of 100,000,000,000", "MAX_DIMENSION")
    small = dict(_mlp((4, 8, 3)), **{"fc1.weight": np.zeros((8, 0), np.float32)})  # empty, but within the caps
    (tmp_path / "small.safetensors").write_bytes(safetensors_bytes(small))
    message = refused(tmp_path / "small.safetensors", "no entries")
    assert "--layers" not in message


def test_pt_member_larger_than_its_storage_is_not_read(tmp_path: Path) -> None:
    """A member whose header declares 4 GiB behind a 4-value storage is refused before any byte is read."""
    state = {"fc.weight": np.ones((2, 2), np.float32)}
    members = pt_members(state)
    data = zip_bytes(members, zipfile.ZIP_DEFLATED)
    (tmp_path / "big.pt").write_bytes(patch(data, "archive/data/0", "size", 0xFFFF_FFF0))
    needle = "declares 4 values of 4 bytes (16 bytes) but its member holds 4,294,967,280 bytes"
    assert peak_bytes(lambda: refused(tmp_path / "big.pt", needle)) < 50 * 2**20


def test_pt_deflated_member_cannot_inflate_past_its_declared_size(tmp_path: Path) -> None:
    """4 MiB of zeros deflated behind a header saying 16 bytes (its CRC too): 16 bytes are read, no more."""
    members = pt_members({"fc.weight": np.zeros((2, 2), np.float32)})
    members["archive/data/0"] = bytes(4 * 2**20)
    data = zip_bytes(members, zipfile.ZIP_DEFLATED)
    data = patch(patch(data, "archive/data/0", "size", 16), "archive/data/0", "crc", zlib.crc32(bytes(16)))
    (tmp_path / "bomb.pt").write_bytes(data)
    states: list[dict] = []
    assert peak_bytes(lambda: states.append(read_torch_zip(tmp_path / "bomb.pt"))) < 4 * 2**20
    np.testing.assert_array_equal(states[0]["fc.weight"], np.zeros((2, 2)))
    # A header that claims 4 GiB for a 4 GiB storage but holds a few KB: cut short, without allocating 4 GiB.
    numel = (0xFFFF_FFF0) // 4
    huge = {"fc.weight": View("0", "FloatStorage", numel, 0, (2, 2), (2, 1))}
    members = pt_members({"fc.weight": np.zeros((2, 2), np.float32)}, views=huge)
    data = patch(zip_bytes(members, zipfile.ZIP_DEFLATED), "archive/data/0", "size", 0xFFFF_FFF0)
    (tmp_path / "claim.pt").write_bytes(data)
    needle = "'archive/data/0' is cut short at byte 16 of 4,294,967,280"
    assert peak_bytes(lambda: refused(tmp_path / "claim.pt", needle)) < 50 * 2**20


def test_pt_stored_member_beyond_the_archive(tmp_path: Path) -> None:
    data = zip_bytes(pt_members(_mlp()))
    (tmp_path / "beyond.pt").write_bytes(patch(data, "archive/data/0", "compressed size", 0xFFFF_FFF0))
    refused(tmp_path / "beyond.pt", "'archive/data/0' declares 128 bytes in 4,294,967,280", "does not hold")


def test_pickle_memo_index_of_2_to_the_32(tmp_path: Path) -> None:
    """A pickle storing memo index 2**32 - 1 in a few hundred bytes (a bare MemoryError before)."""
    members = pt_members(_mlp())
    members["archive/data.pkl"] = b"\x80\x02}r\xff\xff\xff\xff."  # EMPTY_DICT, LONG_BINPUT 4294967295, STOP
    (tmp_path / "memo.pt").write_bytes(zip_bytes(members))
    refused(tmp_path / "memo.pt", "memo index 4,294,967,295")
    members["archive/data.pkl"] = b"\x80\x02}q\x00j\x00\x01\x00\x00."  # LONG_BINGET of an index never stored
    (tmp_path / "get.pt").write_bytes(zip_bytes(members))
    refused(tmp_path / "get.pt", "memo index 256", "never stored")


def test_pickle_opcodes_and_globals_torch_save_does_not_write(tmp_path: Path) -> None:
    """Code execution stays refused, whatever opcode carries it; objects handed out refuse BUILD."""
    payloads = {
        b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.": "refuses the global os.system",  # GLOBAL, REDUCE
        b"\x80\x04\x8c\x02os\x8c\x06system\x93.": "refuses the global os.system",  # STACK_GLOBAL
        b"\x80\x02(cos\nsystem\nX\x04\x00\x00\x00trueo.": "opcode OBJ",
        b"\x80\x02(X\x04\x00\x00\x00trueios\nsystem\n.": "opcode INST",
        b"\x80\x02cbuiltins\nobject\n)\x81.": "opcode NEWOBJ",
        b"\x80\x02\x8b\x01\x00\x00\x00\x01.": "opcode LONG4",
        b"\x80\x02}2.": "opcode DUP",
        b"\x80\x02S'x'\n.": "opcode STRING",
        b"\x80\x02Pfoo\n.": "opcode PERSID",
        b"\x80\x02}": "not a readable pickle",
    }
    for payload, needle in payloads.items():
        members = pt_members(_mlp())
        members["archive/data.pkl"] = payload
        (tmp_path / "evil.pt").write_bytes(zip_bytes(members))
        refused(tmp_path / "evil.pt", needle)
    # BUILD on a rebuilt tensor (ndarray.__setstate__ could reshape it) and on a storage type
    base = pt_pickle({"w": View("0", "FloatStorage", 4, 0, (2, 2), (2, 1))})
    for build in (base[:-2] + b"}b" + base[-2:], base.replace(b"FloatStorage\n", b"FloatStorage\n}b", 1)):
        members = pt_members({"w": np.ones((2, 2), np.float32)})
        members["archive/data.pkl"] = build
        (tmp_path / "build.pt").write_bytes(zip_bytes(members))
        refused(tmp_path / "build.pt", "BUILD opcode")


def test_pt_storage_member_size_and_byteorder_record(tmp_path: Path) -> None:
    state = _mlp()
    write_pt(tmp_path / "numel.pt", state, views={"fc1.weight": View("0", "FloatStorage", 33, 0, (8, 4), (4, 1))})
    refused(tmp_path / "numel.pt", "declares 33 values of 4 bytes (132 bytes) but its member holds 128 bytes")
    write_pt(tmp_path / "missing.pt", state, views={"fc1.weight": View("99", "FloatStorage", 32, 0, (8, 4), (4, 1))})
    refused(tmp_path / "missing.pt", "no member 'archive/data/99'")
    for record in ("middle", "little\n", "x" * 40):
        members = pt_members(state)
        members["archive/byteorder"] = record.encode()
        (tmp_path / "order.pt").write_bytes(zip_bytes(members))
        refused(tmp_path / "order.pt", "byteorder record", "not 'little' or 'big'")
    big = write_pt(tmp_path / "big.pt", state, byteorder="big")
    absent = write_pt(tmp_path / "absent.pt", state, byteorder=None)  # torch < 2.1 wrote none: little-endian
    for path in (big, absent):
        assert all(np.array_equal(read_torch_zip(path)[k], v) for k, v in state.items())
    complex_storage = {"fc1.weight": View("0", "ComplexFloatStorage", 16, 0, (8, 4), (4, 1))}
    write_pt(tmp_path / "complex.pt", state, views=complex_storage)
    refused(tmp_path / "complex.pt", "torch.ComplexFloatStorage tensors, which are not read")
    with zipfile.ZipFile(tmp_path / "dup.pt", "w") as archive:
        for name, blob in pt_members(state).items():
            archive.writestr(name, blob)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("archive/data/0", b"\0" * 128)
    refused(tmp_path / "dup.pt", "member 'archive/data/0' twice")


# ---------------------------------------------------------------------------- wrong answers: --layers


def test_layers_must_name_every_weight_module_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_pt(tmp_path / "three.pt", _mlp())
    refused(path, "--layers leaves out 'fc3' (Linear)", layers=["fc1", "fc2"])
    refused(path, "--layers names 'fc1' twice", layers=["fc1", "fc1", "fc1"])
    refused(path, "'fc9' is not a Linear or Conv2d module", layers=["fc1", "fc2", "fc9"])
    message = refused(
        path, "'fc1' has 8 outputs but the next layer read, 'fc3', has 6 inputs", layers=["fc1", "fc3", "fc2"]
    )
    assert "check the order given (--layers)" in message
    assert read_network(path, ["fc1", "fc2", "fc3"]).layer_widths() == [4, 8, 6, 3]
    assert main(["ncut", str(path), "--k", "2", "--shuffles", "0", "--layers", "fc1,fc2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "leaves out 'fc3'" in err and "significant" not in err
    cnn = tmp_path / "cnn.safetensors"
    cnn.write_bytes(safetensors_bytes(_cnn()))
    refused(cnn, "--layers leaves out '3' (Conv2d)", layers=["0", "5"])
    assert [k.shape[-1] for k in read_network(cnn, ["0", "3", "5"]).kernels] == [3, 4, 5]


# ---------------------------------------------------------------------------- .safetensors: dtypes and header


@pytest.mark.parametrize("code", ["BF16", "F16", "F8_E4M3", "F8_E5M2", "F32", "F64"])
def test_safetensors_float_dtypes_are_read_exactly(tmp_path: Path, code: str) -> None:
    dtype = np.dtype(getattr(ml_dtypes, SAFETENSORS_DTYPES[code], None) or SAFETENSORS_DTYPES[code])
    state = {k: v.astype(dtype) for k, v in _mlp().items()}
    (tmp_path / "m.safetensors").write_bytes(safetensors_bytes(state))
    read = read_safetensors(tmp_path / "m.safetensors")
    for key, value in state.items():
        want = value.astype(np.float32) if code in ("BF16", "F8_E4M3", "F8_E5M2") else value
        assert read[key].dtype == want.dtype
        np.testing.assert_array_equal(read[key], want)
    weights = read_network(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(weights.kernels[1].astype(np.float64), state["fc2.weight"].T.astype(np.float64))


def test_safetensors_integer_and_bool_dtypes(tmp_path: Path) -> None:
    codes = [c for c in SAFETENSORS_DTYPES if c[0] in "IUB" and c != "BF16"]
    state = {f"t{code}": np.arange(6).reshape(2, 3).astype(SAFETENSORS_DTYPES[code]) for code in codes}
    assert len(state) == 9
    (tmp_path / "ints.safetensors").write_bytes(safetensors_bytes(state))
    read = read_safetensors(tmp_path / "ints.safetensors")
    for key, value in state.items():
        assert read[key].dtype == value.dtype and np.array_equal(read[key], value), key


def test_safetensors_agrees_with_the_safetensors_package(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    state = dict(_cnn())
    save_file(state, str(tmp_path / "pkg.safetensors"))
    mine = read_safetensors(tmp_path / "pkg.safetensors")
    assert all(np.array_equal(mine[k], v) and mine[k].dtype == v.dtype for k, v in state.items())
    (tmp_path / "mine.safetensors").write_bytes(safetensors_bytes(state))
    theirs = load_file(str(tmp_path / "mine.safetensors"))
    assert all(np.array_equal(theirs[k], v) for k, v in state.items())


def test_safetensors_unknown_dtypes_are_refused(tmp_path: Path) -> None:
    for code in ("F8_E8M0", "F4", "C64", "Q4_K", "f32"):
        header = {"fc1.weight": {"dtype": code, "shape": [2, 2], "data_offsets": [0, 4]}}
        text = json.dumps(header).encode()
        (tmp_path / "odd.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + bytes(4))
        refused(tmp_path / "odd.safetensors", f"dtype '{code}', which is not read", "BF16", "F8_E4M3")


def _raw_safetensors(path: Path, header: object, data: bytes = b"", length: int | None = None) -> Path:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + data)
    return path


def test_safetensors_header_is_checked_against_the_file(tmp_path: Path) -> None:
    path = tmp_path / "h.safetensors"
    entry = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    cases: list[tuple[object, bytes, int | None, str]] = [
        ({"w": entry}, bytes(16), 10**12, "declares a 1,000,000,000,000-byte header"),
        ({"w": entry}, bytes(16), 2**64 - 1, "declares a 18,446,744,073,709,551,615-byte header"),
        (b"{not json", b"", None, "the JSON header is unreadable"),
        (b'{"w": 1, "w": 2}', b"", None, "appears twice"),
        (b"\xff\xfe{}", b"", None, "the JSON header is unreadable"),
        (b"[" * 100_000 + b"]" * 100_000, b"", None, "the JSON header is unreadable"),
        ([1, 2], b"", None, "not an object"),
        ({"w": 3}, b"", None, "is not a {dtype, shape, data_offsets} entry"),
        ({"w": {**entry, "dtype": ["F32"]}}, bytes(16), None, "dtype ['F32'], which is not read"),
        ({"w": {**entry, "shape": [2, 2.0]}}, bytes(16), None, "not a list of integers"),
        ({"w": {**entry, "shape": [2, True]}}, bytes(16), None, "not a list of integers"),
        ({"w": {**entry, "shape": [2, -2]}}, bytes(16), None, "negative dimension"),
        ({"w": {**entry, "shape": [1] * 9}}, bytes(16), None, "9 dimensions"),
        ({"w": {**entry, "data_offsets": [0, 16, 32]}}, bytes(16), None, "not a [begin, end] pair"),
        ({"w": {**entry, "data_offsets": [0, 32]}}, bytes(16), None, "outside the 16 data bytes"),
        ({"w": {**entry, "data_offsets": [-16, 0]}}, bytes(16), None, "outside the 16 data bytes"),
        ({"w": {**entry, "data_offsets": [0, 12]}}, bytes(16), None, "(12 bytes) but its F32 shape (2, 2) takes 16"),
        ({"w": entry, "v": entry}, bytes(16), None, "overlaps the tensor before it"),
        ({"w": {**entry, "data_offsets": [4, 20]}}, bytes(20), None, "leaves bytes 0-4 unindexed"),
        ({"w": entry}, bytes(24), None, "the 8 bytes after the last tensor are unindexed"),
        ({"__metadata__": {"a": 1}, "w": entry}, bytes(16), None, "__metadata__ is not a map of strings"),
        ({"w": {**entry, "shape": [2**23, 2**9]}}, bytes(16), None, "declares 16.0 GiB"),
    ]
    for header, data, length, needle in cases:
        refused(_raw_safetensors(path, header, data, length), needle)
    path.write_bytes(b"\x01\x00")
    refused(path, "too short for the 8-byte header length")
    ok = {"__metadata__": {"format": "pt"}, "fc.weight": entry}
    weights = read_network(_raw_safetensors(path, ok, np.ones(4, np.float32).tobytes()))
    assert weights.layer_widths() == [2, 2]


# ---------------------------------------------------------------------------- sizes that must still load


def test_resnet50_sized_state_dict_loads(tmp_path: Path) -> None:
    """torchvision's ResNet-50 (23.5 M convolution weights) as .pt and .safetensors, within every cap."""
    state = random_torchvision_state("resnet50", seed=0)
    write_pt(tmp_path / "resnet50.pt", state)
    (tmp_path / "resnet50.safetensors").write_bytes(safetensors_bytes(state))
    for name in ("resnet50.pt", "resnet50.safetensors"):
        weights = read_network(tmp_path / name)
        assert weights.is_dag and weights.n_layers == 53
        assert sum(k.size for k in weights.kernels) == sum(v.size for k, v in state.items() if v.ndim == 4)


def test_50000_neuron_layer_loads(tmp_path: Path) -> None:
    state = {"fc1.weight": RNG.normal(size=(50_000, 2)).astype(np.float32)}
    state["fc2.weight"] = RNG.normal(size=(2, 50_000)).astype(np.float32)
    write_pt(tmp_path / "wide.pt", state)
    (tmp_path / "wide.safetensors").write_bytes(safetensors_bytes(state))
    for name in ("wide.pt", "wide.safetensors"):
        assert read_network(tmp_path / name).layer_widths() == [2, 50_000, 2]


# ---------------------------------------------------------------------------- batch norms


@pytest.mark.parametrize("bad", [-0.5, float("nan")])
def test_bad_batch_norm_variance_blames_the_variance(tmp_path: Path, bad: float, capsys) -> None:
    """A state dict's negative or NaN running variance: one line about the variance, not the layer order."""
    state = _cnn()
    state["1.running_var"] = np.array([1.0, bad, 1.0], np.float32)
    paths = [write_pt(tmp_path / "bn.pt", state), tmp_path / "bn.safetensors"]
    paths[1].write_bytes(safetensors_bytes(state))
    for path in paths:
        message = refused(path, "variance", "batch norm of layer 0")
        assert "order" not in message and "--layers" not in message
        assert main(["ncut", str(path), "--k", "2", "--shuffles", "0"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "variance" in err and "order" not in err


# ---------------------------------------------------------------------------- random mutations


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mutations")


def _holds(path: Path) -> None:
    """Reading ``path`` gives valid weights or one InputError line naming it; nothing else."""
    try:
        weights = read_network(path)
    except InputError as exc:
        message = str(exc)
        assert "\n" not in message and str(path) in message, message
        return
    assert isinstance(weights, NetworkWeights) and all(np.all(np.isfinite(k)) for k in weights.kernels)


_INTS = st.one_of(
    st.integers(-(2**40), 2**40),
    st.sampled_from([0, 1, -1, 2, 255, 256, 2**24, 2**24 + 1, 2**31 - 1, 2**31, 2**32, 10**11, 2**63, -(2**63)]),
)


def _int_opcodes(pickled: bytes) -> list[tuple[int, int]]:
    """(position, length) of each integer opcode with its argument in a pickle."""
    import pickletools

    ops = list(pickletools.genops(pickled))
    return [
        (pos, ops[i + 1][2] - pos) for i, (op, _, pos) in enumerate(ops) if op.name in ("BININT1", "BININT", "LONG1")
    ]


def _pt_base(which: int) -> dict[str, bytes]:
    if which < 3:
        name = ("mlp", "cnn_bn", "mlp_bf16")[which]
        with zipfile.ZipFile(DATA / f"{name}.pt") as archive:
            return {n.replace(f"{name}/", "archive/", 1): archive.read(n) for n in archive.namelist()}
    views = {"fc1.weight": View("0", "FloatStorage", 40, 4, (8, 4), (1, 8))}  # a strided view inside its storage
    state = dict(_mlp(), **{"fc1.weight": np.ones((10, 4), np.float32)})
    return pt_members(state, views=views)


@st.composite
def mutated_pt(draw) -> bytes:
    members = _pt_base(draw(st.integers(0, 3)))
    kind = draw(st.sampled_from(["pickle int", "member bytes", "zip field", "file bytes", "truncate"]))
    if kind == "pickle int":
        pickled = members["archive/data.pkl"]
        for _ in range(draw(st.integers(1, 3))):
            pos, length = draw(st.sampled_from(_int_opcodes(pickled)))
            pickled = pickled[:pos] + _pint(draw(_INTS)) + pickled[pos + length :]
        members["archive/data.pkl"] = pickled
    elif kind == "member bytes":  # a member rewritten, its CRC right: the reader sees the change
        name = draw(st.sampled_from(sorted(members)))
        blob = bytearray(members[name])
        for _ in range(draw(st.integers(1, 4))):
            if blob:
                blob[draw(st.integers(0, len(blob) - 1))] = draw(st.integers(0, 255))
        cut = draw(st.integers(0, len(blob) + 8))
        members[name] = bytes(blob[:cut] + bytes(max(0, cut - len(blob))))
    data = zip_bytes(members, draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])))
    if kind == "zip field":
        member = draw(st.sampled_from(sorted(members)))
        field = draw(st.sampled_from(sorted(_FIELDS)))
        bits = 16 if _FIELDS[field][2] == "<H" else 32
        value = draw(st.one_of(st.integers(0, 2**bits - 1), st.sampled_from([0, 1, 8, 12, 14, 99, 2**bits - 1])))
        data = patch(data, member, field, value, draw(st.sampled_from(["both", "local", "central"])))
    elif kind == "file bytes":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, len(out) - 1))] ^= draw(st.integers(1, 255))
        data = bytes(out)
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    return data


@settings(max_examples=250, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_pt())
def test_mutated_pt_files_are_weights_or_one_line(scratch: Path, data: bytes) -> None:
    path = scratch / "mutated.pt"
    path.write_bytes(data)
    _holds(path)


def _st_state() -> dict[str, np.ndarray]:
    state = dict(_cnn())
    state["0.weight"] = state["0.weight"].astype(ml_dtypes.bfloat16)
    state["3.weight"] = state["3.weight"].astype(ml_dtypes.float8_e4m3fn)
    state["5.weight"] = state["5.weight"].astype(np.float16)
    return state


_DTYPE_CODES = st.sampled_from([*SAFETENSORS_DTYPES, "F8_E8M0", "C64", "", "f32"])


@st.composite
def mutated_safetensors(draw) -> bytes:
    data = safetensors_bytes(_st_state())
    kind = draw(st.sampled_from(["header field", "header length", "file bytes", "truncate"]))
    if kind == "header field":
        n = struct.unpack("<Q", data[:8])[0]
        header, body = json.loads(data[8 : 8 + n]), data[8 + n :]
        for _ in range(draw(st.integers(1, 3))):
            entry = header[draw(st.sampled_from(sorted(header)))]
            field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "drop"]))
            if field == "dtype":
                entry["dtype"] = draw(_DTYPE_CODES)
            elif field == "shape":
                entry["shape"] = draw(st.lists(_INTS, max_size=5))
            elif field == "data_offsets":
                entry["data_offsets"] = draw(st.lists(_INTS, min_size=1, max_size=3))
            else:
                entry.pop(draw(st.sampled_from(sorted(entry))), None)
        text = json.dumps(header).encode()
        data = struct.pack("<Q", len(text)) + text + body
    elif kind == "header length":
        data = struct.pack("<Q", draw(st.one_of(st.integers(0, len(data)), st.integers(0, 2**64 - 1)))) + data[8:]
    elif kind == "file bytes":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, len(out) - 1))] ^= draw(st.integers(1, 255))
        data = bytes(out)
    else:
        data = data[: draw(st.integers(0, len(data) - 1))]
    return data


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_safetensors())
def test_mutated_safetensors_files_are_weights_or_one_line(scratch: Path, data: bytes) -> None:
    path = scratch / "mutated.safetensors"
    path.write_bytes(data)
    _holds(path)


def test_the_unmutated_bases_are_valid(scratch: Path) -> None:
    """The mutations start from files that read (so a refusal is the mutation's doing)."""
    for which in range(4):
        (scratch / "base.pt").write_bytes(zip_bytes(_pt_base(which)))
        assert read_network(scratch / "base.pt").n_layers == 3
    (scratch / "base.safetensors").write_bytes(safetensors_bytes(_st_state()))
    assert [k.shape for k in read_network(scratch / "base.safetensors").kernels] == [
        (3, 3, 1, 3),
        (3, 3, 3, 4),
        (16, 5),
    ]
