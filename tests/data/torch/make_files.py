"""Write the tiny ``.pt`` files of ``tests/data/torch`` with real ``torch.save``, and their arrays as JSON.

Run with a throwaway torch (never the project's venv, which has no torch)::

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchenv/bin/python tests/data/torch/make_files.py

``expected.json`` holds, for each ``NAME.pt``, every tensor of the state dict by its
name: dtype, shape and values (bfloat16 upcast exactly to float32; JSON's floats are exact).

``mlp.pt``        an MLP (Linear 4-8-6-3), float32
``cnn_bn.pt``     Conv2d-BatchNorm2d-Conv2d-BatchNorm2d-Linear, running statistics from a few training steps
``mlp_bf16.pt``   the MLP in bfloat16 (``BFloat16Storage``)
``mlp_big.pt``    the MLP as a big-endian machine writes it: ``mlp.pt`` with every storage byte-swapped and the
                  ``byteorder`` record ``big`` (torch has no option to write it; ``torch.load`` reads it back to
                  the same tensors, checked here)
``legacy.pt``     the MLP in the legacy (pre-1.6, non-zip) format, ``_use_new_zipfile_serialization=False``
``tied.pt``       tied weights: one storage, saved once, viewed as ``fc1.weight``, its transpose ``fc2.weight`` and the
                  slice ``fc3.weight`` (a strided, offset view)
``mlp_f8.pt``     the MLP in float8_e4m3fn (``_rebuild_tensor_v3`` of an ``UntypedStorage``: not read, refused)
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)
    )


def _cnn() -> torch.nn.Module:
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(4 * 2 * 2, 5),
    )  # fmt: skip
    model.train()
    with torch.no_grad():
        for _ in range(3):  # running means and variances other than 0 and 1
            model(torch.randn(8, 1, 6, 6) * 2 + 1)
    return model.eval()


def _tied() -> dict[str, torch.Tensor]:
    torch.manual_seed(2)
    weight = torch.randn(6, 4)
    return {"fc1.weight": weight, "fc2.weight": weight.t(), "fc3.weight": weight[2:5]}


EXPECTED: dict[str, dict[str, dict]] = {}


def _record(name: str, arrays: dict[str, np.ndarray]) -> None:
    EXPECTED[name] = {
        k: {"dtype": str(a.dtype), "shape": list(a.shape), "values": a.ravel().tolist()} for k, a in arrays.items()
    }


def _save(name: str, state: dict[str, torch.Tensor], **kwargs: object) -> None:
    torch.save(state, HERE / f"{name}.pt", **kwargs)
    _record(name, {k: v.detach().float().numpy() if v.is_floating_point() else v.numpy() for k, v in state.items()})


def _big_endian(source: str, name: str) -> None:
    """``source``.pt rewritten as a big-endian machine saves it: storages byte-swapped, byteorder ``big``."""
    state = torch.load(HERE / f"{source}.pt", weights_only=True)
    sizes = {}  # storage key -> element size, from the state dict (torch saves one storage per tensor here)
    with zipfile.ZipFile(HERE / f"{source}.pt") as archive:
        prefix = next(n for n in archive.namelist() if n.endswith("/data.pkl"))[: -len("data.pkl")]
        keys = sorted(
            (n for n in archive.namelist() if n.startswith(f"{prefix}data/")), key=lambda n: int(n.split("/")[-1])
        )
        for key, tensor in zip(keys, state.values()):
            sizes[key] = tensor.element_size()
        with zipfile.ZipFile(HERE / f"{name}.pt", "w", zipfile.ZIP_STORED) as out:
            for info in archive.infolist():
                data = archive.read(info)
                if info.filename == f"{prefix}byteorder":
                    data = b"big"
                elif info.filename in sizes:
                    data = (
                        np.frombuffer(data, f"<u{sizes[info.filename]}").astype(f">u{sizes[info.filename]}").tobytes()
                    )
                out.writestr(info.filename.replace(prefix, f"{name}/", 1), data)
    again = torch.load(HERE / f"{name}.pt", weights_only=True)
    assert all(torch.equal(again[k], v) for k, v in state.items()), "torch reads the big-endian file differently"
    _record(name, {k: v.numpy() for k, v in again.items()})


def main() -> None:
    mlp = _mlp().state_dict()
    _save("mlp", mlp)
    _save("cnn_bn", _cnn().state_dict())
    _save("mlp_bf16", {k: v.to(torch.bfloat16) for k, v in mlp.items()})
    _big_endian("mlp", "mlp_big")
    _save("legacy", mlp, _use_new_zipfile_serialization=False)
    _save("tied", _tied())
    _save("mlp_f8", {k: v.to(torch.float8_e4m3fn) for k, v in mlp.items()})
    (HERE / "expected.json").write_text(json.dumps(EXPECTED, indent=1))
    written = ", ".join(sorted(p.name for p in HERE.glob("*.pt")))
    print(f"torch {torch.__version__}: wrote {written} and expected.json")


if __name__ == "__main__":
    main()
