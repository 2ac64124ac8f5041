"""Text readers, Kim's tokeniser, the vocabulary and the word-vector readers (convnet.text).

Oracles: the published sizes of Kim's data sets (Li & Roth's TREC class counts, the README's
table), Kim's own clean_str copied verbatim, and vectors the tests write themselves."""

from __future__ import annotations

import gzip
import re
import struct
from collections import Counter

import numpy as np
import pytest

from convnet.errors import ConfigError, DataError
from convnet.text.readers import class_names, decode, looks_like_text_data, read_corpus, read_table
from convnet.text.tokenize import clean_str, tokenize
from convnet.text.vectors import detect_format, embedding_matrix, read_vectors
from convnet.text.vocab import PAD_ID, UNK_ID, Vocabulary


def notes():
    seen = []
    return seen, seen.append


# -- the shared data sets, as published -----------------------------------------------------

def test_trec_has_li_and_roths_5452_questions_in_6_coarse_and_50_fine_classes(shared_datasets):
    path = shared_datasets / "text" / "trec" / "train_5500.label"
    seen, note = notes()
    c = read_corpus(path, note=note)
    counts = Counter(c.parts["train"].labels)
    # Li & Roth 2002, table of the 5,500-question training set
    assert counts == {"ABBR": 86, "DESC": 1162, "ENTY": 1250, "HUM": 1223, "LOC": 835, "NUM": 896}
    assert c.layout == "trec" and c.classes == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert len(seen) == 1 and "not UTF-8" in seen[0] and "Windows-1252" in seen[0]   # Latin-1 bytes, said once
    fine = read_corpus(path, fine=True, note=lambda _: None)
    assert len(fine.classes) == 50 and all(re.fullmatch(r"[A-Z]+:\S+", k) for k in fine.classes)
    assert fine.parts["train"].texts == c.parts["train"].texts
    assert not any(t.startswith(("DESC", "ENTY")) for t in c.parts["train"].texts[:100])


@pytest.mark.parametrize("folder,sizes", [("mr", {"neg": 5331, "pos": 5331}),
                                          ("subj", {"objective": 5000, "subjective": 5000})])
def test_class_file_folders_have_the_published_sizes(shared_datasets, folder, sizes):
    c = read_corpus(shared_datasets / "text" / folder, note=lambda _: None)
    assert c.layout == "classes" and Counter(c.parts["train"].labels) == sizes


def test_empty_lines_are_skipped(shared_datasets):
    """MPQA's files have 3,312 and 7,294 lines (the published sizes), a few of them empty."""
    folder = shared_datasets / "text" / "mpqa"
    c = read_corpus(folder, note=lambda _: None)
    for label, published in (("pos", 3312), ("neg", 7294)):
        raw = (folder / f"mpqa.{label}").read_bytes().split(b"\n")
        lines = raw[:-1] if raw[-1] == b"" else raw
        non_empty = sum(1 for line in lines if line.strip())
        assert len(lines) == published and non_empty < published
        assert c.parts["train"].labels.count(label) == non_empty


def test_mr_ellipsis_bytes_are_not_line_breaks(shared_datasets):
    """0x85 is U+0085 (NEL, a line break to str.splitlines) in Latin-1 but '…' in Windows-1252."""
    path = shared_datasets / "text" / "mr" / "rt-polarity.pos"
    raw = path.read_bytes()
    assert b"\x85" in raw
    c = read_corpus(path.parent, note=lambda _: None)
    pos = [t for t, label in zip(c.parts["train"].texts, c.parts["train"].labels) if label == "pos"]
    assert len(pos) == sum(1 for line in raw.split(b"\n") if line.strip()) == 5331
    assert any("…" in t for t in pos)


def test_sst2_folder_is_read_as_train_and_dev_splits(shared_datasets):
    c = read_corpus(shared_datasets / "text" / "sst2", note=lambda _: None)
    assert c.layout == "splits" and set(c.parts) == {"train", "test"}     # dev is what we report on
    assert len(c.parts["train"]) == 6920 and len(c.parts["test"]) == 872
    assert c.classes == ["0", "1"]
    assert c.parts["test"].texts[0] == "one long string of cliches ."


