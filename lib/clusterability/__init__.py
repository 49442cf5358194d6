"""Clusterability of neural networks.

Measures how modular a trained network is from its weights alone: the network
is turned into a weighted graph, split by normalized spectral clustering, and
the n-cut of that split is compared with the n-cuts of shuffled networks
(Filan, Hod et al. 2020; Filan, Casper, Hod et al. 2021).

The numerical core (``weights``, ``graph``, ``spectral``, ``kmeans``, ``ncut``,
``shuffles``, ``seeds``, ``statistics``, ``measure``) and the ``clusterability``
command (``cli``) need only the core dependencies: numpy, scipy, scikit-learn,
numba (the k-means), pyamg (the ``sklearn-amg`` solver) and threadpoolctl
(thread limits). Neither imports TensorFlow: a saved Keras model is read as
data with h5py (``keras_files``); only training (``training``, ``keras_io``) does.
"""

__version__ = "0.1.0"
