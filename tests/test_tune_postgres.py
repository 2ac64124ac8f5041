"""Two `convnet tune` processes on one study in a real PostgreSQL server, started here on
loopback (Debian's postgresql package; `make test` installs it where it is missing)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from test_tune import make_tiny_mnist


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed (apt-get install postgresql, or `make test` as root)")
    bin_dir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="convnet-pg-"))     # outside pytest's private tmp dirs
    as_user: list[str] = []
    if os.geteuid() == 0:                                     # the server refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def pg(*cmd):
        return subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)

    init = pg(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    assert init.returncode == 0, init.stderr
    start = pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
               f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    assert start.returncode == 0, start.stderr + (root / "log").read_text()
    try:
        create = pg(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "tune")
        assert create.returncode == 0, create.stderr
        yield f"postgresql://postgres@127.0.0.1:{port}/tune"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_a_study_without_losing_or_repeating_a_trial(tmp_path, postgres_url):
    import optuna

    tiny = make_tiny_mnist(tmp_path / "tiny")
    space = tmp_path / "grid.yaml"
    space.write_text("lr: [0.05, 0.2]\nfilters: [4, 8]\nblocks: 1\nepochs: 1\nbatch_size: 16\n")
    out = tmp_path / "study"
    argv = [sys.executable, "-m", "convnet", "tune", "--space", str(space), "--method", "grid",
            "--trials", "4", "--storage", postgres_url, "--study", "shared", "--out", str(out),
            "--data", "mnist", "--data-dir", str(tiny), "--no-progress"]
    workers = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    for w, (stdout, stderr) in zip(workers, outputs):
        assert w.returncode == 0, stderr
    assert sorted(o[0].splitlines()[0].split()[0] for o in outputs) == ["created", "joined"]

    study = optuna.load_study(study_name="shared", storage=postgres_url.replace("://", "+psycopg2://", 1))
    ran = [t for t in study.trials if not t.user_attrs.get("over_budget")]
    assert [t.state.name for t in ran] == ["COMPLETE"] * 4
    # every grid point exactly once: none lost, none run twice
    assert sorted((t.params["lr"], t.params["filters_1"]) for t in ran) == \
        [(lr, f) for lr in (0.05, 0.2) for f in (4, 8)]
    assert len({t.number for t in ran}) == 4
    for t in ran:                                  # each trial trained once, in its own run dir
        metrics = (Path(t.user_attrs["run_dir"]) / "metrics.jsonl").read_text().splitlines()
        assert len(metrics) == 1 and json.loads(metrics[0])["val_accuracy"] == t.value
    # both processes did part of the work
    pids = {t.user_attrs["worker"].split(":")[1] for t in ran}
    assert pids == {str(w.pid) for w in workers}
    assert (out / "best.yaml").is_file() and (out / "trials.csv").read_text().count("complete") == 4


def test_threads_on_postgres_keep_the_trial_budget_exact(tmp_path, postgres_url, capsys):
    """--workers 2 random search: exactly --trials trials run, the refused extras are not counted."""
    import optuna

    from convnet.cli.main import main

    tiny = make_tiny_mnist(tmp_path / "tiny")
    space = tmp_path / "space.yaml"
    space.write_text("lr: {low: 0.02, high: 0.2, log: true}\nfilters: [4, 8]\nblocks: 1\nepochs: 1\n"
                     "batch_size: 16\n")
    assert main(["tune", "--space", str(space), "--method", "random", "--trials", "3", "--workers", "2",
                 "--storage", postgres_url, "--study", "threads", "--out", str(tmp_path / "s"),
                 "--data", "mnist", "--data-dir", str(tiny), "--no-progress"]) == 0
    study = optuna.load_study(study_name="threads", storage=postgres_url.replace("://", "+psycopg2://", 1))
    counted = [t for t in study.trials if not t.user_attrs.get("over_budget")]
    assert [t.state.name for t in counted] == ["COMPLETE"] * 3
    assert all(t.state.name == "FAIL" for t in study.trials if t.user_attrs.get("over_budget"))
