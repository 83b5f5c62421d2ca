"""The representation strategies (coreset, typiclust, density, diverse) on hand-made 2-D point clouds."""

from __future__ import annotations

import numpy as np
import pytest

from vidal.representation import density, k_center_greedy, kmeans, mean_similarity, normalise, typicality
from vidal.selection import FrameTable, select


def table_of(points: list[tuple[float, float]], score: list[float] | None = None, step: int = 10) -> FrameTable:
    """A table of one frame per point, frames ``step`` apart (no gap between them matters)."""
    n = len(points)
    return FrameTable(
        frame=np.arange(1, n + 1, dtype=np.int64) * step,
        score=np.asarray(score if score is not None else np.zeros(n), np.float64),
        least_confidence=np.zeros(n),
        entropy=np.zeros(n),
        embedding=np.asarray(points, np.float32),
    )


# Seeds at the origin; from it, 1 is farthest (5), then 3 (its nearest centre is the origin,
# at 4.24), then 2 (4 from the origin), then 4 (next to the origin), then 0.
CENTRE_POINTS = [(0.5, 0.0), (5.0, 0.0), (0.0, 4.0), (-3.0, -3.0), (0.0, 0.9)]


def test_k_center_greedy_picks_the_farthest_point_each_time() -> None:
    points = np.asarray(CENTRE_POINTS, np.float32)
    picked = k_center_greedy(points, 5, seeds=np.zeros((1, 2), np.float32))
    assert picked.tolist() == [1, 3, 2, 4, 0]


def test_k_center_greedy_without_seeds_starts_at_the_most_central_point() -> None:
    # the mean is (0.5, 0.38): point 0 is nearest; then the farthest from it, 3 (4.61, 1: 4.5); then 1
    picked = k_center_greedy(np.asarray(CENTRE_POINTS, np.float32), 3)
    assert picked.tolist() == [0, 3, 1]


def test_coreset_is_seeded_with_the_labelled_frames() -> None:
    # frame 60 (the origin) is labelled: the picks are the farthest points from it, as above
    table = table_of([*CENTRE_POINTS, (0.0, 0.0)])
    assert select(table, 3, strategy="coreset", labelled=[60]).tolist() == [1, 3, 2]
    # without the label the first pick is the most central frame (0, nearer the mean than the origin)
    assert select(table, 3, strategy="coreset").tolist() == [0, 3, 1]


def test_coreset_keeps_the_gap_while_it_can() -> None:
    # two far points in adjacent frames 10 and 20: with min_gap 10 the second goes to the farthest frame beyond
    table = table_of([(0.0, 0.0), (10.0, 0.0), (9.0, 0.0), (0.0, 2.0)])
    assert select(table, 2, strategy="coreset", labelled=[10]).tolist() == [1, 3]
    assert select(table, 2, strategy="coreset", labelled=[10], min_gap=10).tolist() == [2, 3]
    # a budget the gap cannot hold is filled without it
    assert sorted(select(table, 3, strategy="coreset", labelled=[10], min_gap=10).tolist()) == [1, 2, 3]


def blob(centre: tuple[float, float], ring: int, radius: float = 1.0) -> list[tuple[float, float]]:
    """A centre point and ``ring`` points evenly on a circle around it (the centre is the most typical)."""
    angles = np.arange(ring) * 2 * np.pi / ring
    return [centre] + [(centre[0] + radius * np.cos(a), centre[1] + radius * np.sin(a)) for a in angles]


def shuffled_blobs() -> tuple[list[tuple[float, float]], dict[str, int]]:
    """Three blobs of 9, 5 and 3 points, far apart, shuffled; and where each centre landed."""
    points = blob((0.0, 0.0), 8) + blob((20.0, 0.0), 4) + blob((0.0, 20.0), 2)
    order = np.random.default_rng(7).permutation(len(points))
    where = {name: int(np.flatnonzero(order == index)[0]) for name, index in (("big", 0), ("middle", 9), ("small", 14))}
    return [points[i] for i in order], where


def test_kmeans_separates_far_blobs() -> None:
    points, _ = shuffled_blobs()
    labels = kmeans(np.asarray(points, np.float32), 3, np.random.default_rng(0))
    x = np.asarray(points)
    groups = [set(labels[(x[:, 0] < 10) & (x[:, 1] < 10)]), set(labels[x[:, 0] > 10]), set(labels[x[:, 1] > 10])]
    assert [len(g) for g in groups] == [1, 1, 1] and len(set.union(*groups)) == 3


def test_typicality_is_highest_at_a_blob_centre() -> None:
    points = np.asarray(blob((0.0, 0.0), 4), np.float32)  # a centre and four points 1 away from it
    typical = typicality(points, np.zeros(5, np.int64))
    assert int(np.argmax(typical)) == 0
    # the centre's four neighbours are 1 away; a ring point's at 1 (the centre), sqrt(2), sqrt(2) and 2
    assert typical[0] == pytest.approx(1.0, rel=1e-6)
    assert typical[1:] == pytest.approx([4 / (3 + 2 * np.sqrt(2))] * 4, rel=1e-6)
    # with two neighbours: the centre's mean distance is 1, a ring point's (1 + sqrt(2)) / 2
    assert typicality(points, np.zeros(5, np.int64), neighbours=2)[1] == pytest.approx(2 / (1 + np.sqrt(2)), rel=1e-6)


