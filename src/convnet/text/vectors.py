"""Pre-trained word vectors: word2vec text or binary files and GloVe text files (gzip or not).

- word2vec text: a header line "COUNT DIM", then one "word v1 ... vDIM" a line;
- word2vec binary (GoogleNews-vectors-negative300.bin): the same header, then for each word
  its UTF-8 bytes, one space and DIM little-endian float32 (a newline between records in
  most files, which is skipped);
- GloVe text: "word v1 ... vDIM" lines, no header.
The format is told from the bytes (a "COUNT DIM" header; text or not after it), not from the
name. A file holds millions of words, so it is streamed and only the vocabulary's words are
kept: an exact match first, else the first (most frequent) word that lower-cases to it, so a
lower-cased vocabulary still finds "Paris". Words it lacks get U[-0.25, 0.25] vectors as in
Kim 2014, <pad> the zero vector."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np

from convnet.errors import DataError
from convnet.text.vocab import PAD_ID

KIM_UNIFORM = 0.25


def _open(path: Path):
    try:
        f = open(path, "rb")
    except OSError as e:
        raise DataError(f"cannot read word vectors {path}: {e.strerror or e}") from None
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")
    f.seek(0)
    return f


def detect_format(path: Path) -> str:
    """'word2vec-binary', 'word2vec-text' or 'glove'."""
    with _open(path) as f:
        try:
            head = f.read(65536)
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: unreadable word vectors ({e})") from None
    first, _, rest = head.partition(b"\n")
    fields = first.split()
    if len(fields) == 2 and all(x.isdigit() for x in fields):
        sample = rest[:4096]
        try:
            text = sample.decode("utf-8")
        except UnicodeDecodeError as e:
            # a multi-byte character cut at the end of the sample is still text
            text = sample[:e.start].decode("utf-8") if e.start > len(sample) - 4 else None
        if text is None or any(ord(c) < 32 and c not in "\t\n\r" for c in text):
            return "word2vec-binary"
        return "word2vec-text"
    return "glove"


def read_vectors(path: str | Path, wanted: set[str]) -> tuple[dict[str, np.ndarray], int]:
    """({word: float32 [DIM]} for the wanted words found, DIM)."""
    path = Path(path)
    fmt = detect_format(path)
    lowered: dict[str, list[str]] = {}           # lower-case form -> the wanted words with it
    for w in wanted:
        lowered.setdefault(w.lower(), []).append(w)
    found: dict[str, np.ndarray] = {}
    by_lower: dict[str, np.ndarray] = {}

    def offer(word: str, vec) -> None:
        if word in wanted:
            found[word] = np.asarray(vec, dtype=np.float32)
        else:
            key = word.lower()
            if key in lowered and key not in by_lower:
                by_lower[key] = np.asarray(vec, dtype=np.float32)

    with _open(path) as f:
        dim = (_read_binary if fmt == "word2vec-binary" else _read_text)(f, path, fmt, offer)
    for key, vec in by_lower.items():
        for word in lowered[key]:
            found.setdefault(word, vec)
    return found, dim


def _read_text(f, path: Path, fmt: str, offer) -> int:
    stream = io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline="\n")
    dim = None
    for n, line in enumerate(stream, 1):
        if n == 1 and fmt == "word2vec-text":
            dim = int(line.split()[1])
            continue
        parts = line.rstrip("\n").rstrip().split(" ")
        if len(parts) < 2:
            if not line.strip():
                continue
            raise DataError(f"{path}, line {n}: a word and its vector expected")
        if dim is None:
            dim = len(parts) - 1
        if len(parts) - 1 != dim:
            raise DataError(f"{path}, line {n}: {len(parts) - 1} numbers where the file's vectors have {dim}")
        try:
            vec = [float(x) for x in parts[1:]]
        except ValueError:
            raise DataError(f"{path}, line {n}: {parts[0]!r} has a value that is not a number") from None
        offer(parts[0], vec)
    if dim is None:
        raise DataError(f"{path} holds no word vectors")
    return dim


def _read_binary(f, path: Path, fmt: str, offer) -> int:
    header = f.readline().split()
    count, dim = int(header[0]), int(header[1])
    size = 4 * dim
    for i in range(count):
        word = bytearray()
        while True:
            c = f.read(1)
            if not c:
                raise DataError(f"{path}: ends at word {i + 1:,} of the {count:,} its header promises")
            if c == b" ":
                break
            if c != b"\n" or word:          # the newline after the previous vector
                word += c
        data = f.read(size)
        if len(data) < size:
            raise DataError(f"{path}: the vector of word {i + 1:,} is cut short")
        offer(word.decode("utf-8", errors="replace"), np.frombuffer(data, dtype="<f4"))
    return dim


def embedding_matrix(tokens: list[str], path: str | Path, seed: int = 0,
                     dim: int | None = None) -> tuple[np.ndarray, int]:
    """(float32 [len(tokens), DIM] initial embeddings, number of tokens found in the file):
    found words their vectors, the others U[-0.25, 0.25], <pad> zeros."""
    found, file_dim = read_vectors(path, set(tokens))
    if dim is not None and dim != file_dim:
        raise DataError(f"{path} has {file_dim}-dimensional vectors, the model wants {dim}")
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(-KIM_UNIFORM, KIM_UNIFORM, (len(tokens), file_dim)).astype(np.float32)
    hits = 0
    for i, t in enumerate(tokens):
        if t in found:
            matrix[i] = found[t]
            hits += 1
    matrix[PAD_ID] = 0.0
    if not np.isfinite(matrix).all():
        raise DataError(f"{path} holds a vector that is not finite")
    return matrix, hits
