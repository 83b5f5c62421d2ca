"""What the representation-based strategies compute on frame embeddings: k-center greedy
(core-set), k-means and typicality (TypiClust), and the mean similarity of information density.

Embeddings are rows of L2-normalised float32 vectors (:func:`normalise`); distances are
Euclidean, so on unit vectors ``d^2 = 2 - 2 cos``. Plain NumPy: vidal does not depend on
scikit-learn (it is installed only as one of FiftyOne's dependencies), and each of these is a
few matrix products. Work is done in blocks of rows, so that no ``F x F`` matrix is ever held
(18,000 frames would make one of 1.3 GB).
"""

from __future__ import annotations

import numpy as np

# Rows of a distance block: 4096 x 1000 float32 is 16 MB.
BLOCK = 4096
# TypiClust's neighbours for typicality (Hacohen et al., ICML 2022, section 4.1: K = 20).
TYPICALITY_NEIGHBOURS = 20
# Lloyd iterations of k-means at most; it stops earlier once no frame changes cluster. Each costs
# F k D multiplications (7 billion for 900 clusters of 18,000 frames of a YOLO11n): 30, where
# the last iterations move a handful of frames between neighbouring clusters.
KMEANS_ITERATIONS = 30


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, ``(N, D)`` float32 (a zero row stays zero)."""
    vectors = np.asarray(vectors, np.float32)
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norm, out=np.zeros_like(vectors), where=norm > 0)


def squared_distances(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(points), len(others))`` float32, never below 0."""
    d = (points * points).sum(1)[:, None] - 2.0 * points @ others.T + (others * others).sum(1)[None, :]
    return np.maximum(d, 0.0, out=d)


