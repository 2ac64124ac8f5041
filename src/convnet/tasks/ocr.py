"""Line recognition (OCR): a line image in, its text out; a CRNN trained with CTC.

Data (`--data`): `digit-lines` (handwritten digit strings drawn from the MNIST IDX folder
`--data-dir`: training lines from its train digits, test lines from its test digits, drawn
once into the data cache, see ocr/generate.py), a folder with labels.tsv (see ocr/lines.py;
a seeded 10% of its lines held out as the test split), or a folder with train/ and test/
sub-folders that each hold one. The alphabet is the training texts' characters (sorted) and
is stored in config.json with the line height:

    "ocr": {"alphabet": "0123456789", "height": 32, "blank": 0, "stride": 4}

so evaluation and reading map model outputs to the same characters. Metrics: the headline
`char_accuracy` is 1 - CER, because the loop's best checkpoint and early stopping keep the
highest value; `cer` (edit distance over reference characters, all lines together), `exact`
(share of lines read without error) and lines/s come with it. TrainConfig fields read here
with getattr (defaults in OPTIONS): lines and test_lines (digit-lines sizes), test_fraction,
alphabet."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from convnet.errors import ConfigError, DataError
from convnet.tasks.base import Tally, Task, option_value

DEFAULT_MODEL = "crnn"
GENERATED = "digit-lines"
OPTIONS = {"lines": 10_000, "test_lines": 500, "test_fraction": 0.1, "alphabet": None}
TEST_SEED = 1                     # digit-lines test lines: the same 500 whatever the training seed
EVAL_BATCH = 64
BEAM = 8


def option(cfg, name: str):
    return option_value(cfg, name, OPTIONS)


def _has_labels(path: Path) -> bool:
    from convnet.ocr.lines import LABELS

    try:
        return (path / LABELS).is_file() or all((path / s / LABELS).is_file() for s in ("train", "test"))
    except OSError:
        return False


@dataclass
class LineEvaluation:
    """What evaluate returns: n lines, mean CTC loss a line (per character, as training's),
    metrics (char_accuracy, cer, exact, lines_per_second) and, for the report, the texts read."""

    n: int
    loss: float
    metrics: dict
    errors: int = 0
    chars: int = 0
    references: list = field(default_factory=list)
    hypotheses: list = field(default_factory=list)
    files: list = field(default_factory=list)
    probabilities = None            # no per-class probabilities: the plots draw only the curves

    def to_dict(self, classes=None) -> dict:
        wrong = [{"file": f, "text": r, "read": h}
                 for f, r, h in zip(self.files, self.references, self.hypotheses) if r != h]
        return {"n": self.n, "loss": self.loss, **self.metrics, "errors": self.errors, "chars": self.chars,
                "wrong_lines": len(wrong), "examples": wrong[:20]}


class LineRecognition(Task):
    name = "ocr"
    help = "text line recognition (CRNN + CTC): folders of line images with labels.tsv, digit-lines"
    metric = "char_accuracy"
    item = "lines"
    default_model = DEFAULT_MODEL

    def __init__(self, note=None):
        from convnet.ocr.lines import note_to_stderr

        self.note = note or note_to_stderr

    @classmethod
    def claims(cls, data: str, data_dir: str | None) -> bool:
        return data == GENERATED or bool(data) and len(data) < 4096 and _has_labels(Path(data))

    # -- data -------------------------------------------------------------------------------
    def load_data(self, cfg, saved: dict | None = None):
        from convnet.data.tensors import Dataset

        if saved is not None:
            return self._reload(cfg, saved)
        alphabet = option(cfg, "alphabet")
        parts, source = self._read(cfg.data, cfg.data_dir, cfg, alphabet)
        if alphabet is None:
            alphabet = "".join(sorted(set("".join(parts["train"].texts))))
            if "test" in parts:        # test lines with characters never trained on: reported, skipped
                parts["test"] = _within(parts["test"], alphabet, self.note, "test")
        _check_alphabet(alphabet)
        val_fraction = float(getattr(cfg, "val_fraction", 0.0) or 0.0)
        if val_fraction:
            if not 0 < val_fraction < 1:
                raise ConfigError(f"val fraction must be in (0, 1), got {val_fraction}")
            parts["train"], parts["val"] = _split(parts["train"], val_fraction, cfg.seed + 1)
        source["val_fraction"] = val_fraction
        ds = Dataset(name=source["name"], classes=list(alphabet), train=parts["train"], test=parts.get("test"),
                     val=parts.get("val"), source=source)
        ds.alphabet = alphabet
        return ds

    def _read(self, data: str, data_dir: str | None, cfg, alphabet: str | None, saved_source: dict | None = None):
        """({"train", "test"} -> LineSet, the "data" entry of config.json)."""
        from convnet.ocr.generate import ALPHABET, cached_digit_lines
        from convnet.ocr.lines import read_line_folder

        seed = saved_source.get("seed", 0) if saved_source else cfg.seed
        if data == GENERATED:
            if not data_dir:
                raise ConfigError("--data digit-lines draws lines from MNIST digits: give the MNIST IDX "
                                  "folder with --data-dir (e.g. ../shared/datasets/mnist-10k)")
            s = saved_source or {}
            n, n_test = (int(s.get("lines") or option(cfg, "lines")), int(s.get("test_lines") or option(cfg, "test_lines")))
            if n < 1 or n_test < 1:
                raise ConfigError(f"digit-lines needs at least 1 training and 1 test line, got {n} and {n_test}")
            train = read_line_folder(cached_digit_lines(data_dir, "train", n, seed), alphabet or ALPHABET, self.note)
            test = read_line_folder(cached_digit_lines(data_dir, "test", n_test, TEST_SEED), alphabet or ALPHABET,
                                    self.note)
            source = {"kind": "ocr", "name": GENERATED, "path": str(Path(data_dir).resolve()), "lines": n,
                      "test_lines": n_test, "seed": seed, "test_seed": TEST_SEED, "layout": "generated"}
            return {"train": train, "test": test}, source
        folder = Path(data)
        name = folder.resolve().name or str(folder)
        if all((folder / s / "labels.tsv").is_file() for s in ("train", "test")):
            parts = {s: read_line_folder(folder / s, alphabet, self.note) for s in ("train", "test")}
            return parts, {"kind": "ocr", "name": name, "path": str(folder.resolve()), "seed": seed,
                           "layout": "train-test"}
        lines = read_line_folder(folder, alphabet, self.note)
        fraction = float(saved_source.get("test_fraction") if saved_source else option(cfg, "test_fraction"))
        if not 0 < fraction < 1:
            raise ConfigError(f"test fraction must be in (0, 1), got {fraction}")
        if len(lines) < 2:
            raise DataError(f"{folder}: {len(lines)} usable line: too few to hold some out for testing")
        train, test = _split(lines, fraction, seed)
        return {"train": train, "test": test}, {"kind": "ocr", "name": name, "path": str(folder.resolve()),
                                                "seed": seed, "test_fraction": fraction, "layout": "folder"}

    def _reload(self, cfg, saved: dict):
        """A saved run's data again (its own splits), or, for `eval --data OTHER`, all of OTHER's
        test lines (a folder: every line) read with the run's alphabet."""
        from convnet.data.tensors import Dataset
        from convnet.ocr.lines import read_line_folder

        src, ocr = saved.get("data") or {}, saved.get("ocr") or {}
        if src.get("kind") != "ocr" or "alphabet" not in ocr:
            raise DataError("config.json is not that of an OCR run (no \"ocr\" settings)")
        alphabet = ocr["alphabet"]
        data = getattr(cfg, "data", None) or src["name"]
        data_dir = getattr(cfg, "data_dir", None)
        own = (data == GENERATED and src.get("name") == GENERATED and _same_path(data_dir or src["path"], src["path"])
               or data != GENERATED and _same_path(data, src["path"]))
        if own:
            parts, source = self._read(src["path"] if data != GENERATED else GENERATED,
                                       src["path"] if data == GENERATED else None, cfg, alphabet, src)
            if src.get("val_fraction"):
                parts["train"], parts["val"] = _split(parts["train"], src["val_fraction"], src.get("seed", 0) + 1)
            source = src
        elif data == GENERATED:
            parts, source = self._read(GENERATED, data_dir, cfg, alphabet, {**src, "lines": 1})
            parts = {"test": parts["test"]}
        else:
            folder = Path(data)
            if (folder / "test" / "labels.tsv").is_file() and not (folder / "labels.tsv").is_file():
                folder = folder / "test"
            parts = {"test": read_line_folder(folder, alphabet, self.note)}
            source = {"kind": "ocr", "name": folder.resolve().name, "path": str(folder.resolve()), "whole": True}
        ds = Dataset(name=source.get("name", "lines"), classes=list(alphabet), train=parts.get("train"),
                     test=parts.get("test"), val=parts.get("val"), source=source)
        ds.alphabet = alphabet
        return ds

    def describe_run(self, cfg, ds) -> dict:
        from convnet.models.crnn import HEIGHT, STRIDE

        name = line_model_name(cfg.model)
        return {"model": {"name": name, "num_classes": len(ds.alphabet), "in_channels": 1,
                          "kwargs": dict(cfg.model_kwargs or {})},
                "classes": list(ds.alphabet), "data": ds.source,
                "ocr": {"alphabet": ds.alphabet, "height": HEIGHT, "blank": 0, "stride": STRIDE}}

    def summary_line(self, cfg, ds, config: dict) -> str:
        widths = ds.train.widths
        alphabet = config["ocr"]["alphabet"]
        shown = alphabet if len(alphabet) <= 20 else alphabet[:20] + "..."
        return (" / ".join(f"{len(s):,} {n}" for n, s in (("train", ds.train), ("val", ds.val), ("test", ds.test))
                           if s is not None)
                + f" lines, alphabet of {len(alphabet)} ({shown!r}), {config['ocr']['height']} px high, "
                  f"{int(widths.min())}-{int(widths.max())} px wide")

    # -- steps ------------------------------------------------------------------------------
    def batches(self, split, config: dict, cfg, hw, *, train: bool, seed: int):
        from convnet.ocr.batches import LineBatches

        size = cfg.batch_size if train else EVAL_BATCH
        return LineBatches(split, config["ocr"]["alphabet"], size, hw.device, shuffle=train, seed=seed,
                           drop_last=train)

    def loss(self, model, batch, cfg):
        x, widths, targets, lengths, _ = batch
        return ctc_loss(model(x, widths), widths, targets, lengths, "mean"), Tally(n=len(widths))

    # -- measuring --------------------------------------------------------------------------
    def evaluate(self, model, split, config: dict, hw, *, final: bool = False):
        import torch

        from convnet.ocr.batches import LineBatches
        from convnet.ocr.decode import error_rates

        alphabet = config["ocr"]["alphabet"]
        model.eval()
        t0 = time.perf_counter()
        hypotheses, total = [None] * len(split), 0.0
        with torch.no_grad():
            for x, widths, targets, lengths, rows in LineBatches(split, alphabet, EVAL_BATCH, hw.device):
                with hw.autocast():
                    logits = model(x, widths)
                per_line = ctc_loss(logits, widths, targets, lengths, "none")
                total += float((per_line / lengths.clamp(min=1)).sum())
                for r, text in zip(rows.tolist(), greedy_texts(logits, widths, alphabet)):
                    hypotheses[r] = text
        seconds = time.perf_counter() - t0
        rates = error_rates(split.texts, hypotheses)
        n = len(split)
        metrics = {"char_accuracy": 1.0 - rates["cer"], "cer": rates["cer"], "exact": rates["exact"],
                   "lines_per_second": round(n / max(seconds, 1e-9), 1)}
        return LineEvaluation(n=n, loss=total / max(n, 1), metrics=metrics, errors=rates["errors"],
                              chars=rates["chars"], references=list(split.texts), hypotheses=hypotheses,
                              files=list(split.files))

    def result_line(self, ev, name: str) -> str:
        m = ev.metrics
        return (f"{name} CER {m['cer']:.4f} (char accuracy {m['char_accuracy']:.2%}), exact lines {m['exact']:.2%} "
                f"(loss {ev.loss:.4f}, {ev.n:,} lines)")

    # -- using a trained run ----------------------------------------------------------------
    def predict(self, model, config: dict, hw, inputs: list[str], top: int = 3) -> list[dict]:
        """Each input is a line image, or a page image (more than one line of text), split into
        its lines by the projection profile and each line read. Rows: {"input", "text",
        "probability", "top": [{"class": text, "probability": p}, ...] (beam search's `top`
        most probable texts)}."""
        import torch

        from convnet.ocr.decode import beam
        from convnet.ocr.lines import LineSet

        if not inputs:
            raise ConfigError("give at least one line or page image to read")
        alphabet = config["ocr"]["alphabet"]
        names, images = [], []
        for path in inputs:
            for name, image in read_inputs(path):
                names.append(name)
                images.append(image)
        lines = LineSet(images, [""] * len(images), names)
        from convnet.ocr.batches import pad_lines

        model.eval()
        rows = []
        with torch.no_grad():
            for start in range(0, len(images), EVAL_BATCH):
                chunk = images[start:start + EVAL_BATCH]
                x = pad_lines(chunk).to(hw.device)
                widths = torch.tensor([im.shape[1] for im in chunk], device=hw.device)
                with hw.autocast():
                    logits = model(x, widths)
                lp = logits.float().log_softmax(2).cpu()
                columns = output_lengths(widths).cpu().tolist()
                for i, t in enumerate(columns):
                    found = beam(lp[i, :t].numpy(), alphabet, width=max(BEAM, top))[:top]
                    rows.append({"input": lines.files[start + i], "text": found[0][0] if found else "",
                                 "probability": float(torch.tensor(found[0][1]).exp()) if found else 0.0,
                                 "top": [{"class": text, "probability": float(torch.tensor(p).exp())}
                                         for text, p in found]})
        return rows


# -- helpers (module level: benchmarks and tests use them) --------------------------------

def output_lengths(widths):
    from convnet.models.crnn import CRNN

    return CRNN.output_lengths(widths)


def ctc_loss(logits, widths, targets, lengths, reduction: str):
    """CTC loss of logits [B, T, K+1] (blank 0) against concatenated targets; lines too short
    for their text (an infinite loss) count zero instead of poisoning the batch."""
    import torch.nn.functional as F

    log_probs = logits.float().log_softmax(2).transpose(0, 1)          # [T, B, K+1]
    return F.ctc_loss(log_probs, targets, output_lengths(widths).clamp(max=log_probs.shape[0]), lengths,
                      blank=0, reduction=reduction, zero_infinity=True)


def greedy_texts(logits, widths, alphabet: str) -> list[str]:
    """Greedy CTC texts of a batch: logits [B, T, K+1], widths [B] pixels."""
    from convnet.ocr.decode import collapse

    best = logits.argmax(2).cpu().numpy()
    return [collapse(best[i, :t], alphabet) for i, t in enumerate(output_lengths(widths).cpu().tolist())]


def read_inputs(path: str) -> list[tuple[str, "np.ndarray"]]:
    """(name, uint8 [32, W] line) pairs of one image file: the whole image if it holds one line
    of text, else each line of the page (top to bottom, named "PATH line N")."""
    import numpy as np

    from convnet.data.images import open_image
    from convnet.ocr.lines import MIN_WIDTH, to_line
    from convnet.ocr.pages import page_lines
    from PIL import Image

    im = open_image(path, "L")
    gray = np.asarray(im, dtype=np.uint8)
    crops = page_lines(gray, str(path))          # DataError for a page with no text
    if len(crops) == 1:
        out = [(str(path), to_line(im))]
    else:
        out = []
        for i, crop in enumerate(crops, 1):
            pad = max(1, crop.shape[0] // 4)     # ink about 2/3 of the height, as in training lines
            crop = np.pad(crop, ((pad, pad), (0, 0)), constant_values=255)
            out.append((f"{path} line {i}", to_line(Image.fromarray(crop))))
    for name, line in out:
        if line.shape[1] < MIN_WIDTH:
            raise DataError(f"{name}: {line.shape[1]} px wide at 32 px high: too narrow to hold text")
    return out


def line_model_name(model: str | None) -> str:
    """`model` if it reads lines (a CRNN), the task's default for the project's default name."""
    from convnet.models import get_spec, names
    from convnet.training.config import TrainConfig

    if not model or model == TrainConfig.model:
        return DEFAULT_MODEL
    if get_spec(model).builder.__module__ != "convnet.models.crnn":
        line_models = [n for n in names() if get_spec(n).builder.__module__ == "convnet.models.crnn"]
        raise ConfigError(f"model {model!r} does not read text lines (line models: {', '.join(line_models)})")
    return model


def _check_alphabet(alphabet: str) -> None:
    if not alphabet:
        raise DataError("the alphabet is empty: no training text has a character")
    if len(set(alphabet)) != len(alphabet):
        raise ConfigError(f"the alphabet {alphabet!r} repeats a character")


def _within(lines, alphabet: str, note, split: str):
    keep = [i for i, t in enumerate(lines.texts) if set(t) <= set(alphabet)]
    if len(keep) < len(lines):
        note(f"skipped {len(lines) - len(keep):,} {split} line(s) with characters no training line has")
    if not keep:
        raise DataError(f"no {split} line is within the training alphabet {alphabet!r}")
    return lines.take(keep)


def _split(lines, fraction: float, seed: int):
    """(kept, held out): a seeded `fraction` of the lines held out (at least one of each)."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(lines))
    held = min(max(1, round(len(lines) * fraction)), len(lines) - 1)
    return lines.take(np.sort(order[held:])), lines.take(np.sort(order[:held]))


def _same_path(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, TypeError):
        return False
