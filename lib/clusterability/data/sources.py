"""The registry of real datasets: official download URLs, file names and md5s.

Every file is identified by its official md5 (the values published with the
datasets and listed in the shared mirror's ``MD5SUMS``). A mirror folder holds
each dataset's files under the dataset's ``subfolder`` (``mnist/``,
``fashion-mnist/``, ``cifar-10-batches-bin/``).
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterability.errors import InputError


@dataclass(frozen=True)
class Archive:
    """A tarball that holds a dataset's files as ``member_prefix + file name``."""

    file_name: str
    md5: str
    member_prefix: str


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset's raw files come from and what they must hash to.

    ``files`` maps each raw file name to its official md5. ``base_urls`` are
    alternative base URLs tried in order: a file (or, when ``archive`` is set,
    the archive) is downloaded from ``base_url + "/" + file_name``.
    ``train_files``/``test_files`` name the files of each split (for IDX
    datasets: images then labels). :func:`with_checksums` replaces the md5s
    by those of a checksum list (a mirror of other files, e.g. test data).
    """

    name: str
    subfolder: str
    files: dict[str, str]
    base_urls: tuple[str, ...]
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    archive: Archive | None = None
    kind: str = "idx"  # "idx" (gzipped IDX images + labels) or "cifar10_bin"
    md5_origin: str = "the official md5"  # how error messages name the md5s of ``files``


_IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

SOURCES: dict[str, DatasetSource] = {
    "mnist": DatasetSource(
        name="mnist",
        subfolder="mnist",
        files={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        base_urls=(
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        train_files=_IDX_FILES[:2],
        test_files=_IDX_FILES[2:],
    ),
    "fashion_mnist": DatasetSource(
        name="fashion_mnist",
        subfolder="fashion-mnist",
        files={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        base_urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        train_files=_IDX_FILES[:2],
        test_files=_IDX_FILES[2:],
    ),
    "cifar10": DatasetSource(
        name="cifar10",
        subfolder="cifar-10-batches-bin",
        files={
            "data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25",
            "data_batch_2.bin": "5ea93a67294ea407fff1d09f752e9692",
            "data_batch_3.bin": "942cd6a4bcdd0dd3c604fbe906cb4421",
            "data_batch_4.bin": "ae636b3ba5c66a11e91e8cb52e771fcb",
            "data_batch_5.bin": "53f37980c15c3d472c316c40844f3f0d",
            "test_batch.bin": "803d5f7f4d78ea53de84dbe85f74fb6d",
        },
        base_urls=("https://www.cs.toronto.edu/~kriz/",),
        train_files=tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        test_files=("test_batch.bin",),
        archive=Archive(
            file_name="cifar-10-binary.tar.gz",
            md5="c32a1d4ab5d03f1284b67883e8d87530",
            member_prefix="cifar-10-batches-bin/",
        ),
        kind="cifar10_bin",
    ),
}

_ALIASES = {
    "fashion-mnist": "fashion_mnist",
    "fashionmnist": "fashion_mnist",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
}


def dataset_names() -> tuple[str, ...]:
    """The canonical names of all registered datasets."""
    return tuple(SOURCES)


def canonical_name(name: str) -> str:
    """The registry name for ``name`` (accepts ``fashion-mnist``, ``cifar-10``); InputError if unknown."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in SOURCES:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(SOURCES)}")
    return key


def get_source(name: str) -> DatasetSource:
    """The :class:`DatasetSource` registered for ``name``."""
    return SOURCES[canonical_name(name)]


def read_checksums(path: str) -> dict[str, str]:
    """``{"<subfolder>/<file>": md5}`` from an md5sum-format file (``<md5>  <path>`` per line)."""
    from pathlib import Path

    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the checksum list ({exc}); fix datasets.checksums") from None
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 32 or any(c not in "0123456789abcdefABCDEF" for c in parts[0]):
            raise InputError(
                f"{path}: line {number} is not '<md5>  <folder>/<file>' (md5sum's format); fix datasets.checksums"
            )
        sums[parts[1].lstrip("*").removeprefix("./")] = parts[0].lower()
    return sums


def with_checksums(source: DatasetSource, path: str) -> DatasetSource:
    """``source`` with the md5s of the checksum list at ``path`` (every file of it must be listed)."""
    from dataclasses import replace

    sums = read_checksums(path)
    files = {}
    for file_name in source.files:
        key = f"{source.subfolder}/{file_name}"
        if key not in sums:
            raise InputError(f"{path}: lists no md5 for {key}; add it or unset datasets.checksums")
        files[file_name] = sums[key]
    return replace(source, files=files, md5_origin=f"the md5 listed in {path}")
