"""convnet report: one self-contained HTML page about a trained run."""

from __future__ import annotations

import argparse

HELP = "write a self-contained HTML report of a run (curves, confusion, errors, filters, model, config)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", metavar="PATH", help="HTML file to write (default RUN_DIR/report.html)")


def run(args) -> int:
    from convnet.visualize.report import write_report

    out = write_report(args.run_dir, args.out)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB, opens offline)")
    return 0
