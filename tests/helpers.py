"""Small helpers shared by the tests: run the CLI in a subprocess, write tiny data sets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from convnet.data.idx import write_idx


def cli(*args, cwd=None, timeout=300, env=None) -> subprocess.CompletedProcess:
    """Run `python -m convnet ARGS` and capture its output."""
    return subprocess.run([sys.executable, "-m", "convnet", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env={**os.environ, **(env or {})})


def cli_in_process(*args) -> subprocess.CompletedProcess:
    """`convnet ARGS` through the same main() in this process (no torch start-up per call)."""
    import contextlib
    import io

    from convnet.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:                                      # argparse errors exit
            code = e.code if isinstance(e.code, int) else 1
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """A non-zero exit with one line on stderr naming the problem, and no traceback."""
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if ": error:" in line]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def write_idx_set(folder: Path, n_train=200, n_test=50, classes=3, size=12, seed=0) -> Path:
    """A learnable synthetic IDX data set: class k is a bright bar at row band k."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, classes, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, size, size)).astype(np.uint8)
        band = size // classes
        for i, y in enumerate(labels):
            images[i, y * band:(y + 1) * band, :] = 220
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder
