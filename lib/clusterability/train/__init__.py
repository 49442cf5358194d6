"""Training and pruning with TensorFlow: the only subpackage that imports it (through :mod:`.runtime`)."""
