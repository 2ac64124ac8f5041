"""The graph task: which data it claims, its one full-graph batch, the masked loss, evaluation
and predict, reloading a run's graph, and (through the CLI) train, eval --json and predict
--nodes on the karate club."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from convnet.errors import ConfigError, DataError
from convnet.models import get_spec
from convnet.tasks.graph import GraphNodeClassification
from convnet.training.config import TrainConfig
from convnet.training.hardware import resolve


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)              # full-batch products this small gain nothing from threads
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def hw():
    return resolve("cpu", "off", False, 1)


def gcn_config(**options) -> TrainConfig:
    return TrainConfig(**{"model": "gcn", **get_spec("gcn").training, **options})


def prepared(data: str, data_dir=None, **options):
    task = GraphNodeClassification()
    cfg = gcn_config(data=data, data_dir=data_dir, **options)
    ds = task.load_data(cfg)
    config = {"train": cfg.to_dict(), **task.describe_run(cfg, ds)}
    return task, cfg, ds, config


def fit_by_hand(task, cfg, ds, config, hw, seed=0):
    """What the loop does for this task: one batch an epoch, Adam with the model's groups."""
    torch.manual_seed(seed)
    model = task.build_model(config)
    opt = torch.optim.Adam(model.param_groups(cfg.weight_decay), lr=cfg.lr)
    for epoch in range(cfg.epochs):
        batches = task.batches(ds.train, config, cfg, hw, train=True, seed=epoch)
        assert len(batches) == 1                                 # full batch: one step an epoch
        for batch in batches:
            model.train()
            loss, tally = task.loss(model, batch, cfg)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def test_which_data_the_graph_task_claims(tmp_path, shared_datasets):
    claims = GraphNodeClassification.claims
    assert all(claims(name, None) for name in ("cora", "CiteSeer", "pubmed", "karate"))
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "edges.csv").write_text("a,b\n")
    assert claims(str(tmp_path / "csv"), None) and claims("csv", str(tmp_path / "csv"))
    assert claims(str(shared_datasets / "planetoid"), None)              # ind.cora.graph inside
    assert not claims("mnist", None) and not claims(str(shared_datasets / "fashion-mnist"), None)
    assert not claims(str(tmp_path / "nothing-here"), None)
    from convnet.tasks import task_for

    assert isinstance(task_for("cora", None), GraphNodeClassification)


def test_cora_batch_loss_and_run_description(shared_datasets, hw):
    task, cfg, ds, config = prepared("cora", str(shared_datasets / "planetoid"))
    assert config["model"] == {"name": "gcn", "num_classes": 7, "in_channels": 1433}
    assert config["graph"] == {"nodes": 2708, "features": 1433, "links": 5278, "normalize": "rows"}
    assert config["data"]["kind"] == "planetoid" and config["classes"][2] == "Neural_Networks"
    assert (len(ds.train), len(ds.val), len(ds.test)) == (140, 500, 1000)
    assert task.summary_line(cfg, ds, config) == ("2,708 nodes, 5,278 links, 1,433 features; "
                                                  "140 train / 500 val / 1,000 test nodes, 7 classes")
    x, adj = task.batches(ds.train, config, cfg, hw, train=True, seed=0)[0][0]
    assert torch.allclose(x.dense().sum(1), torch.ones(2708))           # rows normalised (sum 1)
    torch.manual_seed(0)
    model = task.build_model(config)
    batch = task.batches(ds.train, config, cfg, hw, train=True, seed=0)[0]
    loss, tally = task.loss(model, batch, cfg)
    # the loss counts the 140 labelled training nodes only: oracle from the full logits
    model.eval()
    with torch.no_grad():
        loss_eval, _ = task.loss(model, batch, cfg)
        logits = model(x, adj)
    expected = torch.nn.functional.cross_entropy(logits[:140], ds.graph.labels[:140])
    assert tally.n == 140 and loss_eval.item() == pytest.approx(expected.item(), rel=1e-5)
    ev = task.evaluate(model, ds.val, config, hw)
    assert ev.n == 500 and ev.accuracy == pytest.approx(
        (logits[140:640].argmax(1) == ds.graph.labels[140:640]).float().mean().item())
    with pytest.raises(ConfigError, match="model 'lenet5' does not take a graph"):
        task.build_model({**config, "model": {**config["model"], "name": "lenet5"}})


def test_karate_club_from_one_labelled_member_per_club(hw):
    """The benchmark's second target: >= 90% of the 32 other members placed in their club."""
    task, cfg, ds, config = prepared("karate")
    assert ds.val is None and len(ds.train) == 2 and len(ds.test) == 32
    model = fit_by_hand(task, cfg, ds, config, hw)
    final = task.evaluate(model, ds.test, config, hw, final=True)
    assert final.accuracy >= 0.90 and final.n == 32
    assert final.probabilities.shape == (32, 2)
    assert torch.allclose(final.probabilities.sum(1), torch.ones(32))
    d = final.to_dict(ds.classes)
    assert d["n"] == 32 and d["accuracy"] == final.accuracy and set(d["per_class_accuracy"]) == set(ds.classes)


