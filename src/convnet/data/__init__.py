"""Data: IDX files (MNIST, Fashion-MNIST), the embedded digits, image folders.

Every source ends as a `TensorData`: one uint8 tensor [N, C, H, W] and int64 labels,
held in memory and cut into batches as whole tensors (see `batches.py`)."""
