"""Fetch a dataset's raw files from a local mirror or the official URLs, md5-verified.

Every file is written atomically (temporary file in the destination folder,
renamed only once its md5 matches the official one), so a failed or killed
fetch never leaves a half-written or unverified file behind. Files already in
the destination with the right md5 are kept and not fetched again.

CIFAR-10 comes as one tarball: it is downloaded to a temporary file, its md5
checked, and only the expected ``.bin`` members are extracted (streamed into
files named by the registry, never by the member name); a member with an
absolute or ``..`` path rejects the whole archive. No pickle is ever read.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any

from clusterability.atomic import atomic_path
from clusterability.data.sources import DatasetSource, get_source, with_checksums
from clusterability.errors import InputError

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
FIX = "re-download it or point datasets.mirror at a folder holding the official files"

Opener = Callable[[str], Any]
"""Opens a URL; returns a readable binary stream (``read(n)``; ``close()`` optional)."""


class _DownloadError(Exception):
    """One URL failed (network error or wrong md5); the next URL may still work."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def md5_file(path: str | os.PathLike[str]) -> str:
    """The hex md5 of the file at ``path`` (hashed in chunks)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_md5(path: str | os.PathLike[str], expected: str, origin: str = "the official md5") -> None:
    """Raise :class:`InputError` unless the file at ``path`` exists and has md5 ``expected``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; {FIX}")
    actual = md5_file(path)
    if actual != expected.lower():
        raise InputError(f"{path}: md5 {actual} does not match {origin} {expected}; {FIX}")


def _copy_hashing(src: IO[bytes], dst: IO[bytes]) -> str:
    """Copy ``src`` to ``dst`` in chunks; return the md5 of what was copied."""
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        dst.write(chunk)
    return digest.hexdigest()


def _default_opener(url: str) -> Any:
    return urllib.request.urlopen(url, timeout=_TIMEOUT_S)  # noqa: S310 (http/https URLs only)


def _join(base: str, file_name: str) -> str:
    return base.rstrip("/") + "/" + file_name


def _has_md5(path: Path, expected: str) -> bool:
    return path.is_file() and md5_file(path) == expected


def _download_to(url: str, target: Path, opener: Opener) -> str:
    """Stream ``url`` into ``target``; return its md5. Network failures become _DownloadError."""
    try:
        response = opener(url)
        try:
            with open(target, "wb") as out:
                return _copy_hashing(response, out)
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise _DownloadError(_one_line(f"{type(exc).__name__}: {exc}")) from None


def _download_verified(
    urls: Iterable[str], target: Path, expected: str, opener: Opener, what: str, origin: str = "the official md5"
) -> None:
    """Download ``target`` from the first of ``urls`` that yields md5 ``expected``.

    ``target`` is a temporary path; on failure an :class:`InputError` names every
    URL tried and why it failed.
    """
    failures = []
    for url in urls:
        try:
            actual = _download_to(url, target, opener)
        except _DownloadError as exc:
            failures.append(f"{url}: {exc}")
            continue
        if actual == expected:
            return
        failures.append(f"{url}: md5 {actual} does not match {origin} {expected}")
    raise InputError(
        f"could not download {what} ({'; '.join(failures) or 'no URL given'}); "
        "check the network or point datasets.mirror at a folder holding the official files"
    )


def _from_mirror(source: DatasetSource, mirror: Path, file_name: str, dest: Path) -> None:
    src = mirror / source.subfolder / file_name
    expected = source.files[file_name]
    if not src.is_file():
        raise InputError(
            f"{src}: missing from the dataset mirror; point datasets.mirror at a folder holding "
            f"the official {source.name} files under {source.subfolder}/ (or unset it to download)"
        )
    with atomic_path(dest) as tmp:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            actual = _copy_hashing(fin, fout)
        if actual != expected:
            raise InputError(f"{src}: md5 {actual} does not match {source.md5_origin} {expected}; {FIX}")


def _is_unsafe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return name.startswith(("/", "\\")) or path.is_absolute() or ".." in path.parts or "\\" in name


