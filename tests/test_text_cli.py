"""Text runs end to end through the command line: train, eval --json (its own hold-out and
another file), predict --text and a file of lines, and one-line errors for bad text data."""

from __future__ import annotations

import json
import random

import pytest

from convnet.cli.main import main


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """kimcnn (Kim's sizes) trained 3 epochs on 400 sentences whose class is one keyword."""
    root = tmp_path_factory.mktemp("text")
    data = root / "data"
    data.mkdir()
    rng = random.Random(0)
    filler = [f"w{i}" for i in range(40)]
    for label, words in (("pos", ["great", "superb"]), ("neg", ["awful", "dull"])):
        lines = []
        for _ in range(200):
            s = rng.sample(filler, rng.randint(3, 10))
            s.insert(rng.randrange(len(s) + 1), rng.choice(words))
            lines.append(" ".join(s))
        (data / f"{label}.txt").write_text("\n".join(lines) + "\n")
    run = root / "run"
    code = main(["train", "--data", str(data), "--model", "kimcnn", "--epochs", "3", "--seed", "0",
                 "--out", str(run), "--no-progress", "--threads", "1"])
    assert code == 0
    return data, run


def test_train_writes_a_text_run(text_run):
    data, run = text_run
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "text" and config["model"]["name"] == "kimcnn"
    assert config["train"]["batch_size"] == 50 and config["train"]["optimizer"] == "adamw"   # kimcnn's own
    assert config["text"]["vocabulary"]["tokens"][:2] == ["<pad>", "<unk>"]
    results = json.loads((run / "results.json").read_text())
    assert results["test"]["n"] == 40 and results["test"]["accuracy"] >= 0.9


def test_eval_json_rebuilds_the_hold_out_and_takes_another_file_whole(text_run, tmp_path, capsys):
    data, run = text_run
    assert main(["eval", str(run), "--json"]) == 0
    own = json.loads(capsys.readouterr().out)
    results = json.loads((run / "results.json").read_text())["test"]
    assert own["n"] == 40 and own["accuracy"] == results["accuracy"]          # the same 40 sentences
    other = tmp_path / "more.csv"
    other.write_text("label,text\npos,w1 w2 great w3\nneg,dull w4 w5\npos,superb\nneg,w7 awful\n")
    assert main(["eval", str(run), "--data", str(other), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4 and report["accuracy"] >= 0.75


def test_predict_text_and_a_file_of_lines(text_run, tmp_path, capsys):
    data, run = text_run
    lines = tmp_path / "lines.txt"
    lines.write_text("w3 w9 superb w1\n\nw2 awful w8\n")
    assert main(["predict", str(run), str(lines), "--text", "w1 great w2 w3", "--json", "--top", "1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["top"][0]["class"] for r in rows] == ["pos", "neg", "pos"]
    assert rows[2]["input"] == "w1 great w2 w3" and rows[0]["tokens"] == ["w3", "w9", "superb", "w1"]
    assert main(["predict", str(run), "--text", "GREAT!"]) == 0
    assert capsys.readouterr().out.startswith("GREAT!: pos")


@pytest.mark.parametrize("files,message", [
    ({"a.txt": b"\x00\x01\x02binary", "b.txt": b"words\n"}, "a.txt is a binary file"),
    ({"a.tsv": b"pos\tnice\nneg\tbad\n"}, None),
])
def test_bad_text_data_is_one_line(tmp_path, capsys, files, message):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    if message is None:                          # a good file, a model that reads images
        code = main(["train", "--data", str(tmp_path / "a.tsv"), "--model", "resnet18", "--out",
                     str(tmp_path / "run"), "--no-progress"])
        message = "model 'resnet18' does not read text"
    else:
        code = main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err


def test_ngram_highlights_find_the_keyword(text_run):
    """The class is one keyword, so the n-grams that win the max over time hold it."""
    from convnet.tasks import get_task
    from convnet.text.ngrams import ngram_highlights
    from convnet.training.runs import RunDir

    data, run = text_run
    r = RunDir.open(run)
    model = r.build_model(get_task("text"))
    out = ngram_highlights(model, r.config, "w5 w6 w7 superb w8 w9 w10", top=3)
    assert out["tokens"][3] == "superb" and len(out["word_scores"]) == 7
    assert abs(sum(out["word_scores"]) - 1) < 1e-5
    assert max(range(7), key=out["word_scores"].__getitem__) == 3
    assert "superb" in out["ngrams"][0]["words"]
    assert all(a["activation"] >= b["activation"] for a, b in zip(out["ngrams"], out["ngrams"][1:]))
