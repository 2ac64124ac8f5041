"""Optical character recognition of text lines: the data (a folder of line images with a
`labels.tsv`, and the built-in generator of handwritten digit strings), CTC decoding, the
character error rate and the page splitter. No torch import at module top level except in
decode.py's tensor helpers; the task is tasks/ocr.py, the model models/crnn.py."""
