"""Sentence classification (Kim 2014): text files in, a CNN over word embeddings.

Data: a folder of class files, a .tsv/.csv table, a TREC .label file, or a folder of
train/dev/test files of those (see convnet.text.readers). Without a test file a seeded,
stratified `test_fraction` (10%) of the sentences is held out, or, with `folds` > 1, fold
`fold` of a stratified k-fold partition is. The vocabulary is built from the training
sentences; it and the tokeniser settings are stored in config.json under "text":

    "text": {"tokenizer": "clean_str", "lower": true, "max_tokens": 400, "min_length": 5,
             "vocabulary": {"min_freq": 1, "tokens": ["<pad>", "<unk>", ...]},
             "vectors": {"path": ..., "format": ..., "found": 16448} | null}

so evaluation and prediction tokenise exactly as training did. TrainConfig fields read here
(with getattr, defaults in OPTIONS): text_column, label_column, fine, folds, fold, vectors,
min_freq, max_tokens, test_fraction, tokenizer, lower."""

from __future__ import annotations

import inspect
import time
from pathlib import Path

from convnet.errors import ConfigError, DataError
from convnet.tasks.base import Tally, Task, option_value

DEFAULT_MODEL = "kimcnn"
# TrainConfig fields this task reads, and their defaults while config.py lacks them
OPTIONS = {"text_column": None, "label_column": None, "fine": False, "folds": None, "fold": 0,
           "vectors": None, "min_freq": 1, "max_tokens": 400, "test_fraction": 0.1,
           "tokenizer": "clean_str", "lower": True}
EVAL_BATCH = 500


def option(cfg, name: str):
    return option_value(cfg, name, OPTIONS)


