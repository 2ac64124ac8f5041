"""convnet export: a trained run as an ONNX or TorchScript file, checked against PyTorch."""

from __future__ import annotations

import argparse

HELP = "export a trained run as ONNX or TorchScript"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx",
                   help="onnx (for onnxruntime; default) or torchscript")
    p.add_argument("--out", metavar="PATH",
                   help="where to write; default RUN_DIR/model.onnx or RUN_DIR/model.torchscript.pt")
    p.add_argument("--force", action="store_true", help="replace an existing file at the destination")


def run(args) -> int:
    from convnet.export import export

    result = export(args.run_dir, args.format, args.out, force=args.force)
    print(f"wrote {result['path']} ({args.format}); largest probability difference from "
          f"PyTorch on 16 check images: {result['max_difference']:.1e}")
    return 0
