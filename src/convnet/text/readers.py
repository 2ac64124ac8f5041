"""Labelled sentences from the files text data sets come in: class files, tables, TREC.

Three layouts, one example per line, empty lines skipped:
- a folder with one file per class (`rt-polarity.pos`, `rt-polarity.neg`; `objective.txt`,
  `subjective.txt`): the class is the part of the file name that differs between the files
  (the name before the dot, else the extension); README and LICENSE files and hidden files
  are not classes;
- a table, `.tsv` (split on tabs, no quoting) or `.csv` (RFC 4180 quoting), with a label column
  and a text column, with or without a header row. Columns are found by header name (label,
  class, sentiment, ...; text, sentence, review, ...), else the text column is the one with
  the longest cells and the label column the one with the fewest distinct values; a name from
  the header or a column number counting from 1 picks one explicitly;
- the TREC question format (`.label`): `COARSE:fine question words`, the 6 coarse classes
  (ABBR, DESC, ENTY, HUM, LOC, NUM) by default, the 50 `COARSE:fine` ones with `fine=True`.
A folder whose files are named train*, dev*/val*, test* holds splits, each file read as above
(a dev file without a test file is the test split). Bytes are read as UTF-8 (a BOM is honoured,
UTF-16 too), else as Windows-1252, where the five bytes it leaves undefined keep their Latin-1
meaning, with a one-line note; lines end at LF (CR LF too) only, because 0x85 is an ellipsis in
Windows-1252, not a line break."""

from __future__ import annotations

import codecs
import csv
import io
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from convnet.errors import DataError

TABLE_SUFFIXES = {".tsv": "\t", ".csv": ","}
TREC_SUFFIXES = {".label"}
TEXT_SUFFIXES = {".txt", ".text", *TABLE_SUFFIXES, *TREC_SUFFIXES}
# file names in a folder that are documentation, not a class
NOT_DATA = re.compile(r"^(readme|license|licence|copying|notice|citation)(\..*)?$", re.IGNORECASE)
TEXT_NAMES = ("text", "sentence", "sentences", "review", "content", "document", "question",
              "tweet", "comment", "body", "utterance")
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "y", "polarity", "tag")
TREC_LABEL = re.compile(r"^[A-Z]+:\S+$")
SPLIT_PREFIXES = (("train", "train"), ("dev", "val"), ("val", "val"), ("test", "test"))
SNIFF_BYTES = 8192


@dataclass
class Examples:
    """Sentences and their label strings, in file order."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    columns: tuple[int, int] | None = None      # a table's (text, label) column, counting from 0

    def __len__(self) -> int:
        return len(self.texts)

    def extend(self, other: "Examples") -> None:
        self.texts += other.texts
        self.labels += other.labels


@dataclass
class Corpus:
    """A text data set as read: its splits ("train", and "val"/"test" where files give them)."""

    name: str
    path: str                       # resolved path of --data
    layout: str                     # classes | table | trec | splits
    parts: dict[str, Examples]
    classes: list[str]              # sorted (numerically where all labels are numbers)


def note_to_stderr(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


# -- bytes to lines -----------------------------------------------------------------------

def _latin1_fallback(err: UnicodeDecodeError):
    return err.object[err.start:err.end].decode("latin-1"), err.end


codecs.register_error("convnet-latin1", _latin1_fallback)


def decode(data: bytes, where: str, note=note_to_stderr) -> str:
    """UTF-8 (or UTF-16 with a BOM), else Windows-1252 with a note; DataError for binary data or
    bytes that decode to control characters rather than text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise DataError(f"{where}: starts like UTF-16 but is not valid UTF-16") from None
    elif b"\x00" in data[:SNIFF_BYTES]:
        raise DataError(f"{where} is a binary file, not text")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            text = data.decode("cp1252", errors="convnet-latin1")
            note(f"{where} is not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start:,}); "
                 "read as Windows-1252")
    _check_textlike(text, where)
    return text


def _check_textlike(text: str, where: str) -> None:
    sample = text[:100_000]
    controls = sum(1 for c in sample if c not in "\t\n\r" and unicodedata.category(c) == "Cc")
    if sample and controls > 0.01 * len(sample):
        raise DataError(f"{where} does not read as text in UTF-8 or Windows-1252 "
                        f"({controls / len(sample):.0%} control characters)")