def nearest_distance(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Each point's squared distance to the nearest of ``others``, ``(N,)`` (inf without others)."""
    out = np.full(len(points), np.inf, np.float32)
    if len(others) == 0:
        return out
    for start in range(0, len(points), BLOCK):
        out[start:start + BLOCK] = squared_distances(points[start:start + BLOCK], others).min(1)
    return out


def k_center_greedy(
    points: np.ndarray,
    count: int,
    *,
    seeds: np.ndarray | None = None,
    frames: np.ndarray | None = None,
    min_gap: int = 0,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """Pick ``count`` points, each the farthest from every seed and earlier pick (k-center greedy).

    The greedy 2-approximation of the k-center problem that Sener & Savarese ("Active learning
    for convolutional neural networks: a core-set approach", ICLR 2018) use: the picks and the
    seeds (points labelled already) cover every point within the smallest radius it can find.
    Without seeds the first pick is the point nearest to the mean (a typical point, not an
    outlier, and no randomness). Ties go to the lower index. Picks stay more than ``min_gap``
    frame numbers apart while a point that far is left; then the rest is picked without the gap.

    Args:
        points: The candidates' embeddings, ``(N, D)`` float32.
        count: How many to pick.
        seeds: Embeddings of points labelled already, ``(K, D)``; ``None`` or empty: none.
        frames: Frame numbers of the points, ``(N,)`` (needed with ``min_gap``).
        min_gap: Minimum distance in frame numbers between picks (0: none).
        allowed: Points that may be picked while the gap holds, ``(N,)`` bool (default: all).

    Returns:
        Indices into ``points`` in the order picked, ``(min(count, N),)`` int64.
    """
    n = len(points)
    count = min(count, n)
    points = np.asarray(points, np.float32)
    norms = (points * points).sum(1)
    nearest = nearest_distance(points, np.asarray(seeds, np.float32)) if seeds is not None and len(seeds) else None
    open_ = np.ones(n, bool) if allowed is None else np.asarray(allowed, bool).copy()
    taken = np.zeros(n, bool)
    picked: list[int] = []
    while len(picked) < count:
        candidates = open_ & ~taken
        if not candidates.any():
            candidates = ~taken
        if nearest is None:
            centre = points.mean(0, keepdims=True)
            value = -squared_distances(points, centre)[:, 0]
        else:
            value = nearest
        best = int(np.argmax(np.where(candidates, value, -np.inf)))
        picked.append(best)
        taken[best] = True
        distance = np.maximum(norms - 2.0 * (points @ points[best]) + norms[best], 0.0)
        nearest = distance if nearest is None else np.minimum(nearest, distance)
        if min_gap > 0 and frames is not None:
            open_ &= np.abs(np.asarray(frames) - frames[best]) > min_gap
    return np.asarray(picked, np.int64)


def _assign(points: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's nearest centre and its squared distance, ``(N,)`` int64 and float32."""
    labels = np.empty(len(points), np.int64)
    distance = np.empty(len(points), np.float32)
    for start in range(0, len(points), BLOCK):
        d = squared_distances(points[start:start + BLOCK], centres)
        labels[start:start + BLOCK] = d.argmin(1)
        distance[start:start + BLOCK] = d[np.arange(len(d)), labels[start:start + BLOCK]]
    return labels, distance


def _kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii, 2007): each centre a point drawn with probability
    proportional to its squared distance to the nearest centre so far; the indices of ``k`` points.

    Greedy k-means++ (scikit-learn's ``2 + log k`` trials per centre) cost 8 times as much for
    900 clusters of 18,000 frames."""
    norms = (points * points).sum(1)
    chosen = [int(rng.integers(len(points)))]
    nearest = np.maximum(norms - 2.0 * (points @ points[chosen[0]]) + norms[chosen[0]], 0.0)
    for _ in range(1, k):
        total = float(nearest.sum(dtype=np.float64))
        if total <= 0.0:  # fewer distinct points than k: any point not chosen yet
            rest = np.setdiff1d(np.arange(len(points)), chosen)
            chosen.append(int(rest[0]))
            continue
        pick = int(min(np.searchsorted(np.cumsum(nearest, dtype=np.float64), rng.random() * total), len(points) - 1))
        chosen.append(pick)
        np.minimum(nearest, np.maximum(norms - 2.0 * (points @ points[pick]) + norms[pick], 0.0), out=nearest)
    return np.asarray(chosen, np.int64)


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Cluster ``points`` into ``k`` clusters (k-means++ seeding, then Lloyd's iterations).

    A cluster left empty (fewer distinct points than ``k``) keeps its centre and stays empty.
    Randomness only from ``rng``.

    Args:
        points: ``(N, D)`` float32.
        k: Number of clusters, ``1 <= k <= N``.
        rng: The random generator of the seeding.

    Returns:
        Each point's cluster, ``(N,)`` int64 in ``[0, k)`` (some clusters may have no point).
    """
    points = np.asarray(points, np.float32)
    k = max(1, min(k, len(points)))
    centres = points[_kmeans_plus_plus(points, k, rng)].copy()
    labels = np.full(len(points), -1, np.int64)
    for _ in range(KMEANS_ITERATIONS):
        new, _ = _assign(points, centres)
        if np.array_equal(new, labels):
            break
        labels = new
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, points)
        counts = np.bincount(labels, minlength=k)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None].astype(np.float32)
    return labels


def typicality(points: np.ndarray, labels: np.ndarray, neighbours: int = TYPICALITY_NEIGHBOURS) -> np.ndarray:
    """Per point, the inverse of its mean distance to its ``neighbours`` nearest points of its cluster.

    TypiClust's typicality (Hacohen et al., ICML 2022): a point in a dense part of its cluster
    is typical. With fewer than ``neighbours + 1`` points in a cluster all its other points
    count; a point alone in its cluster gets 0.

    Args:
        points: ``(N, D)`` float32.
        labels: Cluster of each point, ``(N,)`` int64.
        neighbours: The ``K`` of the K nearest neighbours.

    Returns:
        ``(N,)`` float64, larger for more typical points (inf for duplicates of their neighbours).
    """
    points = np.asarray(points, np.float32)
    out = np.zeros(len(points), np.float64)
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        k = min(neighbours, len(members) - 1)
        if k < 1:
            continue
        inside = points[members]
        for start in range(0, len(members), BLOCK):
            d = np.sqrt(squared_distances(inside[start:start + BLOCK], inside))
            rows = np.arange(len(d))
            d[rows, rows + start] = np.inf  # not its own neighbour
            mean = np.partition(d, k - 1, axis=1)[:, :k].mean(1, dtype=np.float64)
            with np.errstate(divide="ignore"):
                out[members[start:start + BLOCK]] = 1.0 / mean
    return out


def mean_similarity(points: np.ndarray) -> np.ndarray:
    """Each point's mean cosine similarity to the other points, ``(N,)`` float64.

    The information density of Settles & Craven (EMNLP 2008), in ``O(N D)``: the mean of
    ``x . y`` over the others is ``x . (sum - x) / (N - 1)`` for unit vectors. One point alone: 1.
    """
    points = normalise(points).astype(np.float64)
    if len(points) < 2:
        return np.ones(len(points))
    total = points.sum(0)
    return (points @ total - (points * points).sum(1)) / (len(points) - 1)


def density(points: np.ndarray) -> np.ndarray:
    """:func:`mean_similarity` rescaled to ``[0, 1]`` over the points: 0 for the least typical
    point, 1 for the most (all 1 when every point is as typical).

    The frames of one video share most of their features: their mean cosine spans a narrow band
    (0.991 to 0.998 on TUD-Stadtmitte with YOLO11n features), so that a power of it would leave
    the frame scores as they are. Rescaled, the exponent ``beta`` says how much typicality counts.
    """
    similarity = mean_similarity(points)
    if not len(similarity):
        return similarity
    low, high = float(similarity.min()), float(similarity.max())
    return np.ones_like(similarity) if high - low <= 1e-12 else (similarity - low) / (high - low)
