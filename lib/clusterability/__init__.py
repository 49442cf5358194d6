"""Clusterability of neural networks.

Measures how modular a trained network is from its weights alone: the network
is turned into a weighted graph, split by normalized spectral clustering, and
the n-cut of that split is compared with the n-cuts of shuffled networks
(Filan, Hod et al. 2020; Filan, Casper, Hod et al. 2021).

The numerical core (``weights``, ``graph``, ``spectral``, ``partition``,
``shuffles``, ``statistics``) needs numpy, scipy and scikit-learn only; it never
imports TensorFlow.
"""

__version__ = "0.1.0"
