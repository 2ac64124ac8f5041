"""`--amp auto` on a CPU, decided by measuring: where the CPU has native bf16 (AMX tiles or
AVX512-BF16) a bf16 matmul can run 2-7x faster than fp32, or (for small convolutions, or on a
CPU that emulates it) slower. So the loop times a few training steps of the actual model both
ways, on copies, and keeps the faster; the decision is cached per machine, torch version, model
and batch shape in $CONVNET_CACHE or the user cache (amp.json), so it is measured once.

Without native bf16 there is nothing to measure: fp32 (bf16 ran 1.5-4x slower there)."""

from __future__ import annotations

import copy
import json
import os
import platform
import time
from pathlib import Path

import torch

from convnet.training.hardware import Hardware, cpu_flags

NATIVE_BF16 = ("amx_bf16", "avx512_bf16")
MARGIN = 1.10          # bf16 must be at least 10% faster to be worth its rounding


def cpu_has_native_bf16() -> bool:
    return any(f in cpu_flags() for f in NATIVE_BF16)


def decide(task, model, ds, config: dict, cfg, hw: Hardware, log, steps: int = 6) -> Hardware:
    """The Hardware to train with: `hw` unchanged unless amp is auto on a CPU with native bf16,
    where bf16 autocast is switched on if it measured faster for this model."""
    if cfg.amp != "auto" or hw.device.type != "cpu" or not cpu_has_native_bf16() or cfg.engine != "torch":
        return hw
    key = _key(cfg, config)
    cache = _read_cache()
    if key not in cache:
        cache[key] = _measure(task, model, ds, config, cfg, hw, steps)
        _write_cache(cache)
        how = "measured now"
    else:
        how = "measured before on this machine"
    m = cache[key]
    use = m["fp32_ms"] / m["bf16_ms"] >= MARGIN
    log(f"amp auto: {'bf16' if use else 'fp32'} ({m['fp32_ms']:.0f} ms a step in fp32, {m['bf16_ms']:.0f} ms "
        f"in bf16, {how}; --amp bf16|off decides yourself)")
    return Hardware(hw.device, torch.bfloat16 if use else None, hw.channels_last)


def _measure(task, model, ds, config, cfg, hw, steps: int) -> dict:
    """Median ms a step each way, the two interleaved so a change of load hits both."""
    from convnet.training.engines import make_engine

    engines = {name: make_engine("torch", task, copy.deepcopy(model), cfg,
                                 Hardware(hw.device, dtype, hw.channels_last), 10**6)
               for name, dtype in (("fp32", None), ("bf16", torch.bfloat16))}
    batches = list(_take(task.batches(ds.train, config, cfg, hw, train=True, seed=2), steps + 1))
    times = {name: [] for name in engines}
    for i, batch in enumerate(batches):
        for name, engine in engines.items():
            t0 = time.perf_counter()
            engine.step(batch)[0].item()
            if i > 0:                            # the first step of each warms up
                times[name].append(time.perf_counter() - t0)
    return {f"{name}_ms": 1000 * sorted(t)[len(t) // 2] for name, t in times.items()}


def _take(iterable, n: int):
    for i, item in enumerate(iterable):
        if i >= n:
            return
        yield item


def _key(cfg, config: dict) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
               platform.processor())
    shape = config.get("preprocess", {}).get("size")
    return (f"{cpu}|torch {torch.__version__}|{torch.get_num_threads()} threads|{cfg.model}|"
            f"{json.dumps(config.get('model', {}).get('kwargs'))}|{shape}|batch {cfg.batch_size}")


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def _cache_path() -> Path:
    import platformdirs

    root = os.environ.get("CONVNET_CACHE") or platformdirs.user_cache_dir("convnet")
    return Path(root) / "amp.json"


def _read_cache() -> dict:
    try:
        return json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(cache: dict) -> None:
    from convnet.fileio import atomic_write_json

    try:
        atomic_write_json(_cache_path(), cache)
    except OSError:
        pass            # a read-only cache only means measuring again next time
