"""Real datasets (MNIST, Fashion-MNIST, CIFAR-10) and the synthetic ones: fetch with md5 checks, parse, prepare.

:mod:`.fetch` puts a dataset's official raw files in a folder (from a mirror or the official URLs);
:mod:`.formats` parses them; :mod:`.prepare` turns them into a uint8 28x28 grayscale ``.npz`` with
train/val/test splits and reads that back; :mod:`.synthetic`, :mod:`.halves` and :mod:`.mixtures` make
P2's datasets. :mod:`.sources` lists them all.

This ``__init__`` imports nothing, so a job that imports one submodule (``prepare`` in a training job)
depends on that one only (:mod:`clusterability.workflow.provenance`).
"""
