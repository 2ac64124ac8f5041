"""The text task (tasks/text.py): which data it claims, splits and folds, what it stores in
config.json, reloading a run's data, evaluating another file, predicting sentences."""

from __future__ import annotations

import json
import struct
from collections import Counter

import numpy as np
import pytest
import torch

from convnet.errors import ConfigError, DataError
from convnet.tasks.text import TextClassification, stratified_folds
from convnet.training.config import TrainConfig
from convnet.training.hardware import resolve


def task():
    return TextClassification(note=lambda _: None)


def config(data, **extra) -> TrainConfig:
    """A TrainConfig with the task's own fields set as attributes (config.py does not have them yet)."""
    cfg = TrainConfig(data=str(data), model=extra.pop("model", "kimcnn"), seed=extra.pop("seed", 0),
                      model_kwargs=extra.pop("model_kwargs", {"embed_dim": 8, "filters": 4}))
    for k, v in extra.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture
def reviews(tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    (folder / "pos.txt").write_text("".join(f"a good film number {i} , really good\n" for i in range(40)))
    (folder / "neg.txt").write_text("".join(f"a bad film number {i} , truly bad\n" for i in range(60)))
    return folder


def test_claims_text_files_and_folders_only(tmp_path, reviews, texture_folder):
    for name in ("a.txt", "b.tsv", "c.csv", "d.label"):
        (tmp_path / name).write_text("x\n")
        assert TextClassification.claims(str(tmp_path / name), None)
    assert TextClassification.claims(str(reviews), None)
    assert not TextClassification.claims(str(texture_folder), None)   # sub-folders of images
    assert not TextClassification.claims("digits", None)
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert not TextClassification.claims(str(tmp_path / "img"), None)


def test_seeded_stratified_hold_out_and_vocabulary_from_train_only(reviews):
    t = task()
    ds = t.load_data(config(reviews))
    assert (len(ds.train), len(ds.test)) == (90, 10)
    assert Counter(ds.test.labels) == {0: 6, 1: 4}                   # 10% of each class
    test_only = {w for s in ds.test.texts for w in s.split()} - {w for s in ds.train.texts for w in s.split()}
    assert test_only and not test_only & set(ds.vocab.tokens)          # e.g. the test sentences' numbers
    again = t.load_data(config(reviews))
    assert again.test.texts == ds.test.texts
    other = t.load_data(config(reviews, seed=1))
    assert other.test.texts != ds.test.texts


def test_describe_run_is_json_and_reload_rebuilds_the_same_data(reviews):
    t = task()
    cfg = config(reviews, val_fraction=0.0)
    ds = t.load_data(cfg)
    cfg_dict = t.describe_run(cfg, ds)
    saved = json.loads(json.dumps({"train": cfg.to_dict(), **cfg_dict}))
    assert saved["model"] == {"name": "kimcnn", "num_classes": 2, "in_channels": 1,
                              "kwargs": {"embed_dim": 8, "filters": 4, "vocab_size": len(ds.vocab)}}
    text = saved["text"]
    assert text["tokenizer"] == "clean_str" and text["lower"] and text["min_length"] == 5
    assert text["vocabulary"]["tokens"][:2] == ["<pad>", "<unk>"] and saved["classes"] == ["neg", "pos"]
    for cfg_again in (TrainConfig.from_dict(saved["train"]), None):
        again = task().load_data(cfg_again, saved=saved)
        assert again.test.ids == ds.test.ids and again.train.ids == ds.train.ids
    model = t.build_model(saved)
    assert model.embed.num_embeddings == len(ds.vocab)


def test_eval_on_another_file_takes_all_of_it_with_the_runs_classes(reviews, tmp_path):
    t = task()
    cfg = config(reviews)
    ds = t.load_data(cfg)
    saved = {"train": cfg.to_dict(), **t.describe_run(cfg, ds)}
    other = tmp_path / "more.tsv"
    other.write_text("pos\tgood good good\nneg\tbad\npos\tan unseen word\n")
    ev_ds = task().load_data(config(other), saved=saved)
    assert ev_ds.train is None and len(ev_ds.test) == 3 and ev_ds.test.labels == [1, 0, 1]
    assert ev_ds.test.ids[2][:2] == [1, 1]                            # "an", "unseen": <unk> in this vocabulary
    wrong = tmp_path / "wrong.tsv"
    wrong.write_text("meh\tso so\npos\tgood\n")
    with pytest.raises(DataError, match="label 'meh' is not one of the run's classes"):
        task().load_data(config(wrong), saved=saved)


def test_folds_partition_the_data_and_each_class(reviews):
    labels = np.array([0] * 23 + [1] * 17 + [2] * 5)
    which = stratified_folds(labels, 5, seed=3)
    sizes = np.bincount(which, minlength=5)
    assert sizes.sum() == 45 and sizes.max() - sizes.min() <= 1
    for c in range(3):
        per = np.bincount(which[labels == c], minlength=5)
        assert per.max() - per.min() <= 1
    tests = []
    for fold in range(10):
        ds = task().load_data(config(reviews, folds=10, fold=fold))
        assert len(ds.train) == 90 and len(ds.test) == 10
        assert not set(ds.test.texts) & set(ds.train.texts)
        tests += ds.test.texts
        assert ds.source["folds"] == 10 and ds.source["fold"] == fold
    assert sorted(tests) == sorted(ds.train.texts + ds.test.texts)   # every sentence tested once
    with pytest.raises(ConfigError, match="fold must be in 0..9"):
        task().load_data(config(reviews, folds=10, fold=10))


def test_long_sentences_are_cut_once_with_a_note(tmp_path):
    (tmp_path / "a.txt").write_text(("word " * 50 + "\n") * 5 + "short one\n" * 5)
    (tmp_path / "b.txt").write_text("other words here\n" * 10)
    seen = []
    ds = TextClassification(note=seen.append).load_data(config(tmp_path, max_tokens=20, test_fraction=0.2))
    assert max(len(s) for s in ds.train.ids + ds.test.ids) == 20
    assert len(seen) == 1 and "5 sentence(s) longer than 20 words" in seen[0]


def test_wrong_models_and_missing_vectors_are_config_errors(reviews):
    t = task()
    ds = t.load_data(config(reviews))
    with pytest.raises(ConfigError, match="model 'resnet18' does not read text"):
        t.describe_run(config(reviews, model="resnet18"), ds)
    with pytest.raises(ConfigError, match="give them with --vectors FILE"):
        t.describe_run(config(reviews, model="kimcnn_static"), ds)
    assert t.describe_run(config(reviews, model="convnet"), ds)["model"]["name"] == "kimcnn"   # the default


def test_vectors_initialise_the_embeddings_of_a_new_run(reviews, tmp_path):
    words = {"good": [1.0, 2.0, 3.0], "bad": [-1.0, -2.0, -3.0], "Film": [0.5, 0.5, 0.5]}
    path = tmp_path / "vec.bin"
    path.write_bytes(b"3 3\n" + b"".join(w.encode() + b" " + struct.pack("<3f", *v) for w, v in words.items()))
    t = task()
    cfg = config(reviews, model="kimcnn_multichannel", vectors=str(path), model_kwargs={"filters": 4})
    ds = t.load_data(cfg)
    described = t.describe_run(cfg, ds)
    assert described["model"]["kwargs"]["embed_dim"] == 3 and described["model"]["in_channels"] == 2
    assert described["text"]["vectors"]["found"] == 3 and described["text"]["vectors"]["format"] == "word2vec-binary"
    model = t.build_model(described)
    for w, v in (("good", words["good"]), ("film", words["Film"])):
        i = ds.vocab.index[w]
        assert model.embed.weight[i].tolist() == v and model.static.weight[i].tolist() == v
    with pytest.raises(ConfigError, match="takes no --vectors"):
        t.describe_run(config(reviews, vectors=str(path)), t.load_data(config(reviews, vectors=str(path))))
    (tmp_path / "none.txt").write_text("zebra 1 2 3\n")
    with pytest.raises(DataError, match="none of the vocabulary's words"):
        task().load_data(config(reviews, model="kimcnn_static", vectors=str(tmp_path / "none.txt")))


def test_predict_sentences_and_files_of_lines(reviews, tmp_path):
    t = task()
    cfg = config(reviews)
    ds = t.load_data(cfg)
    described = t.describe_run(cfg, ds)
    torch.manual_seed(0)
    model = t.build_model(described)
    hw = resolve("cpu", "off", False)
    lines = tmp_path / "lines.txt"
    lines.write_text("a good film\n\nIt's BAD!\n")
    out = t.predict(model, described, hw, ["What a good film, really.", str(lines)], top=5)
    assert [o["input"] for o in out] == ["What a good film, really.", "a good film", "It's BAD!"]
    assert out[2]["tokens"] == ["it", "'s", "bad", "!"] and "it" in out[2]["unknown"]
    for o in out:
        probs = [p["probability"] for p in o["top"]]
        assert len(probs) == 2 and probs == sorted(probs, reverse=True) and abs(sum(probs) - 1) < 1e-5
    alone = t.predict(model, described, hw, ["a good film"], top=1)[0]["top"][0]
    assert alone == {"class": out[1]["top"][0]["class"], "probability": pytest.approx(out[1]["top"][0]["probability"])}
    with pytest.raises(DataError, match="empty sentence"):
        t.predict(model, described, hw, ["  "])


def test_shared_trec_is_held_out_10_percent(shared_datasets):
    ds = task().load_data(config(shared_datasets / "text" / "trec" / "train_5500.label"))
    assert len(ds.train) + len(ds.test) == 5452 and abs(len(ds.test) - 545) <= 3
    assert ds.classes == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
