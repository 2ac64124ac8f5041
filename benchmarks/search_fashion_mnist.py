"""Photo search on Fashion-MNIST: retrieval with a trained run's embeddings against raw pixels.

    .venv/bin/convnet train --data fashion-mnist --data-dir ../shared/datasets/fashion-mnist \\
        --epochs 4 --out /tmp/fm
    .venv/bin/python benchmarks/search_fashion_mnist.py /tmp/fm [--data-dir ../shared/datasets/fashion-mnist] [--mirror]

Gallery: the run's own training split (50,000: training's 10,000-image validation split held
out); queries: the test split (10,000). Reports precision@1, precision@10, mAP@10 for the
embeddings and for raw-pixel Euclidean neighbours on the same gallery and queries, the
seconds to embed the gallery (index build), and the seconds to embed all queries and search
them exactly (the target: < 10 s), and the exact search of 10,000 vectors alone. Prints one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from convnet.search import Embedder, Index, embed  # noqa: E402
from convnet.search.evaluate import evaluate  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "datasets" / "fashion-mnist"))
    p.add_argument("--mirror", action="store_true", help="features averaged with the mirror image's")
    args = p.parse_args()
    embedder = Embedder(args.run_dir, mirror=args.mirror)
    start = time.perf_counter()
    gallery = embed(args.run_dir, None, None, None, "train", embedder=embedder)
    build = time.perf_counter() - start
    index = Index.build(gallery)
    result = evaluate(index, embedder, "fashion-mnist", args.data_dir, "test")
    start = time.perf_counter()                 # the exact search alone: 10,000 gallery rows as queries
    index.search(gallery.vectors[:10000], 10)
    result["search_only_seconds"] = round(time.perf_counter() - start, 3)
    result.update(index_build_seconds=round(build, 3), threads=torch.get_num_threads(),
                  load_average=round(os.getloadavg()[0], 2), dim=index.info["dim"], mirror=args.mirror)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
