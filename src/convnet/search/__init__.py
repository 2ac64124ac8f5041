"""Photo search from any trained image run: embeddings (the penultimate features), an exact
similarity index, retrieval figures, near-duplicate groups and k-means clusters.

    from convnet.search import embed, Index
    gallery = embed("runs/fm", data=None, split="train")     # the run's own training split
    index = Index.build(gallery); index.save("fm-index")
    scores, rows = Index.load("fm-index").search(embed("runs/fm", ["query.png"]).vectors, k=5)
"""

from convnet.search.embed import Embedder, Embeddings, embed
from convnet.search.index import Index, retrieval_figures, top_k

__all__ = ["Embedder", "Embeddings", "Index", "embed", "retrieval_figures", "top_k"]
