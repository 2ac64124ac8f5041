"""Kim 2014's `clean_str` tokeniser (process_data.py of yoonkim/CNN_sentence), with two fixes.

Kim's function keeps letters, digits and ( ) , ! ? ' `, splits the clitics 's 've n't 're 'd
'll off their words, puts spaces around , ! ( ) ?, squeezes spaces and lower-cases. On ASCII
text this tokeniser gives the same tokens, except that Kim's replacement strings " \\( ",
" \\) " and " \\? " wrote a backslash into the text (Python keeps an unknown escape as it is),
so his parentheses and question marks became the tokens "\\(", "\\)" and "\\?"; here they
are "(", ")" and "?". Letters beyond ASCII (é, ß, ...) are kept as letters rather than
turned into spaces, so a Windows-1252 "café" is one word, not "caf". The settings are stored
in each run's config.json ("text": {"tokenizer", "lower"}) so prediction tokenises exactly as
training did."""

from __future__ import annotations

import re

from convnet.errors import ConfigError

# everything but letters (any script), digits and ( ) , ! ? ' ` becomes a space
_DROP = re.compile(r"[^\w(),!?'`]|_")
_CLITICS = re.compile(r"('s|'ve|n't|'re|'d|'ll)")
_PUNCT = re.compile(r"([,!()?])")
_SPACES = re.compile(r"\s{2,}")

TOKENIZERS = ("clean_str", "whitespace")


def clean_str(text: str, lower: bool = True) -> str:
    """Kim's cleaning: 'It's (very) good!' -> "it 's ( very ) good !"."""
    text = _DROP.sub(" ", text)
    text = _CLITICS.sub(r" \1", text)
    text = _PUNCT.sub(r" \1 ", text)
    text = _SPACES.sub(" ", text).strip()
    return text.lower() if lower else text


def tokenize(text: str, tokenizer: str = "clean_str", lower: bool = True) -> list[str]:
    """The tokens of one sentence. "whitespace" splits an already tokenised text as it is."""
    if tokenizer == "clean_str":
        return clean_str(text, lower).split()
    if tokenizer == "whitespace":
        return (text.lower() if lower else text).split()
    raise ConfigError(f"unknown tokenizer {tokenizer!r} (choose {', '.join(TOKENIZERS)})")
