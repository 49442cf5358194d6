"""The clusterability regularizer (P2 section 4.1, appendices A.9 and A.10).

The loss gets ``weight / (k - 1) * (lambda_2 + ... + lambda_k)``, ``weight`` times
the mean of eigenvalues 2 to k (P2: k = 4, weight 0.1; :func:`penalty_scale`) of
the normalized Laplacian ``L_sym = I - D^-1/2 A D^-1/2`` of the MLP's graph
(:mod:`clusterability.core.build`: every neuron a node, inputs and outputs included,
``|w|`` as edge weights). Low eigenvalues mean a graph that
splits into ``k`` loosely connected parts (the Cheeger inequalities).

Gradient
    For a symmetric matrix with distinct eigenvalues, ``d lambda_i = u_i^T dL u_i``
    (Magnus 1985; P2 A.9). So each step computes the eigenvectors ``u_2..u_k`` of
    the current weights outside the gradient (:func:`laplacian_eigenpairs`, NumPy,
    through the bipartite shortcut of :mod:`clusterability.core.bipartite`), and the
    penalty is written as ``sum_i u_i^T L_sym(W) u_i`` with the ``u_i`` held
    constant (:func:`eigenvalue_penalty`): its value is the eigenvalue sum and
    its gradient, by automatic differentiation of a few tensor products per
    layer, is the eigenvalues' gradient, degrees' dependence on ``W`` included.
    No loop over weights or neurons (the original's Python double loop made it
    usable only on a 3x64 network).

Normalization (Algorithm 2)
    A ReLU neuron's inputs can be scaled by ``c > 0`` and its outputs by ``1/c``
    without changing the function, and the regularizer would exploit that. After
    every step each hidden neuron's input weights and bias are scaled to norm
    ``sqrt(2)`` and its output weights inversely (:func:`normalize_input_norms`).
    With Adam, every step grows the input norms a little (its steps are of a
    fixed size per weight, and the loss's gradient is orthogonal to a normalized
    neuron's weights), and Algorithm 2 passes that growth on to the next layer:
    on P2's 3x64 MLP the output weights stay bounded, but on the 784-256x4-10
    MLP they grow about twelvefold every 300 steps and overflow float32 after
    6,000 to 8,500 steps (two seeds measured). ``normalization="projection"`` scales the input norms back
    without compensating in the next layer, which keeps every layer bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from clusterability.errors import InputError
from clusterability.train.config import NORMALIZATIONS

#: Norm of every hidden neuron's input weights and bias after a step (P2 A.10; He initialization's).
INPUT_NORM = float(np.sqrt(2.0))


def _layer_sizes(kernels: Sequence[np.ndarray]) -> list[int]:
    for i in range(1, len(kernels)):
        if kernels[i].shape[0] != kernels[i - 1].shape[1]:
            raise InputError(
                f"regularizer: kernel {i} takes {kernels[i].shape[0]} inputs, "
                f"but kernel {i - 1} has {kernels[i - 1].shape[1]} outputs"
            )
    return [kernels[0].shape[0]] + [k.shape[1] for k in kernels]


def laplacian_eigenpairs(kernels: Sequence[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest eigenvalues of ``L_sym`` of an MLP's graph and their unit eigenvectors.

    ``kernels`` are the dense kernels ``(in, out)`` in layer order. Returns the
    eigenvalues (ascending, shape ``(k,)``) and the eigenvectors as columns of
    an ``(n_neurons, k)`` array in node order (inputs first); isolated neurons
    (all weights zero) are not part of the graph and have zero rows.

    ``L_sym = I - M``, so these are ``1 - s`` for the top eigenpairs ``s`` of
    the normalized adjacency ``M``, from the bipartite shortcut of
    :func:`clusterability.core.bipartite.bipartite_eigenpairs` in float64 with a dense
    ``eigh``: exact and deterministic.
    """
    from clusterability.core.bipartite import bipartite_eigenpairs
    from clusterability.core.layered_graph import LayeredGraph

    _layer_sizes(kernels)
    graph = LayeredGraph(tuple(np.abs(np.asarray(w, dtype=np.float64)) for w in kernels))
    n_kept = int(sum(np.count_nonzero(d) for d in graph.layer_degrees()))
    if not 1 <= k <= n_kept // 2:
        raise InputError(f"regularizer: k={k} eigenvalues need a graph of at least {2 * k} connected neurons")
    pairs = bipartite_eigenpairs(graph, k, gram_dtype=np.float64)
    if pairs is None:
        raise InputError(f"regularizer: the graph has fewer than k={k} non-zero singular values; use a smaller k")
    sigma, parts, _ = pairs  # ascending: the smallest eigenvalues of L_sym last
    vectors = np.concatenate(parts)[:, ::-1] / np.sqrt(2.0)
    return 1.0 - sigma[::-1], vectors