class TextClassification(Task):
    name = "text"
    help = "sentence classification (Kim 2014 CNN): class files, TSV/CSV tables, TREC questions"
    metric = "accuracy"
    item = "sentences"
    default_model = DEFAULT_MODEL

    def __init__(self, note=None):
        from convnet.text.readers import note_to_stderr

        self.note = note or note_to_stderr
        self._vectors = None              # initial embeddings of a new run (--vectors), else None

    @classmethod
    def claims(cls, data: str, data_dir: str | None) -> bool:
        from convnet.text.readers import looks_like_text_data

        return bool(data) and looks_like_text_data(Path(data))

    # -- data -------------------------------------------------------------------------------
    def load_data(self, cfg, saved: dict | None = None):
        from convnet.text.readers import read_corpus
        from convnet.text.vocab import Vocabulary

        if saved is not None:
            return self._reload(cfg, saved)
        settings = {"tokenizer": option(cfg, "tokenizer"), "lower": bool(option(cfg, "lower")),
                    "max_tokens": int(option(cfg, "max_tokens"))}
        if settings["max_tokens"] < 1:
            raise ConfigError(f"max tokens must be at least 1, got {settings['max_tokens']}")
        corpus = read_corpus(cfg.data, option(cfg, "text_column"), option(cfg, "label_column"),
                             bool(option(cfg, "fine")), self.note)
        parts, source = split_corpus(corpus, cfg)
        tokens = {name: tokenize_all(ex.texts, settings) for name, ex in parts.items()}
        vocab = Vocabulary.build(tokens["train"], int(option(cfg, "min_freq")))
        ds = self._dataset(corpus.name, corpus.classes, parts, tokens, vocab, settings, source)
        vectors = option(cfg, "vectors")
        self._vectors, ds.vectors = None, None
        if vectors:
            self._vectors, ds.vectors = load_vectors(vectors, vocab, cfg.seed, self.note)
        return ds

    def _reload(self, cfg, saved: dict):
        """The data of a saved run: its own splits again, or (eval --data OTHER) all of OTHER
        as the test split, read with the run's settings and classes."""
        from convnet.text.readers import read_corpus
        from convnet.text.vocab import Vocabulary

        src, text = saved.get("data") or {}, saved.get("text") or {}
        if src.get("kind") != "text" or "vocabulary" not in text:
            raise DataError("config.json is not that of a text run (no \"text\" settings)")
        settings = {k: text[k] for k in ("tokenizer", "lower", "max_tokens")}
        vocab = Vocabulary.from_dict(text["vocabulary"])
        classes = list(saved["classes"])
        data = getattr(cfg, "data", None) if cfg is not None else None
        same = not data or _same_path(data, src["path"])
        corpus = read_corpus(src["path"] if same else data,
                             src.get("text_column") if same else option(cfg, "text_column") or src.get("text_column"),
                             src.get("label_column") if same else option(cfg, "label_column") or src.get("label_column"),
                             bool(src.get("fine")), self.note)
        if same:
            parts, source = split_corpus(corpus, None, src)
        else:
            from convnet.text.readers import Examples

            everything = Examples()
            for ex in corpus.parts.values():
                everything.extend(ex)
            unknown = sorted(set(everything.labels) - set(classes))
            if unknown:
                raise DataError(f"{data}: label {unknown[0]!r} is not one of the run's classes "
                                f"({', '.join(classes[:10])}{', ...' if len(classes) > 10 else ''})")
            parts, source = {"test": everything}, {**src, "path": corpus.path, "name": corpus.name, "whole": True}
        tokens = {name: tokenize_all(ex.texts, settings) for name, ex in parts.items()}
        ds = self._dataset(corpus.name, classes, parts, tokens, vocab, settings, source)
        ds.vectors = text.get("vectors")
        return ds

    def _dataset(self, name, classes, parts, tokens, vocab, settings, source):
        from convnet.data.tensors import Dataset
        from convnet.text.batches import TextSplit

        index = {c: i for i, c in enumerate(classes)}
        cap, cut = settings["max_tokens"], 0
        splits = {}
        for split, ex in parts.items():
            ids = []
            for toks in tokens[split]:
                cut += len(toks) > cap
                ids.append(encode(vocab, toks, cap))
            splits[split] = TextSplit(ids, [index[label] for label in ex.labels], ex.texts)
        if cut:
            self.note(f"{cut:,} sentence(s) longer than {cap} words cut to their first {cap} (max_tokens)")
        ds = Dataset(name=name, classes=list(classes), train=splits.get("train"), test=splits.get("test"),
                     val=splits.get("val"), source=source)
        ds.vocab, ds.text_settings = vocab, settings
        return ds

    def describe_run(self, cfg, ds) -> dict:
        from convnet.models import get_spec

        name = text_model_name(cfg.model)
        spec = get_spec(name)
        kwargs = dict(cfg.model_kwargs or {})
        mode = _default(spec, kwargs, "mode", "rand")
        if ds.vectors is None and mode != "rand":
            raise ConfigError(f"model {name} ({mode}) starts from pre-trained word vectors: "
                              "give them with --vectors FILE (word2vec or GloVe)")
        if ds.vectors is not None:
            if mode == "rand":
                raise ConfigError(f"model {name} is CNN-rand and takes no --vectors; choose kimcnn_static, "
                                  "kimcnn_nonstatic or kimcnn_multichannel")
            dim = ds.vectors["dim"]
            if kwargs.setdefault("embed_dim", dim) != dim:
                raise ConfigError(f"embed_dim {kwargs['embed_dim']} does not match the {dim}-dimensional "
                                  f"vectors of {ds.vectors['path']}")
        kwargs["vocab_size"] = len(ds.vocab)
        widths = _default(spec, kwargs, "widths", (1,))
        text = {**ds.text_settings, "min_length": max(widths), "vocabulary": ds.vocab.to_dict(),
                "vectors": ds.vectors}
        return {"model": {"name": name, "num_classes": len(ds.classes),
                          "in_channels": 2 if mode == "multichannel" else 1, "kwargs": kwargs},
                "classes": ds.classes, "data": ds.source, "text": text}

    def build_model(self, config: dict):
        model = super().build_model(config)
        if self._vectors is not None and hasattr(model, "load_vectors"):
            import torch

            model.load_vectors(torch.from_numpy(self._vectors))
        return model

    def summary_line(self, cfg, ds, config: dict) -> str:
        vocab = len(config["text"]["vocabulary"]["tokens"])
        return super().summary_line(cfg, ds, config) + f", vocabulary {vocab:,} words"

    # -- steps ------------------------------------------------------------------------------
    def batches(self, split, config: dict, cfg, hw, *, train: bool, seed: int):
        from convnet.text.batches import TextBatches

        size = cfg.batch_size if train else EVAL_BATCH
        return TextBatches(split, size, config["text"]["min_length"], hw.device, shuffle=train, seed=seed,
                           drop_last=train and len(split) >= size, by_length=not train)

    def loss(self, model, batch, cfg):
        import torch.nn.functional as F

        ids, y = batch
        logits = model(ids)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=getattr(cfg, "label_smoothing", 0.0))
        return loss, Tally(n=len(y), correct=(logits.argmax(1) == y).sum())

    # -- measuring --------------------------------------------------------------------------
    def evaluate(self, model, split, config: dict, hw, *, final: bool = False):
        import torch

        from convnet.tasks.metrics import Tally as ConfusionTally
        from convnet.text.batches import TextBatches

        model.eval()
        batches = TextBatches(split, EVAL_BATCH, config["text"]["min_length"], hw.device, by_length=True)
        tally = ConfusionTally(len(config["classes"]), keep_probabilities=final)
        with torch.no_grad():
            for ids, y in batches:
                with hw.autocast():
                    logits = model(ids)
                tally.add(logits.float(), y)
        ev = tally.result(len(split))
        if ev.probabilities is not None:      # batches ran in length order: rows back in data order
            order = torch.from_numpy(batches.order)
            probabilities, labels = torch.empty_like(ev.probabilities), torch.empty_like(ev.labels)
            probabilities[order], labels[order] = ev.probabilities, ev.labels
            ev.probabilities, ev.labels = probabilities, labels
        return ev

    # -- using a trained run ----------------------------------------------------------------
    def predict(self, model, config: dict, hw, inputs: list[str], top: int = 3) -> list[dict]:
        """Each input is a sentence, or the path of a text file whose every non-empty line is one."""
        import torch

        from convnet.text.batches import TextBatches, TextSplit
        from convnet.text.vocab import UNK_ID, Vocabulary

        sentences = expand_inputs(inputs, self.note)
        text = config["text"]
        vocab = Vocabulary.from_dict(text["vocabulary"])
        tokens = tokenize_all(sentences, text)
        ids = [encode(vocab, t, text["max_tokens"]) for t in tokens]
        split = TextSplit(ids, [0] * len(ids), sentences)
        batches = TextBatches(split, EVAL_BATCH, text["min_length"], hw.device, by_length=True)
        classes = config["classes"]
        probs = torch.empty(len(ids), len(classes))
        model.eval()
        with torch.no_grad():
            for b, (x, _) in enumerate(batches):
                with hw.autocast():
                    p = torch.softmax(model(x).float(), 1).cpu()
                probs[torch.from_numpy(batches.rows[b])] = p
        k = min(top, len(classes))
        out = []
        for s, toks, row, p in zip(sentences, tokens, ids, probs):
            values, idx = p.topk(k)
            out.append({"input": s, "top": [{"class": classes[i], "probability": v}
                                            for v, i in zip(values.tolist(), idx.tolist())],
                        "tokens": toks[:text["max_tokens"]],
                        "unknown": [t for t, i in zip(toks, row) if i == UNK_ID]})
        return out


