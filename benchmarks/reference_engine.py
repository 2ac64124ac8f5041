"""The NumPy reference engine against PyTorch fp32 on the same CPU, in one run.

    python benchmarks/reference_engine.py [--threads N] [--skip-training]

1. forward+backward time, same batch, same weights: LeNet-5 (batch 64, 28x28x1) and one 3x3
   conv layer of 64->64 channels on 32x32 inputs (batch 32); median of --repeats runs.
2. seconds of reference-engine training until LeNet-5 reaches 97% test accuracy on
   ../shared/datasets/mnist-10k (6k train / 2k test) and on the embedded digits (3k / 1k).
Both engines get the same number of threads (BLAS for NumPy, intra-op for PyTorch)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    return p.parse_args()


ARGS = parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)          # before NumPy loads its BLAS

import numpy as np  # noqa: E402
import torch  # noqa: E402

from convnet import reference as ref  # noqa: E402
from convnet.reference_bridge import from_torch  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    fn()                                            # warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def compare(name: str, module: torch.nn.Module, shape: tuple[int, ...]) -> dict:
    model = from_torch(module)                      # same weights
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_(True)

    def ref_step():
        out, caches = model.forward(x, train=True)
        model.backward(np.ones_like(out), caches)

    def torch_step():
        module.zero_grad(set_to_none=True)
        module(tx).sum().backward()

    out_ref, out_torch = model(x), module(tx).detach().numpy()
    err = float(np.abs(out_ref - out_torch).max() / max(1e-12, np.abs(out_torch).max()))
    r, t = median_ms(ref_step, ARGS.repeats), median_ms(torch_step, ARGS.repeats)
    print(f"{name:<34} batch {shape[0]:>3}: reference {r:8.2f} ms   pytorch fp32 {t:8.2f} ms   "
          f"ratio {r / t:5.2f}x   (outputs agree to {err:.1e})", flush=True)
    return {"name": name, "reference_ms": r, "torch_ms": t}


def seconds_to_97(data: str, data_dir: str | None, epochs: int, label_smoothing: float = 0.1) -> None:
    import tempfile

    from convnet.reference_bridge import train
    from convnet.training.config import TrainConfig

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(model="lenet5", data=data, data_dir=data_dir, epochs=epochs, batch_size=64, lr=0.1,
                          threads=ARGS.threads,
                          label_smoothing=label_smoothing, out=str(Path(tmp) / "run"), progress=False)
        result = train(cfg, log=lambda line: print("   ", line, flush=True))
    hit = next((r for r in result.history if r.get("test_accuracy", 0) >= 0.97), None)
    final = result.test["accuracy"]
    if hit:
        print(f"LeNet-5 on {data}: {hit['test_accuracy']:.2%} test accuracy after epoch {hit['epoch']}, "
              f"{hit['seconds']:.1f} s of reference-engine training (final {final:.2%} after {epochs} epochs)")
    else:
        print(f"LeNet-5 on {data}: did not reach 97% in {epochs} epochs (final {final:.2%})")


def main() -> int:
    from convnet.reference.threads import set_blas_threads

    set_blas_threads(ARGS.threads)
    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(0)
    print(f"{os.cpu_count()} CPUs, {ARGS.threads} thread(s) each; numpy {np.__version__}, torch {torch.__version__}")
    from convnet.models import create

    compare("LeNet-5 forward+backward", create("lenet5"), (64, 1, 28, 28))
    compare("conv 3x3 64->64, 32x32 fwd+bwd", torch.nn.Sequential(torch.nn.Conv2d(64, 64, 3, padding=1)),
            (32, 64, 32, 32))
    if not ARGS.skip_training:
        mnist = Path(ARGS.shared) / "mnist-10k"
        seconds_to_97("mnist", str(mnist), epochs=8)
        seconds_to_97("digits", None, epochs=20, label_smoothing=0.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