def penalty_scale(weight: float, k: int) -> float:
    """The factor of ``lambda_2 + ... + lambda_k`` in the loss: ``weight`` over the ``k - 1`` eigenvalues.

    P2 4.1 regularizes "the 2nd, 3rd, and 4th eigenvalues ... with weight 0.1";
    the authors' code divides the weight by the number of eigenvalues
    (``weight / num_eigs``), which is ``weight`` times their mean.
    """
    if not k >= 2:
        raise InputError(f"regularizer: k must be an integer >= 2 (eigenvalues 2..k), got {k!r}")
    return float(weight) / (k - 1)


def eigenvalue_sum(kernels: Sequence[np.ndarray], k: int) -> float:
    """``lambda_2 + ... + lambda_k`` of ``L_sym`` of an MLP's graph (the regularizer's term)."""
    return float(np.sum(laplacian_eigenpairs(kernels, k)[0][1:]))


def eigenvalue_penalty(tf: Any, kernels: Sequence[Any], vectors: Any, sizes: Sequence[int]) -> Any:
    """``sum_i u_i^T L_sym(W) u_i`` as a TensorFlow scalar, differentiable in the ``kernels``.

    ``vectors`` holds the ``u_i`` as columns (node order, constant); with the
    eigenvectors of the current weights the value is the sum of their
    eigenvalues and the gradient that sum's gradient. ``u^T L_sym u = |u|^2 -
    2 sum_layers y_l^T |W_l| y_(l+1)`` with ``y = D^-1/2 u``: a few products per layer.
    """
    blocks = [tf.abs(w) for w in kernels]
    dtype = blocks[0].dtype
    vectors = tf.stop_gradient(tf.cast(vectors, dtype))
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    y = []
    for layer in range(len(sizes)):
        d = tf.zeros([sizes[layer]], dtype=dtype)
        if layer < len(blocks):
            d += tf.reduce_sum(blocks[layer], axis=1)
        if layer > 0:
            d += tf.reduce_sum(blocks[layer - 1], axis=0)
        connected = d > 0
        inv_sqrt = tf.where(connected, tf.math.rsqrt(tf.where(connected, d, tf.ones_like(d))), tf.zeros_like(d))
        y.append(vectors[offsets[layer] : offsets[layer + 1]] * inv_sqrt[:, None])
    cross = tf.add_n([tf.reduce_sum(y[l] * tf.matmul(b, y[l + 1])) for l, b in enumerate(blocks)])
    return tf.reduce_sum(tf.square(vectors)) - 2.0 * cross


def check_normalization(normalization: str) -> None:
    """Raise an :class:`InputError` naming the choices unless ``normalization`` is one of :data:`NORMALIZATIONS`."""
    if normalization not in NORMALIZATIONS:
        raise InputError(
            f"regularizer: normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}"
        )


