"""CTC decoding and the character error rate.

A CTC model emits, for each of T columns, log-probabilities over the blank (index 0) and the
alphabet (index i is alphabet[i - 1]). A path of T symbols reads as text by merging repeats
and then dropping blanks ("aa-ab" -> "aab"). Greedy decoding takes the best symbol of each
column; the prefix beam search (Hannun et al. 2014, "First-pass large vocabulary continuous
speech recognition using bi-directional recurrent DNNs") keeps the `width` most probable texts,
summing the probability of all the paths that read as each, split into paths ending in a blank
and paths ending in the text's last character (so "a-a" and "aa" stay apart).

The character error rate of a set of lines is the sum of their edit distances (Levenshtein:
insertions, deletions and substitutions, each 1) over the sum of the reference lengths."""

from __future__ import annotations

import math

import numpy as np

BLANK = 0


def collapse(path, alphabet: str) -> str:
    """The text a path of symbol indices reads as: repeats merged, then blanks dropped."""
    out, previous = [], BLANK
    for s in path:
        s = int(s)
        if s != previous and s != BLANK:
            out.append(alphabet[s - 1])
        previous = s
    return "".join(out)


def greedy(log_probs, alphabet: str) -> str:
    """float [T, K+1] -> the text of the best path (the argmax of each column)."""
    return collapse(np.asarray(log_probs).argmax(1), alphabet)


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


def beam(log_probs, alphabet: str, width: int = 8, prune: float = -12.0) -> list[tuple[str, float]]:
    """float [T, K+1] log-probabilities -> up to `width` (text, log-probability) pairs, most
    probable first; the log-probability sums over every path that reads as the text.
    Symbols of a column below `prune` (log-probability) are not tried: they cannot matter."""
    lp = np.asarray(log_probs, dtype=np.float64)
    # prefix (tuple of symbol indices) -> (log P(paths ending in blank), log P(ending in last symbol))
    beams: dict[tuple, tuple[float, float]] = {(): (0.0, -math.inf)}
    for t in range(lp.shape[0]):
        column = lp[t]
        tried = [s for s in range(1, len(column)) if column[s] > prune]
        nxt: dict[tuple, list[float]] = {}

        def add(prefix, blank_p, last_p):
            if blank_p == -math.inf and last_p == -math.inf:
                return                      # no path reads as it (a repeat with no blank between)
            b, n = nxt.get(prefix, (-math.inf, -math.inf))
            nxt[prefix] = (_logsumexp(b, blank_p), _logsumexp(n, last_p))

        for prefix, (pb, pn) in beams.items():
            total = _logsumexp(pb, pn)
            add(prefix, total + column[BLANK], -math.inf)        # a blank: the text stays
            for s in tried:
                p = column[s]
                if prefix and prefix[-1] == s:
                    add(prefix, -math.inf, pn + p)                # a repeat merges with the last symbol
                    add(prefix + (s,), -math.inf, pb + p)         # ... unless a blank came between
                else:
                    add(prefix + (s,), -math.inf, total + p)
        ranked = sorted(nxt.items(), key=lambda kv: _logsumexp(*kv[1]), reverse=True)
        beams = dict(ranked[:width])
    ranked = sorted(beams.items(), key=lambda kv: _logsumexp(*kv[1]), reverse=True)
    return [("".join(alphabet[s - 1] for s in prefix), _logsumexp(*ps)) for prefix, ps in ranked]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions from a to b."""
    if len(a) < len(b):
        a, b = b, a
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ca != cb))
    return row[-1]


def error_rates(references: list[str], hypotheses: list[str]) -> dict:
    """{"cer", "exact", "errors", "chars", "n"} of hypotheses against references: the CER is the
    sum of edit distances over the sum of reference lengths, exact the share of equal lines."""
    errors = sum(edit_distance(r, h) for r, h in zip(references, hypotheses, strict=True))
    chars = sum(len(r) for r in references)
    exact = sum(r == h for r, h in zip(references, hypotheses))
    n = len(references)
    return {"cer": errors / chars if chars else 0.0, "exact": exact / n if n else 0.0,
            "errors": errors, "chars": chars, "n": n}
