"""The vocabulary: tokens <-> ids, built from the training sentences only.

Id 0 is <pad> (the zero vector the batches are padded with) and id 1 is <unk> (every token
the vocabulary lacks, and every token seen fewer than `min_freq` times in training); the
others follow by falling frequency, ties in alphabetical order, so the same sentences give
the same ids on every machine. Stored in config.json as
    {"min_freq": 1, "tokens": ["<pad>", "<unk>", "the", ",", ...]}"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from convnet.errors import ConfigError, DataError

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


class Vocabulary:
    def __init__(self, tokens: list[str], min_freq: int = 1):
        if tokens[:2] != [PAD, UNK]:
            raise DataError(f"a vocabulary starts with {PAD!r}, {UNK!r}, not {tokens[:2]!r}")
        self.tokens = list(tokens)
        self.min_freq = min_freq
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise DataError("the vocabulary lists a token twice")

    @classmethod
    def build(cls, sentences: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None) -> "Vocabulary":
        """From tokenised sentences: every token seen at least min_freq times (the max_size
        most frequent if given), after <pad> and <unk>."""
        if min_freq < 1:
            raise ConfigError(f"minimum word frequency must be at least 1, got {min_freq}")
        counts = Counter(t for s in sentences for t in s)
        counts.pop(PAD, None), counts.pop(UNK, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max(0, max_size - 2)]
        return cls([PAD, UNK, *kept], min_freq)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str]) -> list[int]:
        """Ids of tokens; unknown ones (and a literal "<pad>") are <unk>, never padding."""
        get = self.index.get
        return [i if (i := get(t, UNK_ID)) != PAD_ID else UNK_ID for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    def to_dict(self) -> dict:
        return {"min_freq": self.min_freq, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        try:
            return cls(list(d["tokens"]), int(d.get("min_freq", 1)))
        except (KeyError, TypeError, ValueError):
            raise DataError("config.json: the vocabulary is missing or malformed") from None
