"""`convnet report` on a run of another task than images: the task-independent sections."""

import re

from helpers import cli_in_process


def test_report_of_a_graph_run(tmp_path):
    run = tmp_path / "karate"
    out = cli_in_process("train", "--data", "karate", "--epochs", "30", "--out", run, "--no-progress")
    assert out.returncode == 0, out.stderr
    page = tmp_path / "r.html"
    out = cli_in_process("report", run, "--out", page)
    assert out.returncode == 0, out.stderr
    headings = re.findall(r"<h2>([^<]+)", page.read_text())
    assert headings[:2] == ["Learning curves", "Confusion matrix (test)"] and "Model" in headings
    assert "First-layer filters" not in headings and "gcn (graph task)" in page.read_text()
