"""Networks in and out: the `.npz` format, the Keras, PyTorch, ONNX and torchvision readers, the wiring builder.

No reader runs code from the file it reads (README, "What reading a file executes").
"""