def test_every_shared_text_folder_is_claimed(shared_datasets):
    for folder in (shared_datasets / "text").iterdir():
        assert looks_like_text_data(folder), folder
    assert not looks_like_text_data(shared_datasets / "fashion-mnist")      # gzip files
    assert not looks_like_text_data(shared_datasets / "fsdd")               # a sub-folder of WAVs


# -- encodings and bad bytes ------------------------------------------------------------------

def test_latin1_class_files_decode_with_one_note_each(tmp_path):
    (tmp_path / "good.txt").write_bytes("un café crème\nsehr gut\n".encode("latin-1"))
    (tmp_path / "bad.txt").write_bytes("pas bon\n\n\nschlecht\r\n".encode("utf-8"))
    seen, note = notes()
    c = read_corpus(tmp_path, note=note)
    ex = c.parts["train"]
    assert sorted(zip(ex.labels, ex.texts)) == [("bad", "pas bon"), ("bad", "schlecht"),
                                                ("good", "sehr gut"), ("good", "un café crème")]
    assert len(seen) == 1 and "good.txt" in seen[0]


def test_bytes_windows_1252_leaves_undefined_keep_their_latin1_meaning():
    text = "x" * 200 + "\x81"
    assert decode(b"x" * 200 + b"\x81", "f", lambda _: None) == text
    assert decode(b"\x93quoted\x94 \x80 5", "f", lambda _: None) == "\u201cquoted\u201d \u20ac 5"


def test_utf8_bom_and_utf16_are_read():
    assert decode("\ufeffhé".encode("utf-8"), "f") == "hé"
    assert decode("hé there\n".encode("utf-16"), "f") == "hé there\n"


