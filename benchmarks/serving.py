"""Single-image latency and batch-64 throughput of the ways convnet can run a network on this CPU.

    python benchmarks/serving.py [--models lenet5 resnet18] [--repeats 20] [--threads 1 2]

For each model (LeNet-5 at 28x28x1, ResNet-18 at 224x224x3; random weights, which do not
change the speed), in one run:
  eager       model(x) in fp32 NCHW under torch.no_grad(): what a plain PyTorch script does
  settings    the project's inference settings (training.hardware.resolve: channels_last,
              bf16 autocast only where the CPU has AMX) under torch.inference_mode()
  onnxruntime the `convnet export` ONNX file in an onnxruntime CPU session
  served      the server's own path: uint8 images through Batcher.submit (preprocessing
              included) with the runtime `convnet serve` uses, torch and onnx
  http        POST /predict to a real `convnet serve --runtime onnx` on loopback, one client
Times are medians over the repeats, after a warm-up; the paths take turns so that a change
in the machine's load falls on all of them alike. --threads repeats everything per CPU thread
count (torch intra-op and onnxruntime intra-op threads, and the server's --threads)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from convnet.data.batches import Preprocess
from convnet.export import export, load_classifier
from convnet.models import get_spec
from convnet.serve.batching import Batcher
from convnet.training import runs
from convnet.training.hardware import resolve

MODELS = {"lenet5": (1, (28, 28), 10), "resnet18": (3, (224, 224), 1000)}


def median_seconds(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def make_run(name: str, folder: Path) -> Path:
    """A run directory with random weights: what `convnet serve` and `convnet export` read."""
    channels, size, classes = MODELS[name]
    torch.manual_seed(0)
    model = get_spec(name).build(classes, channels)
    run = folder / name
    run.mkdir()
    pre = Preprocess(channels, size, (0.5,) * channels, (0.25,) * channels)
    runs.RunDir(run).write_config({"train": {"amp": "auto", "channels_last": True},
                            "model": {"name": name, "num_classes": classes, "in_channels": channels},
                            "preprocess": pre.to_dict(), "classes": [f"class {i}" for i in range(classes)]})
    runs.save_weights(run, model)
    return run


def forward_paths(run: Path) -> dict:
    """name -> fn(uint8 batch) -> probabilities; the float input is prepared outside the timing
    for the three pure forward passes, inside it for the served paths."""
    torch_clf = load_classifier(run, "torch", device="cpu")
    onnx_clf = load_classifier(run, "onnx")
    pre = torch_clf.preprocess
    eager = get_spec(torch_clf.config["model"]["name"]).build(
        torch_clf.config["model"]["num_classes"], torch_clf.config["model"]["in_channels"])
    eager.load_state_dict({k: v.contiguous() for k, v in torch_clf.model.state_dict().items()})
    eager.eval()
    hw = resolve("cpu", "auto", channels_last=True)

    def run_eager(x):
        with torch.no_grad():
            return torch.softmax(eager(x), 1)

    def run_settings(x):
        with torch.inference_mode(), hw.autocast():
            return torch.softmax(torch_clf.model(x.contiguous(memory_format=torch.channels_last)).float(), 1)

    def run_onnx(x):
        return onnx_clf.session.run(None, {"images": x.numpy()})[0]

    loop = asyncio.new_event_loop()
    batchers = [Batcher(c.probabilities, max_batch=64, max_wait=0.01, max_queue=256)
                for c in (torch_clf, onnx_clf)]
    for b in batchers:
        loop.run_until_complete(b.start())

    def stop():
        for b in batchers:
            loop.run_until_complete(b.stop())
        loop.close()

    def served(batcher):   # the server's forward: uint8 images through Batcher.submit
        return lambda images: loop.run_until_complete(batcher.submit(images))

    return {"eager": (run_eager, True), "settings": (run_settings, True), "onnxruntime": (run_onnx, True),
            "served (torch)": (served(batchers[0]), False),
            "served (onnx)": (served(batchers[1]), False)}, pre, stop


def http_latency(run: Path, repeats: int, threads: int) -> dict:
    import httpx

    from convnet.serve.launch import ServerProcess

    channels, size, _ = MODELS[run.name]
    from PIL import Image
    import io

    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (*size, channels), dtype=np.uint8).squeeze()).save(buf, "PNG")
    body = buf.getvalue()
    out = {}
    for runtime in ("torch", "onnx"):
        with ServerProcess(run, "--runtime", runtime, "--threads", str(threads)) as server, httpx.Client(timeout=60) as client:
            def one():
                r = client.post(server.url + "/predict", content=body)
                r.raise_for_status()
            out[f"http ({runtime})"] = median_seconds(one, repeats, warmup=3)
    return out


def bench(name: str, folder: Path, repeats: int, threads: int) -> list[dict]:
    torch.set_num_threads(threads)                # before the sessions: onnxruntime reads it
    run = folder / name if (folder / name).is_dir() else make_run(name, folder)
    if not (run / "model.onnx").is_file():
        export(run, "onnx")
    paths, pre, stop = forward_paths(run)
    channels, size, _ = MODELS[name]
    gen = torch.Generator().manual_seed(0)
    rows = {label: {"model": name, "threads": threads, "path": label} for label in paths}
    for batch in (1, 64):
        images = torch.randint(0, 256, (batch, channels, *size), dtype=torch.uint8, generator=gen)
        x = pre(images, "cpu")
        calls = {label: (lambda fn=fn, arg=(x if wants_float else images): fn(arg))
                 for label, (fn, wants_float) in paths.items()}
        reps = repeats if batch == 1 else max(3, repeats // (8 if name == "resnet18" else 2))
        for label, t in interleaved_medians(calls, reps).items():
            rows[label]["single_ms" if batch == 1 else "batch64_img_per_s"] = (
                round(t * 1000, 3) if batch == 1 else round(batch / t, 1))
    stop()
    out = list(rows.values())
    for label, t in http_latency(run, repeats, threads).items():
        out.append({"model": name, "threads": threads, "path": label, "single_ms": round(t * 1000, 3),
                    "batch64_img_per_s": None})
    for row in out:
        print(json.dumps(row), file=sys.stderr, flush=True)
    return out


def interleaved_medians(calls: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call, the paths taking turns so a change in the machine's load
    (other processes share this CPU) falls on all of them alike."""
    for fn in calls.values():
        fn(), fn()                                        # warm-up
    times = {label: [] for label in calls}
    for _ in range(repeats):
        for label, fn in calls.items():
            t = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t)
    return {label: statistics.median(ts) for label, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    args = parser.parse_args()
    hw = resolve("cpu", "auto", channels_last=True)
    load = os.getloadavg()[0]
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f} at the start, "
          f"torch {torch.__version__}, {hw.describe()}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [r for m in args.models for t in args.threads for r in bench(m, Path(tmp), args.repeats, t)]
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    print("| model | threads | path | 1 image, ms (median) | batch of 64, images/s |")
    print("|---|---:|---|---:|---:|")
    for r in rows:
        thr = "" if r["batch64_img_per_s"] is None else f"{r['batch64_img_per_s']:,.1f}"
        print(f"| {r['model']} | {r['threads']} | {r['path']} | {r['single_ms']:.2f} | {thr} |")


if __name__ == "__main__":
    main()
