"""k-means on embeddings (torch, seeded, k-means++ start), its agreement with labels, and a
2-D map of the embeddings.

OUT_DIR after `convnet cluster`:
    clusters.json       {"k", "n", "inertia", "sizes", "purity", "nmi" (when labels are known),
                         "members": [[item, ...] per cluster]}
    cluster-NN.png      a montage of up to 64 members of cluster NN, nearest its centre first
    map.png             the embeddings in 2-D (PCA, or t-SNE when scikit-learn is installed
                        and asked for), coloured by label (or by cluster without labels)"""

from __future__ import annotations

import numpy as np
import torch

from convnet.errors import DataError


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 100, tol: float = 1e-6):
    """(assignments int64 [N], centres float32 [k, D], inertia) of x [N, D]: k-means++ seeding
    (each new centre drawn with probability proportional to squared distance to the nearest
    chosen one), then Lloyd steps until the inertia stops falling by tol (relative)."""
    if not 1 <= k <= len(x):
        raise DataError(f"--k {k}: there are {len(x)} items to cluster")
    g = torch.Generator().manual_seed(seed)
    v = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32)
    centres = v[torch.randint(len(v), (1,), generator=g)]
    d2 = _sq_dist(v, centres).squeeze(1)
    for _ in range(1, k):
        probs = d2.clamp_min(0) + 1e-12 * (d2.sum() == 0)          # all equal: uniform
        pick = torch.multinomial(probs, 1, generator=g)
        centres = torch.cat([centres, v[pick]])
        d2 = torch.minimum(d2, _sq_dist(v, v[pick]).squeeze(1))
    last = float("inf")
    for _ in range(iters):
        dist = _sq_dist(v, centres)                                # [N, k]
        best, assign = dist.min(1)
        inertia = float(best.clamp_min(0).sum())
        sums = torch.zeros_like(centres).index_add_(0, assign, v)
        counts = torch.bincount(assign, minlength=k).float()
        empty = counts == 0                                        # an empty cluster keeps its centre
        centres = torch.where(empty[:, None], centres, sums / counts.clamp_min(1)[:, None])
        if last - inertia <= tol * max(last, 1e-12):
            break
        last = inertia
    dist = _sq_dist(v, centres)
    best, assign = dist.min(1)
    return assign.numpy().astype(np.int64), centres.numpy(), float(best.clamp_min(0).sum())


def _sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances [N, M] of a [N, D] and b [M, D]."""
    return (a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)[None, :]


def purity(labels: np.ndarray, clusters: np.ndarray) -> float:
    """The fraction of items in their cluster's most common label."""
    table = _contingency(labels, clusters)
    return float(table.max(0).sum() / table.sum())


def nmi(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Normalised mutual information I(L; C) / ((H(L) + H(C)) / 2) (the arithmetic mean,
    scikit-learn's default); 1.0 when both partitions are a single set."""
    table = _contingency(labels, clusters).astype(np.float64)
    n = table.sum()
    p = table / n
    pl, pc = p.sum(1), p.sum(0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / (pl[:, None] * pc[None, :])[nz])).sum())
    h = lambda q: float(-(q[q > 0] * np.log(q[q > 0])).sum())      # noqa: E731
    hl, hc = h(pl), h(pc)
    if hl == 0 and hc == 0:
        return 1.0
    return max(0.0, mi / ((hl + hc) / 2)) if hl + hc > 0 else 0.0


def _contingency(labels: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    _, li = np.unique(labels, return_inverse=True)
    _, ci = np.unique(clusters, return_inverse=True)
    table = np.zeros((li.max() + 1, ci.max() + 1), np.int64)
    np.add.at(table, (li, ci), 1)
    return table


def pca_2d(x: np.ndarray) -> np.ndarray:
    """float [N, 2]: x [N, D] on its two principal axes."""
    v = torch.as_tensor(x, dtype=torch.float64)
    v = v - v.mean(0)
    _, _, vt = torch.linalg.svd(v, full_matrices=False)
    return (v @ vt[:2].T).numpy()


def tsne_2d(x: np.ndarray, seed: int = 0) -> np.ndarray:
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        from convnet.errors import ConfigError

        raise ConfigError("--map tsne needs scikit-learn (pip install scikit-learn); --map pca needs nothing") from None
    return TSNE(2, init="pca", random_state=seed, perplexity=min(30.0, max(2.0, (len(x) - 1) / 3))).fit_transform(x)


def draw_map(out, xy: np.ndarray, colour: np.ndarray, names: list[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from convnet.fileio import atomic_write

    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for c, name in enumerate(names):
        m = colour == c
        if m.any():
            ax.scatter(xy[m, 0], xy[m, 1], s=3, color=cmap(c % cmap.N), label=name)
    ax.set_title(title)
    ax.legend(markerscale=4, fontsize=7, loc="best")
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def draw_montage(out, images: np.ndarray, title: str) -> None:
    """images uint8 [M, C, H, W] in a square grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from convnet.fileio import atomic_write

    side = int(np.ceil(np.sqrt(max(1, len(images)))))
    fig, axes = plt.subplots(side, side, figsize=(side * 0.9, side * 0.9 + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(images):
            im = images[k]
            ax.imshow(im[0] if im.shape[0] == 1 else np.transpose(im, (1, 2, 0)), cmap="gray", vmin=0, vmax=255)
    fig.suptitle(title, fontsize=9)
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=80))
    plt.close(fig)