@pytest.mark.parametrize("data,message", [(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
                                          (bytes(range(1, 32)) * 20 + b"abc", "does not read as text")])
def test_binary_and_garbage_files_are_one_line_errors(tmp_path, data, message):
    (tmp_path / "a.txt").write_bytes(data)
    (tmp_path / "b.txt").write_bytes(b"fine words\n")
    with pytest.raises(DataError, match=message) as e:
        read_corpus(tmp_path, note=lambda _: None)
    assert "a.txt" in str(e.value) and "\n" not in str(e.value)


def test_random_bytes_never_pass_as_text(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(1, 256, 5000, dtype=np.uint8).tobytes()       # no NUL: the control check must catch it
    with pytest.raises(DataError):
        decode(data, "random.bin")


def test_empty_class_file_and_single_class_are_refused(tmp_path):
    (tmp_path / "pos.txt").write_text("nice\n")
    (tmp_path / "neg.txt").write_text("\n  \n")
    with pytest.raises(DataError, match="class 'neg' has no examples"):
        read_corpus(tmp_path)
    one = tmp_path / "one.tsv"
    one.write_text("a\tsome text\na\tmore text\n")
    with pytest.raises(DataError, match="one class only"):
        read_corpus(one)


def test_readme_and_hidden_files_are_not_classes(tmp_path):
    for name, text in [("README.md", "# about\n"), (".DS_Store", "x\n"), ("a.txt", "one\n"), ("b.txt", "two\n")]:
        (tmp_path / name).write_text(text)
    assert read_corpus(tmp_path).classes == ["a", "b"]


def test_class_names_are_the_part_that_differs(tmp_path):
    paths = [tmp_path / n for n in ("rt-polarity.neg", "rt-polarity.pos")]
    assert class_names(paths) == ["neg", "pos"]
    assert class_names([tmp_path / "objective.txt", tmp_path / "subjective.txt"]) == ["objective", "subjective"]


# -- tables -----------------------------------------------------------------------------------

def test_tsv_with_a_header_finds_columns_by_name_and_keeps_bare_quotes(tmp_path):
    p = tmp_path / "glue.tsv"
    p.write_text('sentence\tlabel\nit \'s "great"\t1\nawful , just awful\t0\n')
    ex = read_table(p)
    assert ex.texts == ['it \'s "great"', "awful , just awful"] and ex.labels == ["1", "0"]


def test_csv_quoting_and_explicit_columns(tmp_path):
    p = tmp_path / "reviews.csv"
    p.write_text('id,stars,review\n1,5,"good, really good"\n2,1,"bad ""very"" bad"\n')
    ex = read_table(p, text_column="review", label_column="stars")
    assert ex.texts == ["good, really good", 'bad "very" bad'] and ex.labels == ["5", "1"]
    assert read_table(p, text_column="3", label_column="2").texts == ex.texts      # numbers count from 1


def test_headerless_table_guesses_label_and_text_columns(tmp_path):
    p = tmp_path / "train.tsv"
    p.write_text("1\ta stirring , funny film\n0\tflat and dull\n1\tfine\n")
    ex = read_table(p)
    assert ex.labels == ["1", "0", "1"] and ex.texts[0] == "a stirring , funny film"


def test_missing_columns_are_named_in_the_error(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("label,text\npos,nice\nneg,bad\n")
    with pytest.raises(DataError, match=r"no label column 'sentiment' \(the header has 'label', 'text'\)"):
        read_table(p, label_column="sentiment")
    with pytest.raises(DataError, match="no text column 7"):
        read_table(p, text_column="7")
    bare = tmp_path / "bare.tsv"
    bare.write_text("pos\tnice\nneg\tbad\n")
    with pytest.raises(DataError, match="no header row"):
        read_table(bare, label_column="polarity2")


def test_split_labels_must_be_classes_of_train(tmp_path):
    (tmp_path / "train.tsv").write_text("a\tx y\nb\ty z\n")
    (tmp_path / "test.tsv").write_text("c\tz\n")
    with pytest.raises(DataError, match="test label 'c' is not a class"):
        read_corpus(tmp_path)


def test_trec_format_errors_name_the_line(tmp_path):
    p = tmp_path / "q.label"
    p.write_text("NUM:date When was it ?\nwhat is this ?\n")
    with pytest.raises(DataError, match=r"line 2: 'what is this \?' is not in the TREC format"):
        read_corpus(p)


def test_a_single_plain_text_file_is_refused_with_advice(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("just some sentences\nand more of them\n")
    with pytest.raises(DataError, match="one plain text file is one class"):
        read_corpus(p)


# -- Kim's tokeniser ---------------------------------------------------------------------------

def kim_clean_str(string, TREC=False):
    """yoonkim/CNN_sentence process_data.py, verbatim (raw strings for the replacements that
    held invalid escapes: the same values, without Python 3.12's SyntaxWarning)."""
    string = re.sub(r"[^A-Za-z0-9(),!?\'\`]", " ", string)
    string = re.sub(r"\'s", " \'s", string)
    string = re.sub(r"\'ve", " \'ve", string)
    string = re.sub(r"n\'t", " n\'t", string)
    string = re.sub(r"\'re", " \'re", string)
    string = re.sub(r"\'d", " \'d", string)
    string = re.sub(r"\'ll", " \'ll", string)
    string = re.sub(r",", " , ", string)
    string = re.sub(r"!", " ! ", string)
    string = re.sub(r"\(", r" \( ", string)
    string = re.sub(r"\)", r" \) ", string)
    string = re.sub(r"\?", r" \? ", string)
    string = re.sub(r"\s{2,}", " ", string)
    return string.strip() if TREC else string.strip().lower()


def test_clean_str_examples():
    assert clean_str("It's (very) good, isn't it?!") == "it 's ( very ) good , is n't it ? !"
    assert clean_str("We'll see; they'd've been \"fine\"") == "we 'll see they 'd 've been fine"
    assert clean_str("What's the CAPITAL of France?", lower=False) == "What 's the CAPITAL of France ?"
    assert tokenize("  ...  ") == []
    assert clean_str("un café") == "un café"          # Kim's ASCII class would give "un caf"
    assert kim_clean_str("un café") == "un caf"
    with pytest.raises(ConfigError, match="unknown tokenizer 'nltk'"):
        tokenize("x", "nltk")


@pytest.mark.parametrize("path", ["mr/rt-polarity.neg", "trec/train_5500.label", "cr/custrev.pos",
                                  "subj/objective.txt", "sst2/dev.tsv"])
def test_clean_str_matches_kims_on_every_ascii_line(shared_datasets, path):
    raw = (shared_datasets / "text" / path).read_bytes().decode("latin-1").split("\n")
    lines = [line for line in raw if line.strip() and line.isascii()]
    assert len(lines) > 500
    for line in lines:
        kim = kim_clean_str(line).replace("\\(", "(").replace("\\)", ")").replace("\\?", "?")
        assert clean_str(line) == kim, line


# -- vocabulary ----------------------------------------------------------------------------------

def test_vocabulary_ids_frequency_order_min_freq_and_unknowns():
    sents = [["the", "cat", "sat"], ["the", "dog", "sat"], ["the", "<pad>", "emu"]]
    v = Vocabulary.build(sents)
    assert v.tokens == ["<pad>", "<unk>", "the", "sat", "cat", "dog", "emu"]   # by count, ties a-z
    assert v.encode(["the", "gnu", "<pad>"]) == [2, UNK_ID, UNK_ID]            # never the padding id
    v2 = Vocabulary.build(sents, min_freq=2)
    assert v2.tokens == ["<pad>", "<unk>", "the", "sat"] and v2.encode(["cat"]) == [UNK_ID]
    assert Vocabulary.from_dict(v2.to_dict()).tokens == v2.tokens and PAD_ID == 0
    assert len(Vocabulary.build(sents, max_size=4)) == 4
    with pytest.raises(ConfigError):
        Vocabulary.build(sents, min_freq=0)
    with pytest.raises(DataError, match="malformed"):
        Vocabulary.from_dict({"min_freq": 1})


# -- word vectors ------------------------------------------------------------------------------

WORDS = ["the", "Paris", "good", "bad"]


def write_vectors(tmp_path, matrix):
    rows = [f"{w} " + " ".join(f"{x:.6f}" for x in v) for w, v in zip(WORDS, matrix)]
    header = f"{len(WORDS)} {matrix.shape[1]}\n"
    (tmp_path / "w2v.txt").write_text(header + "\n".join(rows) + "\n")
    (tmp_path / "glove.txt").write_text("\n".join(rows) + "\n")
    binary = header.encode() + b"".join(w.encode() + b" " + struct.pack(f"<{len(v)}f", *v) + b"\n"
                                        for w, v in zip(WORDS, matrix))
    (tmp_path / "w2v.bin").write_bytes(binary)
    (tmp_path / "w2v.bin.gz").write_bytes(gzip.compress(binary))
    return ["w2v.txt", "glove.txt", "w2v.bin", "w2v.bin.gz"]


def test_three_formats_give_the_vectors_that_were_written(tmp_path):
    matrix = np.random.default_rng(0).normal(size=(4, 5)).round(6).astype(np.float32)
    files = write_vectors(tmp_path, matrix)
    assert [detect_format(tmp_path / f) for f in files] == ["word2vec-text", "glove", "word2vec-binary",
                                                            "word2vec-binary"]
    tokens = ["<pad>", "<unk>", "the", "paris", "good", "emu"]
    for f in files:
        found, dim = read_vectors(tmp_path / f, set(tokens))
        assert dim == 5 and set(found) == {"the", "paris", "good"}, f     # "Paris" found lower-cased
        m, hits = embedding_matrix(tokens, tmp_path / f, seed=1)
        assert hits == 3 and m.shape == (6, 5) and m.dtype == np.float32
        np.testing.assert_allclose(m[[2, 3, 4]], matrix[[0, 1, 2]], atol=1e-6)
        assert (m[PAD_ID] == 0).all() and (np.abs(m[[1, 5]]) <= 0.25).all()   # Kim's U[-0.25, 0.25]


def test_exact_case_wins_over_a_lower_cased_match(tmp_path):
    (tmp_path / "v.txt").write_text("Apple 1 1\napple 2 2\n")
    found, _ = read_vectors(tmp_path / "v.txt", {"apple", "Apple"})
    assert found["apple"].tolist() == [2, 2] and found["Apple"].tolist() == [1, 1]


def test_malformed_vector_files_are_one_line_errors(tmp_path):
    (tmp_path / "ragged.txt").write_text("a 1 2 3\nb 1 2\n")
    with pytest.raises(DataError, match=r"line 2: 2 numbers where the file's vectors have 3"):
        read_vectors(tmp_path / "ragged.txt", {"a"})
    (tmp_path / "nan.txt").write_text("a 1 x\n")
    with pytest.raises(DataError, match="not a number"):
        read_vectors(tmp_path / "nan.txt", {"a"})
    (tmp_path / "cut.bin").write_bytes(b"2 3\nword " + struct.pack("<3f", 1, 2, 3) + b"\nnext " + b"\x00\x00")
    with pytest.raises(DataError, match="cut short"):
        read_vectors(tmp_path / "cut.bin", {"word"})