def read_text(path: Path, note=note_to_stderr) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    return decode(data, str(path), note)


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, stripped line) for every non-empty line; LF and CR LF end lines."""
    out = []
    for n, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if line:
            out.append((n, line))
    return out


# -- the three formats ----------------------------------------------------------------------

def read_class_file(path: Path, label: str, note=note_to_stderr) -> Examples:
    texts = [line for _, line in numbered_lines(read_text(path, note))]
    if not texts:
        raise DataError(f"{path}: class {label!r} has no examples (the file has no non-empty line)")
    return Examples(texts, [label] * len(texts))


def read_trec(path: Path, fine: bool = False, note=note_to_stderr) -> Examples:
    out = Examples()
    for n, line in numbered_lines(read_text(path, note)):
        label, _, words = line.partition(" ")
        if not TREC_LABEL.match(label) or not words.strip():
            raise DataError(f"{path}, line {n}: {line[:40]!r} is not in the TREC format "
                            "'COARSE:fine question words'")
        out.texts.append(words.strip())
        out.labels.append(label if fine else label.split(":", 1)[0])
    if not out.texts:
        raise DataError(f"{path} has no questions")
    return out


def read_table(path: Path, text_column: str | None = None, label_column: str | None = None,
               delimiter: str | None = None, note=note_to_stderr) -> Examples:
    delimiter = delimiter or TABLE_SUFFIXES.get(path.suffix.lower(), "\t")
    rows = _table_rows(read_text(path, note), delimiter)
    if not rows:
        raise DataError(f"{path} has no rows")
    header = _header(rows[0], text_column, label_column)
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"{path} has a header row and nothing else")
    width = max(len(cells) for _, cells in body)
    ti = _column(path, "text", text_column, header, width) if text_column else None
    li = _column(path, "label", label_column, header, width) if label_column else None
    if ti is None or li is None:
        ti, li = _guess_columns(path, header, body, width, ti, li)
    if ti == li:
        raise DataError(f"{path}: the text and label columns are the same column ({ti + 1})")
    # a tab inside the last column's text (TSV has no quoting) belongs to that text
    usual = Counter(len(cells) for _, cells in body).most_common(1)[0][0]
    last = ti == usual - 1
    out = Examples()
    for n, cells in body:
        if len(cells) <= max(ti, li):
            raise DataError(f"{path}, line {n}: {len(cells)} column(s), need column {max(ti, li) + 1}")
        text = " ".join(cells[ti:]) if last else cells[ti]
        label = cells[li].strip()
        if not text.strip():
            continue
        if not label:
            raise DataError(f"{path}, line {n}: empty label in column {li + 1}")
        out.texts.append(text.strip())
        out.labels.append(label)
    if not out.texts:
        raise DataError(f"{path}: no row has text in column {ti + 1}")
    out.columns = (ti, li)
    return out


def _table_rows(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    if delimiter == "\t":       # TSV: no quoting (SST's sentences hold bare quote marks)
        return [(n, line.split("\t")) for n, line in numbered_lines(text)]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as e:
        raise DataError(f"CSV line {reader.line_num}: {e}") from None
    return rows


def _header(first: tuple[int, list[str]], *names: str | None) -> list[str] | None:
    cells = [c.strip() for c in first[1]]
    known = {*TEXT_NAMES, *LABEL_NAMES, *(n.lower() for n in names if n and not n.isdigit())}
    return cells if any(c.lower() in known for c in cells) else None


def _column(path: Path, what: str, spec: str, header: list[str] | None, width: int) -> int:
    if spec.isdigit():
        i = int(spec) - 1
        if not 0 <= i < width:
            raise DataError(f"{path}: no {what} column {spec} (columns are numbered 1 to {width})")
        return i
    if header is not None:
        lowered = [c.lower() for c in header]
        if spec.lower() in lowered:
            return lowered.index(spec.lower())
        raise DataError(f"{path}: no {what} column {spec!r} (the header has {', '.join(map(repr, header))})")
    raise DataError(f"{path}: no {what} column {spec!r}: the file has no header row "
                    f"(give a column number, 1 to {width})")


def _guess_columns(path, header, body, width, ti, li) -> tuple[int, int]:
    if header is not None:
        lowered = [c.lower() for c in header]
        if ti is None:
            ti = next((lowered.index(n) for n in TEXT_NAMES if n in lowered), None)
        if li is None:
            li = next((lowered.index(n) for n in LABEL_NAMES if n in lowered), None)
        if ti is not None and li is not None:
            return ti, li
    if width < 2:
        raise DataError(f"{path} has one column: a table needs a label column and a text column")
    sample = [cells for _, cells in body[:2000]]
    columns = [[cells[i] if i < len(cells) else "" for cells in sample] for i in range(width)]
    if ti is None:
        ti = max((i for i in range(width) if i != li), key=lambda i: sum(len(c) for c in columns[i]))
    if li is None:
        li = min((i for i in range(width) if i != ti), key=lambda i: (len(set(columns[i])), i))
    return ti, li


# -- a path to a corpus ---------------------------------------------------------------------

def read_file(path: Path, text_column=None, label_column=None, fine=False, note=note_to_stderr) -> tuple[str, Examples]:
    """(layout, examples) of one file: .label is TREC, .tsv/.csv a table; any other file is
    TREC if its first lines are, a table if they all hold a tab."""
    suffix = path.suffix.lower()
    if suffix in TREC_SUFFIXES:
        return "trec", read_trec(path, fine, note)
    if suffix in TABLE_SUFFIXES:
        return "table", read_table(path, text_column, label_column, note=note)
    head = numbered_lines(read_text(path, lambda _: None))[:50]
    if head and all(TREC_LABEL.match(line.partition(" ")[0]) for _, line in head):
        return "trec", read_trec(path, fine, note)
    if head and all("\t" in line for _, line in head):
        return "table", read_table(path, text_column, label_column, "\t", note)
    raise DataError(f"{path}: one plain text file is one class; give the folder of class files "
                    "(one file per class), a .tsv/.csv table or a TREC .label file")


def data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and not NOT_DATA.match(p.name))


def read_corpus(path: str | Path, text_column: str | None = None, label_column: str | None = None,
                fine: bool = False, note=note_to_stderr) -> Corpus:
    """Read --data PATH: a file (table or TREC) or a folder (split files or class files)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file or folder: {path}")
    name = path.stem if path.is_file() else path.resolve().name
    if path.is_file():
        layout, ex = read_file(path, text_column, label_column, fine, note)
        return _corpus(name, path, layout, {"train": ex})
    files = data_files(path)
    if not files:
        raise DataError(f"{path}: no data files in the folder")
    splits = _split_files(files)
    if splits is not None:
        parts = {"train": read_file(splits.pop("train"), text_column, label_column, fine, note)[1]}
        if parts["train"].columns is not None:       # the other files' columns are train's
            text_column, label_column = (str(i + 1) for i in parts["train"].columns)
        parts.update({split: read_file(f, text_column, label_column, fine, note)[1] for split, f in splits.items()})
        return _corpus(name, path, "splits", parts)
    if len(files) == 1:
        layout, ex = read_file(files[0], text_column, label_column, fine, note)
        return _corpus(name, path, layout, {"train": ex})
    ex = Examples()
    for f, label in zip(files, class_names(files)):
        ex.extend(read_class_file(f, label, note))
    return _corpus(name, path, "classes", {"train": ex})


