"""The one place where TensorFlow, Keras and tfmot are imported and configured.

TensorFlow Model Optimization (tfmot) does not support Keras 3, so the legacy
Keras 2 (the ``tf_keras`` package) is used everywhere: ``TF_USE_LEGACY_KERAS``
is set before TensorFlow is imported and ``tf_keras`` is returned as *the*
Keras. Other modules reach TensorFlow through :func:`import_tf`, called inside
their functions, never at import time (after it they may import tfmot's
internal modules, e.g. to recognise its pruning wrappers), so
``import clusterability`` and the numerical core never load TensorFlow.

:func:`import_tf` also configures the process for reproducible training:

* thread pools (intra-op and inter-op) of a given size, also exported as
  ``OMP_NUM_THREADS``/``TF_NUM_*_THREADS`` before the import;
* ``keras.utils.set_random_seed`` (Python, NumPy and TensorFlow global seeds)
  and ``tf.config.experimental.enable_op_determinism`` so that the same seed,
  data and thread count give the same weights;
* every visible GPU with memory growth on; the CPU otherwise;
* tfmot imported without loading Keras 3 (:func:`_keras3_blocked`: 3-4 s of
  every training job's start-up, for nothing);
* tfmot's pruning mask update replaced by an exact one that does not sort
  (:func:`clusterability.train.pruning.install_exact_mask_update`: the same masks,
  at a fraction of the cost), and its pruning wrapper traced without AutoGraph
  (:func:`clusterability.train.pruning.trace_wrappers_without_autograph`: the same graph);
* the garbage collector paused during the first import and its objects frozen
  after it (:func:`_collector_paused`: about a second less per training job).

Thread pools and GPU memory growth can only be set before TensorFlow's runtime
starts; asking for a different thread count later only warns (with op
determinism the results do not depend on the pool sizes, only the speed does).
"""

from __future__ import annotations

import contextlib
import gc
import importlib.abc
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

from clusterability.threads import set_thread_env


def _prepare_environment(threads: int | None) -> None:
    """Environment variables that only take effect before ``import tensorflow``."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if threads is not None and "tensorflow" not in sys.modules:
        set_thread_env(threads)


class _Keras3Blocker(importlib.abc.MetaPathFinder):
    """A finder that makes ``import keras`` (Keras 3) fail with ImportError."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "keras" or name.startswith("keras."):
            raise ImportError(f"{name}: Keras 3 is not loaded with tfmot (clusterability.train.runtime)")
        return None


@contextlib.contextmanager
def _keras3_blocked() -> Iterator[None]:
    """Import tfmot without loading Keras 3.

    tfmot 0.8's ``prune_registry`` tries ``from keras.src.engine import
    base_layer``. That module does not exist in Keras 3, so the import fails
    and tfmot goes on without it, but only after loading all of Keras 3
    (which TensorFlow >= 2.16 installs as a dependency; we use tf_keras). The
    blocker makes the same import fail at once, so tfmot ends in the same
    state. A Keras already imported by the user is left alone.
    """
    if "keras" in sys.modules:
        yield
        return
    blocker = _Keras3Blocker()
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)


def _configure_threads(tf: Any, threads: int) -> None:
    threading = tf.config.threading
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime has started; the pools are fixed now
        current = (
            threading.get_intra_op_parallelism_threads(),
            threading.get_inter_op_parallelism_threads(),
        )
        # Results do not depend on the pool sizes (op determinism), only speed does.
        warnings.warn(
            f"TensorFlow already runs with intra/inter-op threads {current}; "
            f"cannot switch to {threads} in the same process",
            RuntimeWarning,
            stacklevel=3,
        )


def _configure_gpus(tf: Any) -> None:
    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # already initialized: keep what is set
            tf.config.experimental.set_memory_growth(gpu, True)


