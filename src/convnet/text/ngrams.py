"""Which n-grams of a sentence won the max over time: the text counterpart of activation maps.

For each filter of width w the max over time picks one window of w words; that window's
activation is what the filter passes to the classifier. Summed per window this ranks the
sentence's n-grams by how much of the pooled feature vector they supply, and summed per word
(each window's activation spread over the words it covers, padding left out) it gives one
score a word for highlighting. For a model with `winning_windows(ids)` (models/kimcnn.py)."""

from __future__ import annotations

import torch

from convnet.errors import ConfigError


def ngram_highlights(model, config: dict, sentence: str, top: int = 5) -> dict:
    """{"tokens": [...], "word_scores": [float per token, sum 1], "ngrams": [{"words", "width",
    "start", "filters", "activation"}, ...] (the `top` windows by summed activation)}."""
    from convnet.tasks.text import encode, tokenize_all
    from convnet.text.vocab import Vocabulary

    if not hasattr(model, "winning_windows"):
        raise ConfigError(f"model {config['model']['name']!r} has no max-over-time windows to show")
    text = config["text"]
    tokens = tokenize_all([sentence], text)[0][:text["max_tokens"]]
    ids = encode(Vocabulary.from_dict(text["vocabulary"]), tokens, text["max_tokens"])
    shown = tokens or ["<unk>"]
    n = len(ids)
    x = torch.tensor([ids + [0] * max(0, text["min_length"] - n)])
    model.eval()
    windows: dict[tuple[int, int], list] = {}          # (start, width) -> [filters, activation]
    scores = torch.zeros(n)
    for w, value, start in model.winning_windows(x):
        for v, s in zip(value[0].tolist(), start[0].tolist()):
            if v <= 0:
                continue                                  # a filter that found nothing adds nothing
            lo, hi = max(s, 0), min(s + w, n)           # the words of the window (padding left out)
            entry = windows.setdefault((s, w), [0, 0.0])
            entry[0] += 1
            entry[1] += v
            scores[lo:hi] += v / (hi - lo)
    total = scores.sum().item()
    ranked = sorted(windows.items(), key=lambda kv: -kv[1][1])[:top]
    return {"tokens": shown,
            "word_scores": (scores / total).tolist() if total > 0 else [0.0] * n,
            "ngrams": [{"words": " ".join(shown[max(s, 0):min(s + w, n)]), "width": w, "start": s,
                        "filters": k, "activation": a} for (s, w), (k, a) in ranked]}