def test_predict_names_nodes_and_refuses_unknown_ones(tmp_path, hw):
    folder = tmp_path / "club"
    folder.mkdir()
    (folder / "edges.csv").write_text("source,target\nann,bob\nbob,cid\ncid,dan\ndan,eve\n")
    (folder / "labels.csv").write_text("id,label,split\nann,a,train\neve,b,train\ncid,a,test\n")
    task, cfg, ds, config = prepared(str(folder), epochs=20)
    model = fit_by_hand(task, cfg, ds, config, hw)
    rows = task.predict(model, config, hw, ["dan", "ann"], top=5)
    assert [r["input"] for r in rows] == ["dan", "ann"]
    assert rows[1]["label"] == "a" and rows[1]["split"] == "train" and rows[0]["label"] is None
    for r in rows:
        p = [t["probability"] for t in r["top"]]
        assert len(p) == 2 and p == sorted(p, reverse=True) and sum(p) == pytest.approx(1, abs=1e-5)
    assert len(task.predict(model, config, hw, [])) == 5                  # no ids: every node
    with pytest.raises(DataError, match="node 'zed' is not in the graph club"):
        task.predict(model, config, hw, ["ann", "zed"])


def test_a_run_reloads_its_graph_and_notices_a_changed_one(tmp_path):
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "edges.csv").write_text("1,2\n2,3\n3,4\n4,1\n")
    (folder / "features.csv").write_text("id,a,b\n1,-1,0.5\n2,2,0\n3,0,1\n4,1,1\n")
    (folder / "labels.csv").write_text("id,label\n1,x\n2,y\n3,x\n4,y\n")
    task, cfg, ds, config = prepared(str(folder), seed=3)
    assert config["graph"]["normalize"] == "standardize"                 # signed features
    saved = json.loads(json.dumps(config))                               # as config.json holds it
    again = task.load_data(None, saved=saved)
    assert torch.equal(again.features, ds.features) and torch.equal(again.graph.train, ds.graph.train)
    assert torch.equal(again.adjacency.dense(), ds.adjacency.dense())
    (folder / "edges.csv").write_text("1,2\n2,3\n")
    with pytest.raises(DataError, match="changed since training: links 2 now, 4 then"):
        task.load_data(None, saved=saved)


# -- through the command line ------------------------------------------------------------

@pytest.fixture(scope="module")
def karate_run(tmp_path_factory) -> Path:
    from convnet.cli.main import main

    out = tmp_path_factory.mktemp("graph-runs") / "karate"
    assert main(["train", "--data", "karate", "--model", "gcn", "--epochs", "60", "--out", str(out),
                 "--no-progress", "--threads", "1"]) == 0
    return out


def test_train_eval_and_predict_from_the_command_line(karate_run, capsys):
    from convnet.cli.main import main

    capsys.readouterr()
    config = json.loads((karate_run / "config.json").read_text())
    assert config["task"] == "graph" and config["train"]["optimizer"] == "adam"   # the model's defaults
    results = json.loads((karate_run / "results.json").read_text())["test"]
    assert main(["eval", str(karate_run), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["task"] == "graph" and ev["split"] == "test"
    assert ev["n"] == 32 and ev["accuracy"] == pytest.approx(results["accuracy"])   # eval agrees with training
    assert main(["predict", str(karate_run), "--nodes", "0", "33", "8", "--json", "--top", "2"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in rows] == ["0", "33", "8"]
    assert rows[0]["top"][0]["class"] == "Mr. Hi" and rows[1]["top"][0]["class"] == "Officer"  # the labelled two
    assert main(["predict", str(karate_run), "--nodes", "34"]) == 2
    assert "node '34' is not in the graph karate" in capsys.readouterr().err


def test_graph_data_errors_on_the_command_line_are_one_line(tmp_path, capsys):
    from convnet.cli.main import main

    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "edges.csv").write_text("a,b\n")
    assert main(["train", "--data", str(tmp_path / "g"), "--model", "gcn", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no labelled nodes" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()                               # nothing half-made


def test_show_graph_and_embedding_of_a_run(karate_run, tmp_path, capsys):
    from convnet.cli.main import main

    assert main(["show", "graph", str(karate_run), "--out", str(tmp_path / "g.png")]) == 0
    assert main(["show", "embedding", str(karate_run), "--out", str(tmp_path / "e.png")]) == 0
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "e.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "karate: predicted class (34 nodes;" in out and "hidden layer of 16 units" in out
    assert main(["show", "graph", str(karate_run), "--nodes", "99"]) == 2
    assert "node '99' is not in the graph karate" in capsys.readouterr().err