def _extract_members(archive_path: Path, source: DatasetSource, wanted: dict[str, Path], what: str) -> None:
    """Extract the ``wanted`` files (name -> destination) from the CIFAR tarball, all or nothing."""
    assert source.archive is not None
    prefix = source.archive.member_prefix
    done: set[str] = set()
    try:
        with contextlib.ExitStack() as stack, tarfile.open(archive_path, mode="r|gz") as tar:
            for member in tar:
                name = member.name
                if _is_unsafe_member(name):
                    raise InputError(
                        f"{what}: unsafe member path {name!r} (absolute or '..'); "
                        "refusing the archive; download the official archive again"
                    )
                name = name[2:] if name.startswith("./") else name
                if not name.startswith(prefix) or name[len(prefix) :] not in wanted:
                    continue  # other members (readme, meta) are never extracted
                file_name = name[len(prefix) :]
                if file_name in done:
                    raise InputError(f"{what}: member {name!r} occurs twice; download the official archive again")
                if not member.isfile():
                    raise InputError(
                        f"{what}: member {name!r} is not a regular file; download the official archive again"
                    )
                fin = tar.extractfile(member)
                assert fin is not None
                tmp = stack.enter_context(atomic_path(wanted[file_name]))
                with fin, open(tmp, "wb") as fout:
                    actual = _copy_hashing(fin, fout)
                expected = source.files[file_name]
                if actual != expected:
                    raise InputError(
                        f"{what}: member {name!r} has md5 {actual}, not {source.md5_origin} {expected}; {FIX}"
                    )
                done.add(file_name)
            missing = sorted(set(wanted) - done)
            if missing:
                raise InputError(
                    f"{what}: members {', '.join(prefix + m for m in missing)} are missing; "
                    "download the official archive again"
                )
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputError(f"{what}: not a readable tar.gz archive ({_one_line(exc)}); {FIX}") from None


def fetch_raw(
    name: str,
    dest_dir: str | os.PathLike[str],
    mirror: str | os.PathLike[str] | None = None,
    urls: Sequence[str] | str | None = None,
    opener: Opener | None = None,
    *,
    archive_md5: str | None = None,
    checksums: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Put dataset ``name``'s official raw files in ``dest_dir``; return their paths.

    With ``mirror`` (a folder holding ``<subfolder>/<file>``) files are copied from
    it; otherwise they are downloaded from ``urls`` (base URLs tried in order;
    default: the registry's official ones) through ``opener`` (default
    ``urllib.request.urlopen`` with a timeout). ``archive_md5`` overrides the
    expected md5 of the CIFAR-10 tarball (for tests); ``checksums`` (an
    md5sum-format list, see :func:`~clusterability.data.sources.with_checksums`)
    replaces the files' official md5s. Every file's md5 is verified; files
    already present with the right md5 are skipped.
    """
    source = get_source(name)
    if checksums is not None:
        source = with_checksums(source, str(checksums))
    dest = Path(dest_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{dest}: cannot create the dataset folder ({_one_line(exc)}); choose a writable folder"
        ) from None
    targets = {f: dest / f for f in source.files}
    todo = [f for f, path in targets.items() if not _has_md5(path, source.files[f])]
    if not todo:
        return list(targets.values())

    if mirror is not None:
        for file_name in todo:
            _from_mirror(source, Path(mirror), file_name, targets[file_name])
        return list(targets.values())

    bases = (urls,) if isinstance(urls, str) else tuple(urls) if urls is not None else source.base_urls
    open_url = opener if opener is not None else _default_opener
    if source.archive is None:
        for file_name in todo:
            with atomic_path(targets[file_name]) as tmp:
                _download_verified(
                    [_join(b, file_name) for b in bases],
                    tmp,
                    source.files[file_name],
                    open_url,
                    what=f"{source.name} file {file_name}",
                    origin=source.md5_origin,
                )
        return list(targets.values())

    archive = source.archive
    expected = (archive_md5 or archive.md5).lower()
    with tempfile.TemporaryDirectory(prefix=".download-", dir=dest) as tmp_dir:
        tmp_archive = Path(tmp_dir) / archive.file_name
        _download_verified(
            [_join(b, archive.file_name) for b in bases],
            tmp_archive,
            expected,
            open_url,
            what=f"{source.name} archive {archive.file_name}",
        )
        _extract_members(
            tmp_archive,
            source,
            {f: targets[f] for f in todo},
            what=f"{source.name} archive {archive.file_name}",
        )
    return list(targets.values())