# -- helpers (module level so benchmarks and tests use them too) ---------------------------

def text_model_name(model: str | None) -> str:
    """`model` if it is a text model (its builder takes vocab_size); the project's default model
    name (TrainConfig's "convnet") stands for the task's default, kimcnn."""
    from convnet.models import get_spec
    from convnet.training.config import TrainConfig

    if not model or model == TrainConfig.model:
        return DEFAULT_MODEL
    spec = get_spec(model)
    if "vocab_size" not in inspect.signature(spec.builder).parameters:
        from convnet.models import names

        text_models = [n for n in names() if "vocab_size" in inspect.signature(get_spec(n).builder).parameters]
        raise ConfigError(f"model {model!r} does not read text (text models: {', '.join(text_models)})")
    return model


def _default(spec, kwargs: dict, name: str, fallback):
    if name in kwargs:
        return kwargs[name]
    p = inspect.signature(spec.builder).parameters.get(name)
    return fallback if p is None or p.default is inspect.Parameter.empty else p.default


def _same_path(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def tokenize_all(texts: list[str], settings: dict) -> list[list[str]]:
    from convnet.text.tokenize import tokenize

    return [tokenize(t, settings["tokenizer"], settings["lower"]) for t in texts]


def encode(vocab, tokens: list[str], cap: int) -> list[int]:
    """Ids of the first `cap` tokens; a sentence with no token left (all punctuation) is one <unk>."""
    from convnet.text.vocab import UNK_ID

    return vocab.encode(tokens[:cap]) or [UNK_ID]


def split_corpus(corpus, cfg, saved_source: dict | None = None):
    """({"train", "val"?, "test"} -> Examples, the "data" entry of config.json). Settings come
    from cfg for a new run, from the saved entry when reloading one."""
    import numpy as np
    import torch

    from convnet.data.tensors import stratified_split

    if saved_source is not None:
        s = saved_source
        seed, folds, fold = s.get("seed", 0), s.get("folds"), s.get("fold", 0)
        test_fraction, val_fraction = s.get("test_fraction"), s.get("val_fraction", 0.0)
    else:
        seed, folds, fold = cfg.seed, option(cfg, "folds"), int(option(cfg, "fold"))
        test_fraction, val_fraction = float(option(cfg, "test_fraction")), float(getattr(cfg, "val_fraction", 0.0))
    parts = dict(corpus.parts)
    train = parts["train"]
    index = {c: i for i, c in enumerate(corpus.classes)}
    labels = torch.tensor([index[l] for l in train.labels])
    if "test" in parts:
        folds = test_fraction = None
    elif folds and int(folds) > 1:
        folds = int(folds)
        if not 0 <= fold < folds:
            raise ConfigError(f"fold must be in 0..{folds - 1}, got {fold}")
        which = stratified_folds(labels.numpy(), folds, seed)
        parts["train"], parts["test"] = _take(train, np.flatnonzero(which != fold)), _take(train, np.flatnonzero(which == fold))
        test_fraction = None
    elif test_fraction:
        if not 0 < test_fraction < 1:
            raise ConfigError(f"test fraction must be in (0, 1), got {test_fraction}")
        keep, held = stratified_split(labels, test_fraction, seed)
        parts["train"], parts["test"] = _take(train, keep.numpy()), _take(train, held.numpy())
        folds = None
    if val_fraction and "val" not in parts:
        train = parts["train"]
        labels = torch.tensor([index[l] for l in train.labels])
        keep, held = stratified_split(labels, val_fraction, seed + 1)
        parts["train"], parts["val"] = _take(train, keep.numpy()), _take(train, held.numpy())
    missing = sorted(set(corpus.classes) - set(parts["train"].labels))
    if missing:
        raise DataError(f"{corpus.path}: class {missing[0]!r} has no training examples left after the split")
    source = {"kind": "text", "name": corpus.name, "path": corpus.path, "layout": corpus.layout, "seed": seed,
              "test_fraction": test_fraction, "folds": folds, "fold": fold if folds else 0,
              "val_fraction": val_fraction, **({"text_column": getattr(cfg, "text_column", None),
                                               "label_column": getattr(cfg, "label_column", None),
                                               "fine": bool(option(cfg, "fine"))} if saved_source is None else
                                              {k: saved_source.get(k) for k in ("text_column", "label_column", "fine")})}
    return parts, source


def stratified_folds(labels, folds: int, seed: int):
    """int [N]: the fold of each example, each class dealt round-robin over the folds after a
    seeded shuffle (so every fold holds each class in proportion, sizes within one)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    which = np.empty(len(labels), dtype=np.int64)
    start = 0
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        which[idx] = (start + np.arange(len(idx))) % folds
        start += len(idx)               # the next class starts where this one stopped: balanced sizes
    return which


def _take(ex, index):
    from convnet.text.readers import Examples

    return Examples([ex.texts[i] for i in index], [ex.labels[i] for i in index])


def load_vectors(path: str, vocab, seed: int, note):
    """(float32 [V, D] initial embeddings, the "vectors" entry of config.json)."""
    from convnet.text.vectors import detect_format, embedding_matrix

    p = Path(path)
    if not p.is_file():
        raise DataError(f"--vectors {path}: no such file")
    t0 = time.perf_counter()
    matrix, found = embedding_matrix(vocab.tokens, p, seed)
    share = found / max(len(vocab) - 2, 1)
    note(f"{found:,} of {len(vocab) - 2:,} words ({share:.0%}) found in {p.name} "
         f"({time.perf_counter() - t0:.1f} s); the others start random")
    if found == 0:
        raise DataError(f"--vectors {path}: none of the vocabulary's words is in the file")
    return matrix, {"path": str(p.resolve()), "format": detect_format(p), "dim": int(matrix.shape[1]),
                    "found": found}


def expand_inputs(inputs: list[str], note) -> list[str]:
    """Sentences as given; an input that is an existing file gives its non-empty lines."""
    from convnet.text.readers import numbered_lines, read_text

    out = []
    for s in inputs:
        if _is_file(s):
            p = Path(s)
            lines = [line for _, line in numbered_lines(read_text(p, note))]
            if not lines:
                raise DataError(f"{p}: no sentences (the file has no non-empty line)")
            out += lines
        elif s.strip():
            out.append(s.strip())
        else:
            raise DataError("an empty sentence: give some words to classify")
    if not out:
        raise DataError("no sentences to classify")
    return out


def _is_file(s: str) -> bool:
    if len(s) > 1024 or "\n" in s:
        return False
    try:
        return Path(s).is_file()
    except (OSError, ValueError):
        return False
