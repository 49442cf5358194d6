"""Fetching raw datasets: md5 checks, mirror copies, downloads (local HTTP server and fake openers).

The mirror tests read ``raw_mirror`` (conftest): the real files with the official md5s where
../shared/datasets exists, else the synthetic mirror with its own MD5SUMS, so they run on a fresh
clone. Only the test of the official md5s themselves needs the real files (``mirror``).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusterability.data.fetch import fetch_raw, md5_file, verify_md5
from clusterability.data.sources import SOURCES, canonical_name, get_source
from clusterability.errors import InputError
from synthetic_mirror import RawMirror

PREFIX = "cifar-10-batches-bin/"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    """Everything in ``folder`` (including hidden temporary files and folders)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _assert_one_line(exc: pytest.ExceptionInfo[InputError]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg
    return msg


# --- md5 and registry -----------------------------------------------------------


def test_md5_file_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc" * 1_000_000)  # several hashing chunks
    expected = _md5(b"abc" * 1_000_000)
    assert md5_file(path) == expected
    verify_md5(path, expected)
    wrong = "0" * 32
    with pytest.raises(InputError) as exc:
        verify_md5(path, wrong)
    msg = _assert_one_line(exc)
    assert str(path) in msg and wrong in msg and expected in msg and "datasets.mirror" in msg
    with pytest.raises(InputError, match="no such file"):
        verify_md5(tmp_path / "absent.bin", expected)


def _listed_md5s(mirror: Path) -> dict[str, str]:
    """``<folder>/<file>`` -> md5 of a mirror's MD5SUMS."""
    listed = {}
    for line in (mirror / "MD5SUMS").read_text().splitlines():
        md5, rel = line.split()
        listed[rel] = md5
    return listed


def test_registry_names_the_mirror_files(raw_mirror: RawMirror) -> None:
    """The registry's folders and file names are the publishers' layout that a mirror holds."""
    listed = _listed_md5s(raw_mirror.root)
    assert {f"{s.subfolder}/{f}" for s in SOURCES.values() for f in s.files} == set(listed)
    assert all((raw_mirror.root / rel).is_file() for rel in listed)
    assert set(SOURCES) == {"mnist", "fashion_mnist", "cifar10"}
    assert canonical_name("fashion-mnist") == "fashion_mnist"
    with pytest.raises(InputError, match="unknown dataset 'svhn'"):
        get_source("svhn")


def test_registry_md5s_are_the_official_ones(mirror: Path) -> None:
    """Real files only: the registry's md5s are those of the publishers' files in the shared mirror."""
    registry = {f"{s.subfolder}/{f}": md5 for s in SOURCES.values() for f, md5 in s.files.items()}
    assert registry == _listed_md5s(mirror)


# --- mirror copies ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_fetch_from_mirror(raw_mirror: RawMirror, tmp_path: Path, name: str) -> None:
    source = raw_mirror.source(name)
    dest = tmp_path / "raw"
    paths = fetch_raw(name, dest, mirror=raw_mirror.root, checksums=raw_mirror.checksums)
    assert [p.name for p in paths] == list(source.files)
    assert _leftovers(dest) == sorted(source.files)
    for p in paths:
        assert md5_file(p) == source.files[p.name]
    # Present with the right md5: skipped, so an empty mirror is never consulted.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert fetch_raw(name, dest, mirror=empty, checksums=raw_mirror.checksums) == paths


def test_mirror_wrong_md5_leaves_nothing(raw_mirror: RawMirror, tmp_path: Path) -> None:
    source = raw_mirror.source("mnist")
    fake = tmp_path / "mirror" / source.subfolder
    fake.mkdir(parents=True)
    for f in source.files:
        (fake / f).symlink_to(raw_mirror.root / source.subfolder / f)
    first = next(iter(source.files))
    (fake / first).unlink()
    (fake / first).write_bytes(b"not the official file")
    dest = tmp_path / "raw"
    with pytest.raises(InputError) as exc:
        fetch_raw("mnist", dest, mirror=tmp_path / "mirror", checksums=raw_mirror.checksums)
    msg = _assert_one_line(exc)
    assert str(fake / first) in msg
    assert source.files[first] in msg and _md5(b"not the official file") in msg
    assert "datasets.mirror" in msg
    assert _leftovers(dest) == []


def test_mirror_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        fetch_raw("fashion_mnist", tmp_path / "raw", mirror=tmp_path / "nowhere")
    msg = _assert_one_line(exc)
    assert str(tmp_path / "nowhere" / "fashion-mnist" / "train-images-idx3-ubyte.gz") in msg
    assert _leftovers(tmp_path / "raw") == []


def test_existing_wrong_file_is_replaced(raw_mirror: RawMirror, tmp_path: Path) -> None:
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / "t10k-labels-idx1-ubyte.gz").write_bytes(b"stale")
    paths = fetch_raw("mnist", dest, mirror=raw_mirror.root, checksums=raw_mirror.checksums)
    assert md5_file(paths[-1]) == raw_mirror.source("mnist").files["t10k-labels-idx1-ubyte.gz"]


