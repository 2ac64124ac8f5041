"""Retrieval quality of labelled queries against a labelled gallery, with raw pixels as the
baseline: the same queries and gallery, nearest neighbours by Euclidean distance between
their pixels at the network's input size (in [0, 1]), measured in the same call."""

from __future__ import annotations

import time

import numpy as np
import torch

from convnet.errors import DataError
from convnet.search.embed import Embedder, load_files, load_split
from convnet.search.index import Index, retrieval_figures, top_k


def gallery_images(index: Index, embedder: Embedder) -> torch.Tensor:
    """The gallery's images again, uint8 [N, C, H, W] at the run's input size."""
    source = index.info.get("source") or {}
    if source.get("kind") == "dataset":
        part, _, _ = load_split(embedder, source.get("data"), source.get("data_dir"), source["split"])
        images = part.images[index.gallery.indices]
    else:
        images, paths, _ = load_files(embedder, index.gallery.paths)
        if paths != index.gallery.paths:
            raise DataError(f"{index.path}: some gallery files are gone or no longer images; rebuild the index")
    return images


def query_set(embedder: Embedder, data, data_dir, split, inputs):
    """(uint8 images, class names [Q]) of labelled queries: a data set split or an image folder
    with class sub-folders."""
    if inputs:
        images, _, names = load_files(embedder, inputs)
        if any(n is None for n in names):
            raise DataError("--eval needs labelled queries: a folder with one sub-folder per class")
        return images, names
    part, classes, _ = load_split(embedder, data, data_dir, split)
    return part.images, [classes[i] for i in part.labels.tolist()]


def evaluate(index: Index, embedder: Embedder, data=None, data_dir=None, split="test", inputs=None,
             progress=False, pixels=True) -> dict:
    g = index.gallery
    if (g.labels < 0).all() or not g.classes:
        raise DataError(f"{index.path}: the gallery has no labels, so retrieval cannot be scored")
    images, names = query_set(embedder, data, data_dir, split, inputs)
    if len(images) == 0:
        raise DataError("no query images")
    lookup = {c: i for i, c in enumerate(g.classes)}
    q_labels = np.array([lookup.get(n, -2) for n in names], np.int64)        # -2: no gallery class
    counts = np.bincount(g.labels[g.labels >= 0], minlength=len(g.classes))
    relevant = np.where(q_labels >= 0, counts[np.maximum(q_labels, 0)], 0)
    k = min(10, len(g))
    start = time.perf_counter()
    vectors = embedder.embed_tensor(images, progress=progress, desc="queries")
    _, nn = top_k(vectors, g.vectors, k)
    seconds = time.perf_counter() - start
    out = {"n": len(images), "gallery": len(g), **retrieval_figures(g.labels[nn], q_labels, relevant),
           "seconds": round(seconds, 3)}
    if pixels:
        start = time.perf_counter()
        fit = embedder.preprocess.fit           # both sides at the network's input size and channels
        gallery = fit(gallery_images(index, embedder).float().div_(255)).reshape(len(g), -1)
        queries = fit(images.float().div(255)).reshape(len(images), -1)
        _, pnn = top_k(queries, gallery, k, metric="l2")
        figures = retrieval_figures(g.labels[pnn], q_labels, relevant)
        out.update({f"pixel_{key}": value for key, value in figures.items()})
        out["pixel_seconds"] = round(time.perf_counter() - start, 3)
    return out
