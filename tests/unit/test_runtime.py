"""The training runtime's provenance: the CPU identity and the numerics fingerprint built on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterability.train import runtime

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu avx512f

processor\t: 1
vendor_id\t: SomeoneElse
"""


def _root(tmp_path: Path, l2: str = "1024K") -> Path:
    (tmp_path / "proc").mkdir(parents=True)
    (tmp_path / "proc/cpuinfo").write_text(CPUINFO)
    for i, (level, kind, size) in enumerate([("1", "Data", "32K"), ("1", "Instruction", "32K"), ("2", "Unified", l2)]):
        index = tmp_path / f"sys/devices/system/cpu/cpu0/cache/index{i}"
        index.mkdir(parents=True)
        for name, value in (("level", level), ("type", kind), ("size", size)):
            (index / name).write_text(f"{value}\n")
    return tmp_path


def test_cpu_identity_is_the_first_cpus_model_and_caches(tmp_path: Path) -> None:
    identity = runtime.cpu_identity(_root(tmp_path))
    assert identity == (
        "vendor_id=AuthenticAMD; cpu family=25; model=17; L1 Data=32K; L1 Instruction=32K; L2 Unified=1024K"
    )


def test_another_cache_is_another_identity(tmp_path: Path) -> None:
    assert runtime.cpu_identity(_root(tmp_path / "a")) != runtime.cpu_identity(_root(tmp_path / "b", l2="2048K"))


def test_without_proc_the_platform_names_the_cpu(tmp_path: Path) -> None:
    assert runtime.cpu_identity(tmp_path) != ""


@pytest.mark.tf
def test_the_fingerprint_holds_the_cpu_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tensorflow_model_optimization")
    runtime.import_tf(threads=1)
    here = runtime.numerics_fingerprint()
    assert runtime.numerics_fingerprint() == here, "the same machine, the same fingerprint"
    monkeypatch.setattr(runtime, "cpu_identity", lambda: "vendor_id=Other; L2 Unified=2048K")
    assert runtime.numerics_fingerprint() != here
