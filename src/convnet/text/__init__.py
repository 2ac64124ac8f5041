"""Text for sentence classification: readers, Kim's tokeniser, the vocabulary, word vectors.

    readers.py     a data path -> TextCorpus (sentences, labels, classes, split files)
    tokenize.py    clean_str: Kim 2014's regex tokeniser (lower case, punctuation, clitics)
    vocab.py       Vocabulary: token <-> id with <pad>=0, <unk>=1 and a minimum frequency
    vectors.py     word2vec (text or binary) and GloVe files -> vectors for a vocabulary
    batches.py     token ids -> padded [B, L] batches

No torch import at module level except in batches.py, so the readers stay cheap to import.
"""
