#!/usr/bin/env bash
# The GPU checks in one go, for a CUDA machine (none of this project's CPU machines has one):
# the GPU-marked tests, then the Fashion-MNIST benchmark (bf16 autocast, channels_last: the
# defaults on CUDA), with every figure written under OUT (default gpu-results/).
#   bash benchmarks/gpu.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-results}
mkdir -p "$out"
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: nothing to check')"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
"$PY" -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))" > "$out/device.txt"
"$PY" -m pytest -q -m gpu tests/test_gpu.py -o addopts="" 2>&1 | tee "$out/tests.txt"
"$PY" benchmarks/fashion_mnist.py --json "$out/fashion_mnist.json" 2>&1 | tee "$out/fashion_mnist.txt"
echo "figures in $out/"
