"""Kim's CNN (models/kimcnn.py): sizes, padding independence, the max-norm step, variants,
and a short training run through the text task's own batches and loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from convnet.errors import ConfigError
from convnet.models import create, get_spec


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def kim_params(vocab, classes, dim=300, widths=(3, 4, 5), filters=100, channels=1):
    """By hand: embeddings, one conv of (channels*dim) x w x filters (+ bias) per width, the softmax."""
    emb = vocab * dim * (2 if channels == 2 else 1)
    convs = sum(channels * dim * w * filters + filters for w in widths)
    return emb + convs + len(widths) * filters * classes + classes


@pytest.mark.parametrize("name,channels", [("kimcnn", 1), ("kimcnn_static", 1), ("kimcnn_nonstatic", 1),
                                           ("kimcnn_multichannel", 2)])
def test_parameter_counts_and_output_shape(name, channels):
    model = create(name, 6, 1, vocab_size=1000)
    assert sum(p.numel() for p in model.parameters()) == kim_params(1000, 6, channels=channels)
    ids = torch.randint(2, 1000, (4, 9))
    assert model.eval()(ids).shape == (4, 6)
    spec = get_spec(name)
    assert spec.year == 2014 and spec.training["batch_size"] == 50


def test_kim_hyperparameters_are_the_defaults():
    m = create("kimcnn", 2, 1)
    assert m.embed.embedding_dim == 300 and m.widths == (3, 4, 5)
    assert [c.out_channels for c in m.convs] == [100] * 3 and m.dropout.p == 0.5 and m.max_norm == 3.0
    assert (m.embed.weight.abs() <= 0.25).all() and (m.embed.weight[0] == 0).all()


def test_a_sentence_gets_the_same_output_whatever_its_batch_pads_it_to():
    torch.manual_seed(0)
    model = create("kimcnn", 3, 1, vocab_size=50, embed_dim=8, filters=6).eval()
    with torch.no_grad():
        for conv in model.convs:
            conv.bias.fill_(0.5)             # a padding window would give ReLU(0.5) > 0 if not masked
    sentences = [[5, 6], [7, 8, 9, 10, 11, 12, 13], [9]]
    with torch.no_grad():
        alone = [model(torch.tensor([s])) for s in sentences]
        batch = torch.zeros(3, 20, dtype=torch.long)
        for i, s in enumerate(sentences):
            batch[i, :len(s)] = torch.tensor(s)
        together = model(batch)
    for i in range(3):
        torch.testing.assert_close(together[i:i + 1], alone[i], rtol=1e-5, atol=1e-6)


def test_max_over_time_against_explicit_windows():
    """Oracle: every window of w words over the sentence with w-1 zero words on each side,
    as a dot product with the filter, ReLU, max."""
    torch.manual_seed(1)
    model = create("kimcnn", 2, 1, vocab_size=30, embed_dim=4, filters=3, widths=(2, 3)).eval()
    ids = torch.tensor([[3, 4, 5, 6, 0, 0, 0]])
    n = 4
    emb = model.embed.weight[ids[0, :n]].detach()                    # [n, D]
    got = model.features(ids)[0]
    expected = []
    for conv, w in zip(model.convs, model.widths):
        padded = torch.cat([torch.zeros(w - 1, 4), emb, torch.zeros(w - 1, 4)])
        W = conv.weight.detach()                                      # [F, D, w]
        for f in range(3):
            acts = [(W[f] * padded[k:k + w].T).sum() + conv.bias[f] for k in range(n + w - 1)]
            expected.append(max(0.0, max(a.item() for a in acts)))
    torch.testing.assert_close(got, torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_after_step_holds_each_class_vector_to_norm_3():
    model = create("kimcnn", 4, 1, vocab_size=20, embed_dim=5, filters=2)
    with torch.no_grad():
        model.fc.weight.copy_(torch.tensor([[10.0] * 6, [0.1] * 6, [3.0, 0, 0, 0, 0, 0], [-4.0] * 6]))
    before = model.fc.weight.detach().clone()
    model.after_step()
    norms = model.fc.weight.norm(dim=1)
    assert torch.allclose(norms[[0, 3]], torch.tensor([3.0, 3.0]), atol=1e-4)
    torch.testing.assert_close(model.fc.weight[[1, 2]], before[[1, 2]])         # short ones untouched
    torch.testing.assert_close(model.fc.weight[0] / norms[0], before[0] / before[0].norm())  # direction kept


def test_static_and_multichannel_freeze_what_they_should():
    vectors = torch.randn(40, 6)
    vectors[0] = 0
    ids, y = torch.randint(2, 40, (8, 5)), torch.randint(0, 2, (8,))
    results = {}
    for name in ("kimcnn_static", "kimcnn_nonstatic", "kimcnn_multichannel"):
        torch.manual_seed(0)
        m = create(name, 2, 1, vocab_size=40, embed_dim=6, filters=4)
        m.load_vectors(vectors)
        opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(m(ids), y).backward()
            opt.step()
        results[name] = m
    assert torch.equal(results["kimcnn_static"].embed.weight, vectors)
    assert not torch.equal(results["kimcnn_nonstatic"].embed.weight, vectors)
    mc = results["kimcnn_multichannel"]
    assert torch.equal(mc.static.weight, vectors) and not torch.equal(mc.embed.weight, vectors)
    assert (mc.embed.weight[0] == 0).all()                        # padding stays the zero vector


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="unknown kimcnn mode 'dynamic'"):
        create("kimcnn", 2, 1, mode="dynamic")
    with pytest.raises(ConfigError, match="must all be positive"):
        create("kimcnn", 2, 1, widths=())


def test_winning_windows_point_at_the_ngram_that_won():
    torch.manual_seed(0)
    model = create("kimcnn", 2, 1, vocab_size=30, embed_dim=4, filters=3, widths=(2,)).eval()
    ids = torch.tensor([[5, 6, 7, 8, 0]])
    (w, value, start), = model.winning_windows(ids)
    maps = model.feature_maps(ids)[0][0]                              # [F, L+w-1]
    assert w == 2 and torch.equal(value[0], maps.max(1).values)
    assert ((start >= -1) & (start <= 3)).all()                       # a window overlapping the 4 words


def test_short_training_run_learns_a_keyword_rule(tmp_path):
    """Sentences are positive iff they hold a word from one list; a 10% hold-out must reach 95%
    after 4 epochs through the task's batches, loss and after_step (the loop's calls)."""
    import random

    from convnet.tasks.text import TextClassification
    from convnet.training.config import TrainConfig
    from convnet.training.hardware import resolve

    rng = random.Random(0)
    filler = [f"w{i}" for i in range(60)]
    good, bad = ["great", "superb", "lovely"], ["awful", "dull", "boring"]
    for label, words in (("pos", good), ("neg", bad)):
        lines = []
        for _ in range(300):
            s = rng.sample(filler, rng.randint(3, 12))
            s.insert(rng.randrange(len(s) + 1), rng.choice(words))
            lines.append(" ".join(s))
        (tmp_path / f"{label}.txt").write_text("\n".join(lines) + "\n")
    task = TextClassification(note=lambda _: None)
    cfg = TrainConfig(data=str(tmp_path), model="kimcnn", batch_size=50, seed=0,
                      model_kwargs={"embed_dim": 32, "filters": 16})
    ds = task.load_data(cfg)
    assert len(ds.train) == 540 and len(ds.test) == 60
    config = task.describe_run(cfg, ds)
    hw = resolve("cpu", "off", False)
    torch.manual_seed(0)
    model = task.build_model(config)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(4):
        batches = task.batches(ds.train, config, cfg, hw, train=True, seed=epoch)
        assert len(batches) == 540 // 50
        for ids, y in batches:
            assert ids.shape[1] >= config["text"]["min_length"] == 5
            loss, tally = task.loss(model, (ids, y), cfg)
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.after_step()
            assert tally.n == 50
    assert (model.fc.weight.norm(dim=1) <= 3 + 1e-5).all()
    ev = task.evaluate(model, ds.test, config, hw, final=True)
    assert ev.n == 60 and ev.metrics["accuracy"] >= 0.95, ev.metrics
    assert ev.probabilities.shape == (60, 2) and ev.labels.tolist() == ds.test.labels   # data order
    assert torch.equal(ev.probabilities.argmax(1), torch.tensor([
        p["top"][0]["class"] == "pos" for p in task.predict(model, config, hw, ds.test.texts, top=1)]).long())


def test_training_batches_cover_each_sentence_once_in_length_groups():
    from convnet.text.batches import TextBatches, TextSplit

    rng = torch.Generator().manual_seed(0)
    ids = [list(range(2, 2 + int(n))) for n in torch.randint(1, 40, (1003,), generator=rng)]
    split = TextSplit(ids, list(range(1003)), [""] * 1003)
    b = TextBatches(split, 50, 5, "cpu", shuffle=True, seed=1, drop_last=True)
    seen = [y for _, labels in b for y in labels.tolist()]
    assert len(b) == 20 and len(seen) == 1000 == len(set(seen))           # 3 dropped, none twice
    padded = sum(x.numel() for x, _ in b)
    words = sum(len(ids[i]) for i in seen)
    assert padded < 1.25 * words                                          # length groups: little padding
    again = [y for _, labels in TextBatches(split, 50, 5, "cpu", shuffle=True, seed=1, drop_last=True)
             for y in labels.tolist()]
    other = [y for _, labels in TextBatches(split, 50, 5, "cpu", shuffle=True, seed=2, drop_last=True)
             for y in labels.tolist()]
    assert again == seen and other != seen
    whole = TextBatches(split, 64, 5, "cpu", by_length=True)
    assert sorted(whole.order.tolist()) == list(range(1003)) and len(whole) == 16