_frozen = False


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The first import of TensorFlow with the garbage collector off, and its objects frozen after it.

    TensorFlow, Keras and tfmot leave some 400,000 objects that live as long
    as the process; full collections walked them during the import (half a
    second) and at every one after it, the last at exit included (a second).
    ``gc.freeze`` keeps them out of every later collection (they are still
    freed by reference counting). Once per process; later calls change nothing.
    """
    global _frozen
    if _frozen:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        _frozen = True
        if enabled:
            gc.enable()


def import_tf(threads: int | None = None, seed: int | None = None) -> tuple[Any, Any, Any]:
    """Import and configure TensorFlow; return ``(tf, keras, tfmot)``.

    ``keras`` is the ``tf_keras`` (Keras 2) module, the Keras that tfmot wraps.
    ``threads`` sizes both TensorFlow thread pools (``None``: TensorFlow's
    default). ``seed`` seeds Python, NumPy and TensorFlow (``None``: leave the
    seeds alone). Op determinism is always enabled.
    """
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be a positive integer, got {threads}")
    _prepare_environment(threads)

    with _collector_paused():
        import tensorflow as tf
        import tf_keras as keras

        with _keras3_blocked():
            import tensorflow_model_optimization as tfmot

        from clusterability.train.pruning import install_exact_mask_update, trace_wrappers_without_autograph

        install_exact_mask_update(tf, tfmot)
        trace_wrappers_without_autograph(tf, tfmot)
    if threads is not None:
        _configure_threads(tf, int(threads))
    _configure_gpus(tf)
    tf.config.experimental.enable_op_determinism()
    if seed is not None:
        if int(seed) < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        # NumPy's legacy global seed must be < 2**32; TensorFlow's is an int64
        # and gets the full seed (derived seeds use 63 bits).
        keras.utils.set_random_seed(int(seed) % 2**32)
        tf.random.set_seed(int(seed))
    return tf, keras, tfmot


def device_summary() -> str:
    """One line naming the devices TensorFlow computes on and its thread pools."""
    tf, _, _ = import_tf()
    gpus = tf.config.list_physical_devices("GPU")
    threading = tf.config.threading
    pools = (
        f"intra-op threads {threading.get_intra_op_parallelism_threads() or 'default'}, "
        f"inter-op threads {threading.get_inter_op_parallelism_threads() or 'default'}"
    )
    if gpus:
        names = []
        for gpu in gpus:
            try:
                details = tf.config.experimental.get_device_details(gpu)
            except (RuntimeError, ValueError):
                details = {}
            names.append(details.get("device_name", gpu.name))
        return f"GPU: {', '.join(names)} ({pools})"
    return f"CPU: {os.cpu_count()} logical cores visible ({pools})"


def library_versions() -> dict[str, str]:
    """Versions of the libraries that train the networks (for the metrics file)."""
    import numpy as np

    tf, keras, tfmot = import_tf()
    try:
        from importlib.metadata import version

        tfmot_version = version("tensorflow-model-optimization")
    except Exception:  # noqa: BLE001 - metadata may be missing in odd installs
        tfmot_version = getattr(tfmot, "__version__", "unknown")
    return {
        "tensorflow": tf.__version__,
        "tf_keras": keras.__version__,
        "tfmot": tfmot_version,
        "numpy": np.__version__,
    }


def numerics_fingerprint() -> str:
    """A short hash of TensorFlow's float32 matmul results on fixed inputs and of the CPU's identity.

    TensorFlow's CPU kernels (oneDNN) choose their code at run time from the
    CPU's instruction set, and their blocking from its cache sizes, so the same
    seed and data give slightly different weights on different CPUs. The
    matmuls have the widths of the MNIST and CIFAR-10 inputs; the identity is
    the vendor, family, model and cache sizes the operating system reports
    (:func:`cpu_identity`). Two machines with the same fingerprint compute the
    same matmuls bit for bit, and so train the same networks; two that compute
    the same may still differ in fingerprint (another CPU model).
    """
    import hashlib

    import numpy as np

    tf, _, _ = import_tf()
    rng = np.random.default_rng(0)
    products = []
    for batch, width in ((128, 784), (32, 3072)):
        x = rng.standard_normal((batch, width)).astype(np.float32)
        w = rng.standard_normal((width, 256)).astype(np.float32)
        g = rng.standard_normal((batch, 256)).astype(np.float32)
        products += [tf.matmul(x, w), tf.matmul(x, g, transpose_a=True), tf.matmul(g, w, transpose_b=True)]
    digest = hashlib.sha256(b"".join(np.asarray(p).tobytes() for p in products))
    digest.update(cpu_identity().encode())
    return digest.hexdigest()[:16]


def cpu_identity(root: str | os.PathLike = "/") -> str:
    """The CPU's vendor, family, model and cache sizes, as Linux reports them under ``root``.

    The instruction set alone does not settle the results: two 2-core AVX-512
    AMD EPYC virtual machines agreed on 784-wide matmuls and trained different
    CIFAR-10 MLPs (docs/reproducibility.md; oneDNN sizes its blocks from the
    caches too, the likely cause). Elsewhere (no ``/proc/cpuinfo``) the
    platform's processor string.
    """
    import platform
    from pathlib import Path

    base = Path(root)
    fields: list[str] = []
    try:
        first = (base / "proc/cpuinfo").read_text(errors="replace").split("\n\n", 1)[0]
    except OSError:
        return platform.processor() or platform.machine()
    wanted = ("vendor_id", "cpu family", "model", "CPU implementer", "CPU part")
    for line in first.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in wanted:
            fields.append(f"{key.strip()}={value.strip()}")
    caches = base / "sys/devices/system/cpu/cpu0/cache"
    for index in sorted(caches.glob("index*")):
        try:
            level, kind, size = ((index / name).read_text().strip() for name in ("level", "type", "size"))
        except OSError:
            continue
        fields.append(f"L{level} {kind}={size}")
    return "; ".join(fields)
