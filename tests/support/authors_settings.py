"""The authors' training settings that several tests of the papers' settings pin (``tests/unit/test_*settings.py``)."""

from __future__ import annotations

from typing import Any

#: The authors' pruning (CL ``pruning_config``, nn_modularity ``prepare_all.sh``): 50 % -> 90 % sparsity,
#: cubic (power 3), the mask updated every 10 steps.
AUTHORS_PRUNING = (0.5, 0.9, 3.0, 10)


def pruning_schedule(train: Any) -> tuple[float, float, float, int]:
    """A family's training settings' pruning schedule, as :data:`AUTHORS_PRUNING` lists it."""
    return (train.initial_sparsity, train.final_sparsity, train.pruning_power, train.pruning_frequency)
