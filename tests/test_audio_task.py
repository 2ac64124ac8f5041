"""The audio task end to end: a manual training loop on a small FSDD subset, synthetic voices
from espeak-ng (a held-out voice must be understood), and the verbs train / eval / predict."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from convnet.audio.wav import write_wav
from convnet.errors import ConfigError, DataError
from convnet.tasks.audio import AudioClassification
from convnet.training.config import TrainConfig
from convnet.training.hardware import resolve

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# (speaker name, espeak-ng voice): accents and voice variants of espeak-ng's English
VOICES = [("us", "en-us"), ("gb", "en-gb"), ("scot", "en-gb-scotland+m3"), ("rp", "en-gb-x-rp+f2"),
          ("carib", "en-029+m5"), ("lanc", "en-gb-x-gbclan+f4")]
# (index in the name, words per minute, pitch 0-99): FSDD's own split makes index 0 the test take
TAKES = [(0, 150, 40), (5, 185, 55), (6, 165, 70)]


@pytest.fixture(autouse=True)
def one_thread():
    """Small batches gain nothing from a second thread, and on a busy 2-core machine two
    OpenMP threads ran these steps 5-10x slower than one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def espeak_digits(tmp_path_factory) -> Path:
    """FSDD-style folder {digit}_{voice}_{index}.wav: 10 digits x 6 voices x 3 takes (22,050 Hz,
    so loading resamples them to the features' 8 kHz)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.fail("espeak-ng is not installed (bash scripts/test-deps.sh installs it)")
    root = tmp_path_factory.mktemp("espeak-digits")
    jobs = [[exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(root / f"{d}_{speaker}_{take}.wav"), word]
            for speaker, voice in VOICES for take, speed, pitch in TAKES for d, word in enumerate(DIGITS)]
    for i in range(0, len(jobs), 8):                       # eight at a time: each is mostly start-up
        procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for cmd in jobs[i:i + 8]]
        for cmd, proc in zip(jobs[i:i + 8], procs):
            if proc.wait() != 0:
                pytest.fail(f"espeak-ng failed: {' '.join(cmd)}: {proc.stderr.read().decode().strip()}")
    return root


def small_fsdd(shared, dest: Path, speakers=("george", "jackson", "theo"), per_digit=12) -> Path:
    """Links to the first `per_digit` recordings of each digit of `speakers` (indices 0-4 test)."""
    dest.mkdir()
    for s in speakers:
        for d in range(10):
            for i in range(per_digit):
                (dest / f"{d}_{s}_{i}.wav").symlink_to(shared / "fsdd/recordings" / f"{d}_{s}_{i}.wav")
    return dest


def manual_fit(task, cfg, ds, epochs: int, lr: float = 3e-3):
    """The smallest training loop over the task interface (what convnet.training.loop.fit does)."""
    hw = resolve("cpu", "off", False)
    config = task.describe_run(cfg, ds)
    torch.manual_seed(cfg.seed)
    model = task.build_model(config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    for epoch in range(epochs):
        model.train()
        for batch in task.batches(ds.train, config, cfg, hw, train=True, seed=epoch):
            loss, _ = task.loss(model, batch, cfg)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model, config, hw


def test_the_task_claims_sound_folders_only(shared_datasets, tmp_path, espeak_digits):
    assert AudioClassification.claims("fsdd", None)
    assert AudioClassification.claims(str(shared_datasets / "fsdd"), None)
    assert AudioClassification.claims(str(espeak_digits), None)
    assert AudioClassification.claims("mydata", str(espeak_digits))
    assert not AudioClassification.claims(str(shared_datasets / "fashion-mnist"), None)
    assert not AudioClassification.claims("mnist", None)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.png").write_bytes(b"")
    assert not AudioClassification.claims(str(tmp_path), None)


@pytest.mark.slow
def test_manual_training_on_a_small_fsdd_subset(shared_datasets, tmp_path):
    task = AudioClassification()
    cfg = TrainConfig(model="tdnn", data=str(small_fsdd(shared_datasets, tmp_path / "fsdd")), batch_size=32,
                      seed=0, label_smoothing=0.0)
    ds = task.load_data(cfg)
    assert (len(ds.train), len(ds.test)) == (210, 150)
    model, config, hw = manual_fit(task, cfg, ds, epochs=15)
    ev = task.evaluate(model, ds.test, config, hw, final=True)
    assert ev.n == 150 and ev.probabilities.shape == (150, 10)
    assert ev.metrics["accuracy"] > 0.4          # chance is 0.1; 0.57 measured (15 epochs, 210 clips)
    assert config["normalize"]["std"] > 1 and config["input"] == [1, 40, 51]
    # predict computes the very features evaluation saw: same probabilities for the same clips
    paths = [str(c.path) for c in ds.test.clips[:5]]
    rows = task.predict(model, config, hw, paths, top=3)
    assert [r["input"] for r in rows] == paths
    for row, p in zip(rows, ev.probabilities[:5]):
        assert [t["class"] for t in row["top"]] == [config["classes"][i] for i in p.topk(3).indices]
        assert abs(row["top"][0]["probability"] - p.max().item()) < 1e-5


@pytest.mark.slow
def test_a_voice_never_heard_is_understood(espeak_digits):
    """Train on five synthetic voices, test on the sixth (a different accent and pitch)."""
    task = AudioClassification()
    cfg = TrainConfig(model="tdnn", data=str(espeak_digits), batch_size=20, seed=0, label_smoothing=0.0)
    cfg.test_speaker = "carib"
    ds = task.load_data(cfg)
    assert {c.speaker for c in ds.test.clips} == {"carib"} and len(ds.test) == 30 and len(ds.train) == 150
    model, config, hw = manual_fit(task, cfg, ds, epochs=12)
    acc = task.evaluate(model, ds.test, config, hw).metrics["accuracy"]
    assert acc >= 0.75, acc


def test_bad_settings_are_one_line_errors(shared_datasets, tmp_path):
    task = AudioClassification()
    with pytest.raises(DataError, match="--data fsdd needs --data-dir"):
        task.load_data(TrainConfig(data="fsdd"))
    cfg = TrainConfig(data="fsdd", data_dir=str(shared_datasets / "fsdd"))
    cfg.audio = {"sample_rate": 0}
    with pytest.raises(ConfigError, match="sample rate"):
        task.load_data(cfg)
    cfg.audio = {"n_mel": 40}
    with pytest.raises(ConfigError, match="unknown audio option"):
        task.load_data(cfg)
    folder = small_fsdd(shared_datasets, tmp_path / "f", speakers=("theo",), per_digit=6)
    ds = task.load_data(TrainConfig(data=str(folder)))
    with pytest.raises(ConfigError, match="lenet5 needs 28x28 input, not the 40x51 spectrogram"):
        task.describe_run(TrainConfig(model="lenet5", data=str(folder)), ds)


# -- the verbs ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_run(espeak_digits, tmp_path_factory):
    from convnet.cli.main import main

    out = tmp_path_factory.mktemp("audio-runs") / "tdnn"
    code = main(["train", "--data", str(espeak_digits), "--model", "tdnn", "--epochs", "3", "--batch-size", "32",
                 "--threads", "1", "--out", str(out), "--no-progress"])
    assert code == 0
    return out


def test_train_eval_predict_from_the_command_line(cli_run, espeak_digits, capsys, tmp_path):
    from convnet.cli.main import main

    config = json.loads((cli_run / "config.json").read_text())
    assert config["task"] == "audio" and config["features"]["sample_rate"] == 8000
    assert config["data"]["split"] == "own" and config["model"]["kwargs"]["input_size"] == [40, 51]
    results = json.loads((cli_run / "results.json").read_text())
    capsys.readouterr()
    assert main(["eval", str(cli_run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 60 and abs(report["accuracy"] - results["test"]["accuracy"]) < 1e-9
    # a folder of new recordings, every clip evaluated (class sub-folders this time)
    new = tmp_path / "new"
    for d in (3, 7):
        (new / str(d)).mkdir(parents=True)
        shutil.copy(espeak_digits / f"{d}_us_0.wav", new / str(d) / "a.wav")
    assert main(["eval", str(cli_run), "--data", str(new), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 2 and report["data"] == "new"
    clip = espeak_digits / "7_gb_5.wav"
    assert main(["predict", str(cli_run), str(clip), "--json", "--top", "2"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["input"] == str(clip) and len(rows[0]["top"]) == 2
    assert sum(t["probability"] for t in rows[0]["top"]) <= 1 + 1e-6
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"ID3\x03" + bytes(64))
    assert main(["predict", str(cli_run), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "MP3" in err and err.count("\n") == 1


def test_train_rejects_a_folder_with_one_class(tmp_path, capsys):
    from convnet.cli.main import main

    (tmp_path / "only").mkdir()
    t = np.arange(4000) / 8000
    for i in range(3):
        write_wav(tmp_path / "only" / f"{i}.wav", 0.3 * np.sin(2 * np.pi * (300 + 50 * i) * t), 8000)
    assert main(["train", "--data", str(tmp_path), "--epochs", "1", "--threads", "1",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "only one class ('only')" in err and err.count("\n") == 1
