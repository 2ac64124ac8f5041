"""Per-run plots written by every training run, and the HTML report opened in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convnet.cli.main import main

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def test_every_run_writes_its_plots(fashion_run):
    plots = fashion_run / "plots"
    for name in ("curves.png", "confusion.png", "per_class.png", "wrong.png"):
        with Image.open(plots / name) as im:
            assert im.size[0] > 300 and im.size[1] > 200, name


def test_confusion_matrix_matches_the_reported_test_accuracy(fashion_run):
    analysis = json.loads((fashion_run / "plots" / "analysis.json").read_text())
    results = json.loads((fashion_run / "results.json").read_text())["test"]
    confusion = np.array(analysis["confusion"])
    assert confusion.shape == (10, 10)
    assert confusion.sum() == results["n"] == 1000                   # the whole test set, once
    assert np.trace(confusion) / confusion.sum() == pytest.approx(results["accuracy"], abs=1e-12)
    assert confusion.tolist() == results["confusion"]                # same as evaluate()'s matrix
    for k in range(10):
        if analysis["recall"][k] is not None:
            assert analysis["recall"][k] == pytest.approx(confusion[k, k] / confusion[k].sum(), abs=1e-6)
        if analysis["precision"][k] is not None:
            assert analysis["precision"][k] == pytest.approx(confusion[k, k] / confusion[:, k].sum(), abs=1e-6)


def test_most_confidently_wrong_are_wrong_and_sorted(fashion_run):
    """Checked with the Classifier the way `predict` sees the images."""
    from convnet.data.sources import load_dataset
    from convnet.inference import Classifier

    wrong = json.loads((fashion_run / "plots" / "analysis.json").read_text())["most_confident_wrong"]
    assert len(wrong) == 24
    confidences = [w["confidence"] for w in wrong]
    assert confidences == sorted(confidences, reverse=True)
    clf = Classifier.load(fashion_run, device="cpu")
    cfg = clf.config["train"]
    test = load_dataset(cfg["data"], cfg["data_dir"]).test
    probs = clf.probabilities(test.images[[w["index"] for w in wrong]])
    for w, p in zip(wrong, probs):
        assert int(p.argmax()) == w["predicted"] != w["true"] == int(test.labels[w["index"]])
        assert float(p.max()) == pytest.approx(w["confidence"], abs=2e-2)   # bf16 vs fp32 at most
    all_probs = clf.probabilities(test.images)
    mistakes = all_probs.argmax(1) != test.labels
    assert all_probs.max(1).values[mistakes].max().item() == pytest.approx(confidences[0], abs=2e-2)


def test_a_failure_drawing_plots_is_a_warning_not_a_lost_run(tmp_path):
    from convnet.data.tensors import TensorData
    from convnet.tasks.metrics import Evaluation
    from convnet.training.loop import TrainResult
    from convnet.visualize.artifacts import write_run_artifacts

    said = []
    broken = TensorData(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64))
    final = Evaluation(n=4, loss=0.0, accuracy=1.0, confusion=torch.zeros(3, 3, dtype=torch.int64),
                       probabilities=torch.full((4, 3), 1 / 3), labels=broken.labels)   # 3 columns, 2 names
    result = write_run_artifacts(TrainResult(tmp_path, None, final=final, test_split=broken,
                                             classes=["a", "b"]), log=said.append)
    assert result is None
    assert len(said) == 1 and said[0].startswith("warning: could not draw the run's plots")
    assert (tmp_path / "plots" / "curves.png").is_file()           # what could be drawn was drawn


def test_report_is_self_contained(fashion_run, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(fashion_run), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert not re.search(r"@import|url\(", page)
    sources = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert len(sources) == 5 and all(s.startswith("data:image/png;base64,") for s in sources)
    for heading in ("Learning curves", "Confusion matrix", "Per-class precision and recall",
                    "Most confidently wrong", "First-layer filters", "Model", "Configuration"):
        assert f"<h2>{heading}" in page
    assert "T-shirt/top" in page and "Ankle boot" in page            # class names in the table
    results = json.loads((fashion_run / "results.json").read_text())["test"]
    assert f"{results['accuracy']:.2%} of 1,000" in page


def _browser():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            pytest.fail(f"{path} is missing: run scripts/test-deps.sh (Debian chromium, chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='convnet-chromium-')}", "--window-size=1200,900"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))


def _requests_of(driver, url: str) -> list[str]:
    """Every URL the page at `url` asked for (from Chrome's DevTools network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent" and message["params"].get("documentURL") == url:
            urls.append(message["params"]["request"]["url"])
    return urls


def test_report_opens_offline_in_headless_chromium(fashion_run, tmp_path):
    from convnet.visualize.report import write_report

    report = write_report(fashion_run, tmp_path / "report.html")
    control = tmp_path / "control.html"           # proves the request log would catch a fetch
    control.write_text('<!DOCTYPE html><html><body><img src="http://example.invalid/x.png"></body></html>')
    driver = _browser()
    try:
        driver.get(control.as_uri())
        assert "http://example.invalid/x.png" in _requests_of(driver, control.as_uri())
        driver.get(report.as_uri())
        asked = _requests_of(driver, report.as_uri())
        assert asked and all(u.startswith(("file:", "data:")) for u in asked), asked
        assert driver.title == f"convnet report: {fashion_run.name}"
        sizes = driver.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert len(sizes) == 5 and all(done and width > 100 for done, width in sizes)   # all decoded
        height = driver.execute_script("return document.body.scrollHeight")
        assert height > 2000
        driver.set_window_size(1200, min(height + 50, 8000))
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"))
    assert pixels.shape[0] > 2000 and pixels.std() > 20               # a page with pictures, not blank


def test_report_redraws_missing_plots(digits_run, tmp_path, capsys):
    run = tmp_path / "old-run"
    shutil.copytree(digits_run, run)
    shutil.rmtree(run / "plots")
    assert main(["report", str(run)]) == 0
    assert (run / "report.html").is_file() and (run / "plots" / "analysis.json").is_file()
    assert json.loads((run / "plots" / "analysis.json").read_text())["n"] == 1000


def test_report_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not a run directory (no config.json)" in err and err.count("\n") == 1
