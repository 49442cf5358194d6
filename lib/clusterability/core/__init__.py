"""The papers' mathematics on numpy arrays: graphs of networks, spectral clustering, n-cut, shuffles, statistics.

numpy, scipy and numba only; nothing here reads files or imports TensorFlow.
"""
