"""Where and how to compute: device, mixed precision, memory layout, threads.

On a CPU, `amp=auto` resolves here to fp32; training then measures bf16 against fp32 on the
actual model where the CPU has native bf16 (training/amp_probe.py): AMX tiles ran a bf16
matmul ~7x faster, AVX512-BF16 2.3x, and CPUs without either ran it 1.5-4x slower."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import torch

from convnet.errors import ConfigError


@dataclass
class Hardware:
    device: torch.device
    amp_dtype: torch.dtype | None     # None: full fp32
    channels_last: bool

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def describe(self) -> str:
        amp = {None: "fp32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}[self.amp_dtype]
        layout = "channels_last" if self.channels_last else "NCHW"
        threads = f", {torch.get_num_threads()} threads" if self.device.type == "cpu" else ""
        return f"{self.device.type}{threads}, {amp}, {layout}"


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_fast_bf16() -> bool:
    return "amx_bf16" in cpu_flags()


def resolve(device: str = "auto", amp: str = "auto", channels_last: bool = True,
            threads: int | None = None) -> Hardware:
    if threads:
        torch.set_num_threads(threads)
    dev = _device(device)
    return Hardware(dev, _amp_dtype(dev, amp), channels_last)


def _device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine")
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError("--device mps: Apple MPS is not available on this machine")
    return torch.device(name)


def _amp_dtype(dev: torch.device, amp: str) -> torch.dtype | None:
    if amp == "off":
        return None
    if amp == "fp16":
        if dev.type == "cpu":
            raise ConfigError("--amp fp16 needs a GPU; on a CPU use bf16 or off")
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    # auto
    if dev.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None           # a CPU: fp32 unless training measures bf16 faster (amp_probe.py)