def normalize_input_norms(
    kernels: Sequence[np.ndarray], biases: Sequence[np.ndarray], normalization: str = "algorithm2"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every hidden neuron's input weights and bias to norm ``sqrt(2)`` (P2's Algorithm 2).

    For hidden layer ``i`` (the outputs of ``kernels[i]``, all but the last
    kernel's), ``x`` = the norm of a neuron's column of ``kernels[i]`` and its
    bias; where ``x != 0`` those are multiplied by ``sqrt(2) / x``. With
    ``"algorithm2"`` the neuron's row of ``kernels[i + 1]`` is multiplied by
    ``x / sqrt(2)``, so that a ReLU network computes the same function; with
    ``"projection"`` it is left as it is (the weights are projected back onto
    the constraint, and training absorbs the small change of function). Returns
    new arrays of the input dtypes.

    Algorithm 2 moves every step's growth of the input norms into the next layer
    and so, layer by layer, into the output layer; on wide layers (the
    784-256x4-10 MLP) that growth compounds until the output weights overflow.
    """
    check_normalization(normalization)
    dtypes = [(np.asarray(k).dtype, np.asarray(b).dtype) for k, b in zip(kernels, biases)]
    kernels = [np.array(k, dtype=np.float64) for k in kernels]
    biases = [np.array(b, dtype=np.float64) for b in biases]
    for i in range(len(kernels) - 1):
        x = np.sqrt(np.sum(kernels[i] ** 2, axis=0) + biases[i] ** 2)
        scale = np.where(x != 0, INPUT_NORM / np.where(x != 0, x, 1.0), 1.0)
        kernels[i] *= scale[None, :]
        biases[i] *= scale
        if normalization == "algorithm2":
            kernels[i + 1] *= (x / INPUT_NORM)[:, None]
    return [k.astype(dk) for k, (dk, _) in zip(kernels, dtypes)], [b.astype(db) for b, (_, db) in zip(biases, dtypes)]


def _dense_variables(model: Any, keras: Any) -> list[tuple[Any, Any, Any]]:
    """(kernel, bias, pruning mask or None) of every Dense layer of ``model``, in layer order."""
    out = []
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)  # a tfmot pruning wrapper holds the layer
        if isinstance(inner, keras.layers.Dense):
            if inner.bias is None:
                raise InputError(f"regularizer: layer {inner.name!r} has no bias (Algorithm 2 needs one)")
            masks = {id(w): m for w, m, _ in getattr(layer, "pruning_vars", [])}
            out.append((inner.kernel, inner.bias, masks.get(id(inner.kernel))))
    return out


def attach_regularizer(
    tf: Any, keras: Any, model: Any, weight: float, k: int, normalization: str = "algorithm2"
) -> Any:
    """Add the regularizer to ``model``'s loss; return the Keras callback that drives it.

    Before every batch the callback computes ``u_2..u_k`` of the current
    (masked, when pruning) weights into a variable that the added loss
    ``penalty_scale(weight, k) * eigenvalue_penalty(...)`` reads; after every batch it applies
    :func:`normalize_input_norms` (``normalization``). Its ``eigenvalue_sums``
    lists ``lambda_2 + ... + lambda_k`` at the first batch of each epoch and
    after the last one, ``output_scales`` the output layer's largest ``|w|`` at
    the same times. Weights that are no longer finite stop training with an
    :class:`~clusterability.errors.InputError` that says so.
    """
    variables = _dense_variables(model, keras)
    sizes = [int(variables[0][0].shape[0])] + [int(kernel.shape[1]) for kernel, _, _ in variables]
    vectors = tf.Variable(tf.zeros([sum(sizes), k - 1], dtype=variables[0][0].dtype), trainable=False)

    def masked(kernel: Any, mask: Any) -> Any:
        return kernel if mask is None else kernel * mask

    scale = penalty_scale(weight, k)
    model.add_loss(lambda: scale * eigenvalue_penalty(tf, [masked(w, m) for w, _, m in variables], vectors, sizes))

    def current() -> list[np.ndarray]:
        return [w.numpy() if m is None else w.numpy() * m.numpy() for w, _, m in variables]

    check_normalization(normalization)  # before training, not after its first step

    class Regularizer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.eigenvalue_sums: list[float] = []
            self.output_scales: list[float] = []
            self._first = True
            self._steps = 0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._first = True

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            kernels = current()
            if not all(np.all(np.isfinite(w)) for w in kernels):
                raise InputError(
                    f"regularizer: the weights are no longer finite after {self._steps} steps (the output layer's "
                    f"largest |w| was {self.output_scales[-1] if self.output_scales else float('nan'):.3g} at the "
                    f"start of the epoch); with normalization "
                    f"{normalization} that is the growth of the input norms piling up in the output layer: "
                    "try normalization: projection, or a smaller weight"
                )
            values, eigenvectors = laplacian_eigenpairs(kernels, k)
            vectors.assign(eigenvectors[:, 1:].astype(vectors.dtype.as_numpy_dtype))
            if self._first:
                self.eigenvalue_sums.append(float(values[1:].sum()))
                self.output_scales.append(float(np.abs(kernels[-1]).max()))
                self._first = False

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self._steps += 1
            kernels, biases = normalize_input_norms(current(), [b.numpy() for _, b, _ in variables], normalization)
            for (w, b, _), kernel, bias in zip(variables, kernels, biases):
                w.assign(kernel)
                b.assign(bias)

        def on_train_end(self, logs: Any = None) -> None:
            kernels = current()
            self.eigenvalue_sums.append(eigenvalue_sum(kernels, k))
            self.output_scales.append(float(np.abs(kernels[-1]).max()))

    return Regularizer()
