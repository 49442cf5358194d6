"""Magnitude pruning (Zhu & Gupta 2017) with tfmot, and an exact, cheaper mask update.

tfmot's ``prune_low_magnitude`` keeps, every ``frequency`` steps, the weights
whose magnitude is at least the k-th largest, ``k = max(round(n * (1 -
sparsity)), 1)``. To find that threshold tfmot 0.8.1 sorts all ``n`` magnitudes
of every kernel (``tf.math.top_k`` with ``k = n``), which made a pruning epoch
of the papers' MLP cost twice a training epoch on a CPU.

:func:`kth_largest_magnitude` finds the same threshold without sorting: the
bit patterns of non-negative float32 numbers are ordered like the numbers, so
a binary search over the 31-bit patterns, counting the magnitudes at or above
the midpoint, ends at exactly the k-th largest magnitude (31 counting passes).
:func:`install_exact_mask_update` makes tfmot use it. The mask is then
``|w| >= threshold``, as in tfmot (tfmot also sets the element that
``top_k`` ranked k-th, which is always at or above the threshold), so the
masks, thresholds and weights are tfmot's bit for bit; tests compare the two
on tied, sparse and random kernels and over whole pruning runs.

tfmot's pruning wrapper is a subclassed Keras layer, so Keras runs its
``call`` through AutoGraph, which rewrites the source of every tfmot function
it reaches (about half a second of every training job). That code has no
control flow on tensors (its conditionals are ``tf.cond``), so
:func:`trace_wrappers_without_autograph` makes Keras trace it as it is, as it
does its own layers: the same graph, traced faster.

TensorFlow is never imported here: the functions take the modules that
:func:`clusterability.train.runtime.import_tf` returns.
"""

from __future__ import annotations

import warnings
from typing import Any

_FLOAT32_INF_BITS = 0x7F800000
#: The tfmot release whose private ``Pruning._update_mask`` :func:`install_exact_mask_update` replaces.
PATCHED_TFMOT_VERSION = "0.8.1"


def kth_largest_magnitude(tf: Any, weights: Any, k: Any) -> Any:
    """The k-th largest of ``|weights|`` (float32), as a scalar tensor; ``1 <= k <= size``."""
    bits = tf.bitcast(tf.reshape(tf.math.abs(tf.cast(weights, tf.float32)), [-1]), tf.int32)
    k = tf.cast(k, tf.int32)

    def keep_going(lo: Any, hi: Any) -> Any:
        return lo < hi

    def halve(lo: Any, hi: Any) -> tuple[Any, Any]:
        # Invariant: at least k magnitudes have bits >= lo; fewer than k have bits > hi.
        mid = lo + (hi - lo + 1) // 2
        enough = tf.reduce_sum(tf.cast(bits >= mid, tf.int32)) >= k
        return tf.where(enough, mid, lo), tf.where(enough, hi, mid - 1)

    lo, _ = tf.while_loop(
        keep_going,
        halve,
        [tf.constant(0, tf.int32), tf.constant(_FLOAT32_INF_BITS, tf.int32)],
        parallel_iterations=1,
    )
    return tf.bitcast(lo, tf.float32)


def install_exact_mask_update(tf: Any, tfmot: Any) -> bool:
    """Make tfmot's element-wise mask update use :func:`kth_largest_magnitude` (same masks).

    Replaces ``Pruning._update_mask`` of tfmot 0.8.1 (pinned in pyproject.toml);
    block and m-by-n sparsity keep tfmot's code. Idempotent. Under any other
    tfmot release the private method may differ, so nothing is replaced (tfmot's
    own update gives the same masks, only slower) and a warning says so;
    returns whether the exact update is in place.
    """
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_impl

    version = getattr(tfmot, "__version__", None)
    if version != PATCHED_TFMOT_VERSION:
        warnings.warn(
            f"tensorflow-model-optimization {version} is installed, not {PATCHED_TFMOT_VERSION}: pruning uses tfmot's "
            "own mask update (the same masks, a sort per kernel: slower); pin the version in pyproject.toml",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    if getattr(pruning_impl.Pruning._update_mask, "_clusterability_exact", False):
        return True

    def _update_mask(self: Any, weights: Any) -> tuple[Any, Any]:
        sparsity = self._pruning_schedule(self._step_fn())[1]
        with tf.name_scope("pruning_ops"):
            abs_weights = tf.math.abs(weights)
            # k exactly as tfmot computes it (float32 arithmetic).
            k = tf.dtypes.cast(
                tf.math.maximum(
                    tf.math.round(tf.dtypes.cast(tf.size(abs_weights), tf.float32) * (1 - sparsity)),
                    1,
                ),
                tf.int32,
            )
            threshold = tf.dtypes.cast(kth_largest_magnitude(tf, abs_weights, k), abs_weights.dtype)
            new_mask = tf.math.greater_equal(abs_weights, threshold)
        return tf.dtypes.cast(threshold, weights.dtype), tf.dtypes.cast(new_mask, weights.dtype)

    _update_mask._clusterability_exact = True  # type: ignore[attr-defined]
    _update_mask.__doc__ = pruning_impl.Pruning._update_mask.__doc__
    pruning_impl.Pruning._tfmot_update_mask = pruning_impl.Pruning._update_mask
    pruning_impl.Pruning._update_mask = _update_mask
    return True


def trace_wrappers_without_autograph(tf: Any, tfmot: Any) -> bool:
    """Make Keras trace tfmot's pruning wrapper (``PruneLowMagnitude``) without AutoGraph, as its own layers.

    Keras converts the ``call`` of a subclassed layer with AutoGraph
    (``Layer._should_use_autograph``), and AutoGraph then converts every
    function that call reaches, the branches of its ``tf.cond`` included.
    tfmot 0.8.1's wrapper and mask updates need no conversion (their
    conditionals are ``tf.cond``; Python ``if``/``for`` only on Python values),
    so the traced ops are the same. Under another tfmot release nothing
    changes (returns ``False``); idempotent.
    """
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    wrapper = pruning_wrapper.PruneLowMagnitude
    if getattr(tfmot, "__version__", None) != PATCHED_TFMOT_VERSION or not hasattr(wrapper, "_should_use_autograph"):
        return False
    if hasattr(wrapper.call, "_clusterability_tfmot_call"):
        return True
    tfmot_call = wrapper.call
    unconverted = tf.autograph.experimental.do_not_convert(tfmot_call)

    # The signature of tfmot's call, so that Keras passes ``training`` as before.
    def call(self: Any, inputs: Any, training: Any = None, **kwargs: Any) -> Any:
        return unconverted(self, inputs, training=training, **kwargs)

    def _should_use_autograph(self: Any) -> bool:
        return False

    call._clusterability_tfmot_call = tfmot_call  # type: ignore[attr-defined]
    call.__doc__ = tfmot_call.__doc__
    wrapper.call = call
    wrapper._should_use_autograph = _should_use_autograph
    return True