def test_typiclust_picks_each_cluster_centre_largest_cluster_first() -> None:
    points, where = shuffled_blobs()
    picked = select(table_of(points), 3, strategy="typiclust")
    assert picked.tolist() == [where["big"], where["middle"], where["small"]]


def test_typiclust_skips_the_clusters_a_labelled_frame_is_in() -> None:
    points, where = shuffled_blobs()
    table = table_of(points)
    ring_of_big = next(i for i, p in enumerate(points) if p[0] < 10 and p[1] < 10 and i != where["big"])
    picked = select(table, 2, strategy="typiclust", labelled=[int(table.frame[ring_of_big])])
    assert picked.tolist() == [where["middle"], where["small"]]


def test_mean_similarity_is_the_mean_cosine_to_the_others() -> None:
    points = np.array([[1.0, 0.0], [2.0, 0.0], [0.6, 0.8], [0.0, -1.0]])
    # cosines: (0,1) 1, (0,2) .6, (0,3) 0, (1,2) .6, (1,3) 0, (2,3) -.8
    expected = [(1 + 0.6 + 0) / 3, (1 + 0.6 + 0) / 3, (0.6 + 0.6 - 0.8) / 3, (0 + 0 - 0.8) / 3]
    np.testing.assert_allclose(mean_similarity(points), expected, atol=1e-6)
    # rescaled to [0, 1]: the last is the least typical, the first two the most
    np.testing.assert_allclose(density(points), [1, 1, (0.4 + 0.8) / (1.6 + 0.8), 0], atol=1e-6)
    np.testing.assert_allclose(density(np.ones((3, 2))), [1, 1, 1])


def test_density_weights_the_score_by_the_similarity_to_the_rest() -> None:
    # mean cosines: a .6, a .6, b (.8 + .8 + .6) / 3 = .733, c .2; rescaled: .75, .75, 1, 0
    points = [(1.0, 0.0), (1.0, 0.0), (0.8, 0.6), (0.0, 1.0)]
    table = table_of(points, score=[1.0, 0.9, 0.7, 2.0])
    # beta 1: values .75, .675, .7, 0: the most uncertain frame (c) is unlike the rest and comes last
    assert select(table, 3, strategy="density").tolist() == [0, 2, 1]
    # beta 0: the score alone
    assert select(table, 4, strategy="density", density_beta=0.0).tolist() == [3, 0, 1, 2]
    # beta 2 weighs the density more: .5625, .506, .7, 0
    assert select(table, 3, strategy="density", density_beta=2.0).tolist() == [2, 0, 1]


# Four near-identical uncertain frames (one confusing scene) and two of another scene, a little less uncertain.
SCENES = [(0.0, 0.0), (0.01, 0.0), (0.0, 0.01), (0.01, 0.01), (10.0, 0.0), (10.0, 0.01)]
SCENE_SCORES = [1.0, 0.99, 0.98, 0.97, 0.8, 0.79]


@pytest.mark.parametrize("seed", range(5))
def test_diverse_takes_the_most_uncertain_frame_then_another_scene(seed: int) -> None:
    table = table_of(SCENES, score=SCENE_SCORES)
    assert select(table, 2, strategy="cover").tolist() == [0, 1]  # uncertainty alone: one scene twice
    picked = select(table, 2, strategy="diverse", rng=np.random.default_rng(seed))
    assert picked[0] == 0 and picked[1] in (4, 5)


@pytest.mark.parametrize("seed", range(5))
def test_diverse_looks_away_from_the_labelled_frames(seed: int) -> None:
    # a frame of the first scene is labelled: the first pick goes to the other scene, though less
    # uncertain (the candidates, 4 per frame of the budget, hold both scenes)
    table = table_of([*SCENES, (0.0, 0.005)], score=[*SCENE_SCORES, 0.0])
    picked = select(table, 2, strategy="diverse", labelled=[70], rng=np.random.default_rng(seed))
    assert picked.tolist()[0] in (4, 5)
    # and the other way round
    table = table_of([*SCENES, (10.0, 0.005)], score=[*SCENE_SCORES, 0.0])
    picked = select(table, 2, strategy="diverse", labelled=[70], rng=np.random.default_rng(seed))
    assert picked.tolist()[0] in (0, 1, 2, 3)


def test_representation_strategies_never_pick_labelled_frames_and_refuse_without_embeddings() -> None:
    rng = np.random.default_rng(3)
    points = normalise(rng.normal(size=(40, 8)))
    table = table_of([tuple(p) for p in points], score=rng.random(40).tolist(), step=1)
    table.embedding = points
    labelled = [3, 4, 20]
    for name in ("coreset", "typiclust", "density", "diverse"):
        picked = select(table, 10, strategy=name, labelled=labelled, min_gap=1)
        frames = table.frame[picked]
        assert len(picked) == 10 and len(set(picked.tolist())) == 10
        assert not set(frames.tolist()) & set(labelled)
        # min_gap 1 is kept among the picks and away from the labelled frames: 40 frames hold 10 such
        assert np.diff(np.sort(frames)).min() > 1, name
        assert np.abs(frames[:, None] - np.asarray(labelled)[None, :]).min() > 1, name
        table.embedding = None
        with pytest.raises(ValueError, match="needs frame embeddings"):
            select(table, 3, strategy=name)
        table.embedding = points
