"""Build the embedded digits (src/convnet/data/embedded) from ../shared/datasets/mnist-10k.

The first 3,000 training and 1,000 test images of that subset (already shuffled with a
fixed seed by its maker), stored in IDX format so the same loader reads them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from convnet.data.idx import load_idx_pair, write_idx  # noqa: E402

src = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist-10k"
dst = Path(__file__).resolve().parents[1] / "src" / "convnet" / "data" / "embedded"
dst.mkdir(parents=True, exist_ok=True)
for prefix, n in (("train", 3000), ("t10k", 1000)):
    images, labels = load_idx_pair(src, prefix)
    write_idx(dst / f"{prefix}-images-idx3-ubyte.gz", images[:n])
    write_idx(dst / f"{prefix}-labels-idx1-ubyte.gz", labels[:n])
    print(prefix, images[:n].shape, "class counts", list(map(int, __import__("numpy").bincount(labels[:n]))))