def _split_files(files: list[Path]) -> dict[str, Path] | None:
    """{"train": f, "test": f, ...} if the files are named train*, dev*/val*, test* (and all are)."""
    found: dict[str, Path] = {}
    for f in files:
        split = next((s for prefix, s in SPLIT_PREFIXES if f.name.lower().startswith(prefix)), None)
        if split is None or split in found:
            return None
        found[split] = f
    if "train" not in found or len(found) < 2:
        return None
    if "test" not in found:                      # train + dev: dev is what we can report on
        found["test"] = found.pop("val")
    return found


def class_names(files: list[Path]) -> list[str]:
    """The part of each name that tells the files apart: the stem, else the extension."""
    stems = [f.name.split(".", 1)[0] for f in files]
    if len(set(stems)) == len(files):
        return stems
    suffixes = [f.name.split(".", 1)[1] if "." in f.name else "" for f in files]
    if len(set(suffixes)) == len(files) and all(suffixes):
        return suffixes
    return [f.name for f in files]


def _corpus(name: str, path: Path, layout: str, parts: dict[str, Examples]) -> Corpus:
    classes = sort_labels(set(parts["train"].labels))
    for split, ex in parts.items():
        extra = sorted(set(ex.labels) - set(classes))
        if extra:
            raise DataError(f"{path}: {split} label {extra[0]!r} is not a class of the training data "
                            f"({', '.join(classes[:10])}{', ...' if len(classes) > 10 else ''})")
    if len(classes) < 2:
        raise DataError(f"{path}: one class only ({classes[0]!r}); classification needs two or more")
    return Corpus(name=name, path=str(path.resolve()), layout=layout, parts=parts, classes=classes)


def sort_labels(labels) -> list[str]:
    labels = list(labels)
    if all(re.fullmatch(r"-?\d+", s) for s in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def looks_like_text_data(path: Path) -> bool:
    """Cheap check for task selection: a text file by name, or a folder of files (no
    sub-folders) named as text files or whose first bytes have no NUL byte."""
    if path.is_file():
        return path.suffix.lower() in TEXT_SUFFIXES
    if not path.is_dir():
        return False
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    if not entries or any(p.is_dir() for p in entries):
        return False
    files = [p for p in entries if not NOT_DATA.match(p.name)]
    if not files:
        return False
    if all(f.suffix.lower() in TEXT_SUFFIXES for f in files):
        return True                  # named as text: a bad file among them is the text reader's to report
    for f in files[:20]:
        try:
            with open(f, "rb") as fh:
                head = fh.read(4096)
        except OSError:
            return False
        if b"\x00" in head or head.startswith(b"\x1f\x8b"):
            return False
    return True