# --- downloads from a real local HTTP server ----------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server_root(tmp_path_factory: pytest.TempPathFactory, raw_mirror: RawMirror) -> tuple[Path, str]:
    """A temp folder served over HTTP on 127.0.0.1: ``mnist/`` copies and a CIFAR ``tar.gz``.

    Returns the folder and the md5 of the tarball built here from the mirror's
    ``.bin`` files (stored uncompressed inside gzip to keep the test fast).
    """
    mirror = raw_mirror.root
    root = tmp_path_factory.mktemp("www")
    (root / "mnist").mkdir()
    for f in get_source("mnist").files:
        (root / "mnist" / f).symlink_to(mirror / "mnist" / f)
    (root / "cifar").mkdir()
    tar_path = root / "cifar" / "cifar-10-binary.tar.gz"
    with tarfile.open(tar_path, "w:gz", compresslevel=0) as tar:
        for extra in ("batches.meta.txt", "readme.html"):
            data = b"extra member, never extracted\n"
            info = tarfile.TarInfo(PREFIX + extra)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for f in get_source("cifar10").files:
            tar.add(mirror / "cifar-10-batches-bin" / f, arcname=PREFIX + f)
    return root, md5_file(tar_path)


@pytest.fixture(scope="module")
def http_base(server_root: tuple[Path, str]) -> Iterator[str]:
    """Base URL of a ThreadingHTTPServer serving ``server_root`` on 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(server_root[0]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_download_mnist_http_with_fallback(raw_mirror: RawMirror, http_base: str, tmp_path: Path) -> None:
    dest = tmp_path / "raw"
    # The first base URL answers 404; the second holds the files.
    urls = [f"{http_base}/missing/", f"{http_base}/mnist"]
    paths = fetch_raw("mnist", dest, urls=urls, checksums=raw_mirror.checksums)
    source = raw_mirror.source("mnist")
    assert _leftovers(dest) == sorted(source.files)
    for p in paths:
        assert md5_file(p) == source.files[p.name]


def test_download_http_404_names_url(http_base: str, tmp_path: Path) -> None:
    dest = tmp_path / "raw"
    with pytest.raises(InputError) as exc:
        fetch_raw("mnist", dest, urls=f"{http_base}/missing/")
    msg = _assert_one_line(exc)
    assert f"{http_base}/missing/train-images-idx3-ubyte.gz" in msg and "404" in msg
    assert _leftovers(dest) == []


def test_download_cifar_tarball_http(
    raw_mirror: RawMirror, server_root: tuple[Path, str], http_base: str, tmp_path: Path
) -> None:
    dest = tmp_path / "raw"
    urls = [f"{http_base}/cifar/"]
    paths = fetch_raw("cifar10", dest, urls=urls, archive_md5=server_root[1], checksums=raw_mirror.checksums)
    source = raw_mirror.source("cifar10")
    # Only the expected members, no readme/meta, no temporary archive left.
    assert _leftovers(dest) == sorted(source.files)
    for p in paths:
        assert md5_file(p) == source.files[p.name]


# --- fake openers ---------------------------------------------------------------------


class _Opener:
    """Serves bytes by URL; records calls; optional failure after ``fail_after`` bytes."""

    def __init__(self, files: dict[str, bytes], fail_after: dict[str, int] | None = None) -> None:
        self.files, self.fail_after, self.calls = files, fail_after or {}, []

    def __call__(self, url: str) -> io.RawIOBase:
        self.calls.append(url)
        if url not in self.files:
            raise OSError(f"fake 404 for {url}")
        data = self.files[url]
        if url in self.fail_after:
            return _Broken(data[: self.fail_after[url]])
        return io.BytesIO(data)


class _Broken(io.BytesIO):
    """A stream that breaks (connection reset) once its bytes are used up."""

    def read(self, n: int | None = -1) -> bytes:
        chunk = super().read(n)
        if not chunk:
            raise ConnectionResetError("connection reset by peer")
        return chunk


def _label_files(mirror: Path, name: str, base: str) -> dict[str, bytes]:
    source = get_source(name)
    return {f"{base}/{f}": (mirror / source.subfolder / f).read_bytes() for f in source.files}


def test_fake_opener_download_and_skip(raw_mirror: RawMirror, tmp_path: Path) -> None:
    opener = _Opener(_label_files(raw_mirror.root, "fashion_mnist", "http://fake"))
    dest = tmp_path / "raw"
    sums = raw_mirror.checksums
    paths = fetch_raw("fashion_mnist", dest, urls=["http://fake/"], opener=opener, checksums=sums)
    source = raw_mirror.source("fashion_mnist")
    assert len(opener.calls) == 4
    assert all(md5_file(p) == source.files[p.name] for p in paths)
    fetch_raw("fashion_mnist", dest, urls=["http://fake/"], opener=opener, checksums=sums)
    assert len(opener.calls) == 4  # everything already present: nothing downloaded


def test_fake_opener_mid_stream_failure_leaves_nothing(raw_mirror: RawMirror, tmp_path: Path) -> None:
    files = _label_files(raw_mirror.root, "mnist", "http://fake")
    opener = _Opener(files, fail_after={url: 4096 for url in files})
    dest = tmp_path / "raw"
    with pytest.raises(InputError) as exc:
        fetch_raw("mnist", dest, urls="http://fake", opener=opener, checksums=raw_mirror.checksums)
    msg = _assert_one_line(exc)
    assert "train-images-idx3-ubyte.gz" in msg and "connection reset" in msg
    assert _leftovers(dest) == []


def test_fake_opener_falls_back_after_broken_stream(raw_mirror: RawMirror, tmp_path: Path) -> None:
    good = _label_files(raw_mirror.root, "mnist", "http://good")
    broken = {u.replace("http://good", "http://broken"): d for u, d in good.items()}
    opener = _Opener({**broken, **good}, fail_after={u: 1000 for u in broken})
    urls = ["http://broken", "http://good"]
    paths = fetch_raw("mnist", tmp_path / "raw", urls=urls, opener=opener, checksums=raw_mirror.checksums)
    source = raw_mirror.source("mnist")
    assert all(md5_file(p) == source.files[p.name] for p in paths)


def test_download_wrong_md5(tmp_path: Path) -> None:
    opener = _Opener({f"http://fake/{f}": b"garbage" for f in get_source("mnist").files})
    dest = tmp_path / "raw"
    with pytest.raises(InputError) as exc:
        fetch_raw("mnist", dest, urls="http://fake", opener=opener)
    msg = _assert_one_line(exc)
    assert get_source("mnist").files["train-images-idx3-ubyte.gz"] in msg and _md5(b"garbage") in msg
    assert _leftovers(dest) == []


# --- tarball safety (small synthetic archives, md5 passed as override) -------------------


def _tarball(members: list[tuple[str, bytes]], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink is not None:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return buf.getvalue()


def _fetch_tarball(data: bytes, dest: Path) -> None:
    opener = _Opener({"http://fake/cifar-10-binary.tar.gz": data})
    fetch_raw("cifar10", dest, urls="http://fake", opener=opener, archive_md5=_md5(data))


@pytest.mark.parametrize("evil", ["../evil.bin", "cifar-10-batches-bin/../../evil.bin", "/tmp/evil.bin"])
def test_tarball_path_traversal_rejected(tmp_path: Path, evil: str) -> None:
    data = _tarball([(PREFIX + "readme.html", b"hi"), (evil, b"pwned"), (PREFIX + "data_batch_1.bin", b"x")])
    dest = tmp_path / "a" / "raw"
    with pytest.raises(InputError) as exc:
        _fetch_tarball(data, dest)
    msg = _assert_one_line(exc)
    assert "unsafe member" in msg and evil in msg
    assert _leftovers(dest) == []
    assert not (tmp_path / "a" / "evil.bin").exists() and not (tmp_path / "evil.bin").exists()


def test_tarball_symlink_member_rejected(tmp_path: Path) -> None:
    data = _tarball([], symlink=PREFIX + "data_batch_1.bin")
    dest = tmp_path / "raw"
    with pytest.raises(InputError, match="not a regular file"):
        _fetch_tarball(data, dest)
    assert _leftovers(dest) == []


def test_tarball_wrong_member_md5_and_missing_members(tmp_path: Path) -> None:
    dest = tmp_path / "raw"
    with pytest.raises(InputError) as exc:
        _fetch_tarball(_tarball([(PREFIX + "data_batch_1.bin", b"junk")]), dest)
    msg = _assert_one_line(exc)
    assert get_source("cifar10").files["data_batch_1.bin"] in msg and _md5(b"junk") in msg
    with pytest.raises(InputError, match="missing"):
        _fetch_tarball(_tarball([(PREFIX + "readme.html", b"hi")]), dest)
    assert _leftovers(dest) == []


def test_tarball_wrong_archive_md5(tmp_path: Path) -> None:
    opener = _Opener({"http://fake/cifar-10-binary.tar.gz": b"not a tarball"})
    dest = tmp_path / "raw"
    with pytest.raises(InputError) as exc:
        fetch_raw("cifar10", dest, urls="http://fake", opener=opener)
    msg = _assert_one_line(exc)
    assert "cifar-10-binary.tar.gz" in msg and get_source("cifar10").archive.md5 in msg
    assert _leftovers(dest) == []


def test_unwritable_destination(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot create"):
        fetch_raw("mnist", blocker / "raw", mirror=tmp_path)
    assert os.listdir(tmp_path) == ["file"]


# -- a mirror of other files, with its own checksum list (datasets.checksums) ----------


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_synthetic_mirror_with_its_checksums(synthetic_mirror: Path, tmp_path: Path, name: str) -> None:
    from clusterability.data.prepare import load_raw

    sums = synthetic_mirror / "MD5SUMS"
    files = fetch_raw(name, tmp_path / name, mirror=synthetic_mirror, checksums=sums)
    assert {f.name for f in files} == set(get_source(name).files)
    raw = load_raw(name, tmp_path / name)
    assert raw["x_train"].shape[1:] in ((28, 28), (32, 32, 3)) and raw["y_test"].size == 500
    # Without the list the official md5s apply, and the synthetic files do not match them.
    with pytest.raises(InputError, match="does not match the official md5"):
        fetch_raw(name, tmp_path / f"{name}_official", mirror=synthetic_mirror)


def test_checksum_list_errors(synthetic_mirror: Path, tmp_path: Path) -> None:
    from clusterability.data.sources import read_checksums, with_checksums

    assert len(read_checksums(str(synthetic_mirror / "MD5SUMS"))) == 14
    partial = tmp_path / "partial"
    partial.write_text("\n".join(line for line in (synthetic_mirror / "MD5SUMS").read_text().splitlines()[:-1]))
    with pytest.raises(InputError, match=r"lists no md5 for mnist/train-labels-idx1-ubyte.gz"):
        with_checksums(get_source("mnist"), str(partial))
    garbled = tmp_path / "garbled"
    garbled.write_text("not a checksum line\n")
    with pytest.raises(InputError, match="line 1 is not '<md5>  <folder>/<file>'"):
        read_checksums(str(garbled))
    with pytest.raises(InputError, match="cannot read the checksum list"):
        read_checksums(str(tmp_path / "missing"))
    bad = tmp_path / "bad"
    lines = (synthetic_mirror / "MD5SUMS").read_text().splitlines()
    bad.write_text("\n".join(("0" * 32 + line[32:]) if "mnist/t10k-labels" in line else line for line in lines))
    with pytest.raises(InputError, match=f"does not match the md5 listed in {bad}"):
        fetch_raw("mnist", tmp_path / "out", mirror=synthetic_mirror, checksums=bad)
