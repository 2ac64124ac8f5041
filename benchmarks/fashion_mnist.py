"""Fashion-MNIST: the default recipe against the plain PyTorch loop, in one run.

    .venv/bin/python benchmarks/fashion_mnist.py [--data-dir ../shared/datasets/fashion-mnist]

Reports, from the same process on the same machine:
- the machine's measured fp32 and bf16 matmul peaks (2048x2048);
- the default `convnet train` recipe: seconds of training to reach 92.0% test accuracy,
  final accuracy, training images/s, and model FLOP/s as a fraction of each peak;
- the same network trained the plain way (fp32, NCHW, a DataLoader over per-sample tensors
  with per-image augmentation, default settings) for the same epochs: seconds, images/s,
  accuracy, and the speed ratio.
Evaluation time is excluded from "training seconds" in both.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from convnet.data.sources import load_dataset  # noqa: E402
from convnet.models import create, get_spec  # noqa: E402
from convnet.models.summary import summarize_spec  # noqa: E402
from convnet.training.config import TrainConfig  # noqa: E402
from convnet.training.loop import train  # noqa: E402
from convnet.training.optim import make_optimizer, make_schedule  # noqa: E402

TARGET = 0.92


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - start)


class PerSampleDataset(torch.utils.data.Dataset):
    """The textbook way: one float tensor per image, augmented one image at a time."""

    def __init__(self, images, labels, mean, std, augment):
        self.images = [(img.float() / 255 - mean) / std for img in images]   # N tensors [1, 28, 28]
        self.labels = labels.tolist()
        self.augment, self.pad_value = augment, -mean / std

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.images[i]
        if self.augment:
            if random.random() < 0.5:
                x = x.flip(-1)
            x = F.pad(x, (2, 2, 2, 2), value=self.pad_value)
            dy, dx = random.randint(0, 4), random.randint(0, 4)
            x = x[:, dy:dy + 28, dx:dx + 28]
        return x, self.labels[i]


def plain_run(cfg: TrainConfig, ds) -> dict:
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    model = create(cfg.model, len(ds.classes), 1)
    mean = ds.train.images.float().mean().item() / 255
    std = ds.train.images.float().std().item() / 255
    train_set = PerSampleDataset(ds.train.images, ds.train.labels, mean, std, augment=True)
    test_set = PerSampleDataset(ds.test.images, ds.test.labels, mean, std, augment=False)
    loader = torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, drop_last=True)
    opt = make_optimizer(model, cfg)
    sched = make_schedule(opt, cfg, cfg.epochs * len(loader))
    seconds, history = 0.0, []
    for epoch in range(cfg.epochs):
        model.train()
        start = time.perf_counter()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        seconds += time.perf_counter() - start
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in torch.utils.data.DataLoader(test_set, batch_size=500):
                correct += (model(x).argmax(1) == y).sum().item()
        history.append({"epoch": epoch + 1, "seconds": seconds, "test_accuracy": correct / len(test_set)})
        print(f"  plain epoch {epoch + 1}: {seconds:.1f} s, test {correct / len(test_set):.2%}", flush=True)
    n = len(loader) * cfg.batch_size * cfg.epochs
    return {"seconds": seconds, "images_per_second": n / seconds, "accuracy": history[-1]["test_accuracy"],
            "history": history}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "datasets" / "fashion-mnist"))
    p.add_argument("--epochs", type=int, help="override the default epochs")
    p.add_argument("--skip-plain", action="store_true")
    p.add_argument("--json", help="write the results here as JSON")
    args = p.parse_args()

    fp32 = matmul_peak(torch.float32)
    bf16 = matmul_peak(torch.bfloat16)
    print(f"machine: {torch.get_num_threads()} threads; matmul peak fp32 {fp32 / 1e12:.3f} TFLOP/s, "
          f"bf16 {bf16 / 1e12:.3f} TFLOP/s", flush=True)

    overrides = {"epochs": args.epochs} if args.epochs else {}
    import tempfile

    out = Path(tempfile.mkdtemp()) / "run"
    cfg = TrainConfig(data="fashion-mnist", data_dir=args.data_dir, out=str(out), progress=False, **overrides)
    print(f"fast: convnet train --data fashion-mnist --data-dir {args.data_dir} (defaults: model {cfg.model}, "
          f"{cfg.epochs} epochs, batch {cfg.batch_size}, lr {cfg.resolved_lr()}, {cfg.schedule})", flush=True)
    result = train(cfg, log=lambda line: print("  " + line, flush=True))
    reached = next((h["seconds"] for h in result.history if h["test_accuracy"] >= TARGET), None)
    ds = load_dataset("fashion-mnist", args.data_dir)
    fast_ips = (len(ds.train) // cfg.batch_size) * cfg.batch_size * cfg.epochs / result.seconds
    macs = summarize_spec(get_spec(cfg.model), (1, 28, 28), 10).macs   # conv + linear, one image
    flops = 3 * 2 * macs * fast_ips          # forward + backward (2x forward) per image
    fast = {"seconds_to_92": reached, "seconds": result.seconds, "accuracy": result.test["accuracy"],
            "images_per_second": fast_ips, "macs_per_image": macs, "model_flops_per_second": flops,
            "fraction_of_fp32_peak": flops / fp32, "fraction_of_bf16_peak": flops / bf16,
            "hardware": json.loads((out / "config.json").read_text())["hardware"]}
    print(f"fast: {'%.1f s to 92%%' % reached if reached else 'did not reach 92%'}; final {fast['accuracy']:.2%} "
          f"after {result.seconds:.1f} s; {fast_ips:.0f} img/s; {macs / 1e6:.2f} M MACs/image; "
          f"{flops / 1e9:.1f} GFLOP/s = {flops / fp32:.1%} of fp32 peak, {flops / bf16:.1%} of bf16 peak", flush=True)

    results = {"fp32_peak_flops": fp32, "bf16_peak_flops": bf16, "fast": fast}
    if not args.skip_plain:
        plain_cfg = TrainConfig(**{**cfg.to_dict(), "amp": "off", "channels_last": False})
        print("plain: the same network, fp32 NCHW, DataLoader over per-sample tensors", flush=True)
        plain = plain_run(plain_cfg, ds)
        plain_reached = next((h["seconds"] for h in plain["history"] if h["test_accuracy"] >= TARGET), None)
        plain["seconds_to_92"] = plain_reached
        results["plain"] = plain
        results["speedup_images_per_second"] = fast_ips / plain["images_per_second"]
        print(f"plain: {plain['seconds']:.1f} s, {plain['images_per_second']:.0f} img/s, final "
              f"{plain['accuracy']:.2%}; fast/plain images/s = {results['speedup_images_per_second']:.2f}x",
              flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
