"""Duplicate grouping on generated copies (resized, JPEG 30, 5% crop, colour shift, burst frame)
and distinct photos of the same place that must stay apart."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import engine.duplicates
from engine.duplicates import DuplicateSettings, best_first, candidate_pairs, group_labels, make_group
from engine.phash import perceptual_hash, similarity
from engine.store import PhotoRow
from engine.vector_index import VectorIndex
from tests.photo_variants import COPY_KINDS, make_bases, make_copies, make_neighbour


def pair_scores(groups: list[list[int]], family: dict[int, int]) -> tuple[float, float]:
    """Precision and recall over pairs: a pair is predicted when it shares a group, true when
    it shares a family (a base and its copies)."""
    predicted = {frozenset(p) for g in groups for p in itertools.combinations(g, 2)}
    by_family: dict[int, list[int]] = {}
    for label, f in family.items():
        by_family.setdefault(f, []).append(label)
    truth = {frozenset(p) for g in by_family.values() for p in itertools.combinations(g, 2)}
    hits = len(predicted & truth)
    return hits / max(len(predicted), 1), hits / max(len(truth), 1)


def library_of_variants(n: int, seed: int, encoder):
    """Labels 0.. of bases, their copies and a neighbour each: (family, vectors, hashes)."""
    rng = np.random.default_rng(seed)
    images, family = [], {}
    for i, base in enumerate(make_bases(n, seed)):
        for image in [base.image, *make_copies(base, rng).values()]:
            family[len(images)] = i
            images.append(image)
        family[len(images)] = -1 - i  # same place, different photo: its own family
        images.append(make_neighbour(base, rng))
    import torch

    with torch.no_grad():
        vectors = encoder.encode_images(torch.stack([encoder.preprocess_image(im) for im in images]))
    hashes = {i: perceptual_hash(im) for i, im in enumerate(images)}
    return family, vectors, hashes


@pytest.mark.parametrize("seed", [3, 11])
@pytest.mark.parametrize("exact", [True, False])
def test_copies_group_and_similar_photos_stay_apart(tiny_encoder, seed, exact, monkeypatch):
    if not exact:  # the path of a library above EXACT_PAIRS: the graph's edges and a narrow query
        monkeypatch.setattr(engine.duplicates, "EXACT_PAIRS", 0)
    family, vectors, hashes = library_of_variants(16, seed, tiny_encoder)
    labels = np.arange(len(vectors))
    index = VectorIndex.build(labels, vectors, vectors.shape[1])
    groups = group_labels(labels, candidate_pairs(index), hashes, index.vectors)
    precision, recall = pair_scores(groups, family)
    print(f"seed {seed}, exact {exact}: pair precision {precision:.3f} recall {recall:.3f} ({len(groups)} groups)")
    # The graph's answer moves a little with the build (0.94-0.98 on seed 11 over builds with 1 to 16 threads).
    assert precision >= 0.95 and recall >= (0.95 if exact else 0.9)
    # The baseline: the tiny model's vectors alone, at their best cosine threshold, do worse.
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cos = unit @ unit.T
    best_f1 = 0.0
    for t in np.percentile(cos[np.triu_indices(len(cos), 1)], np.linspace(90, 100, 41)):
        p, r = pair_scores(_groups_by_cosine(cos, t), family)
        best_f1 = max(best_f1, 2 * p * r / max(p + r, 1e-9))
    print(f"seed {seed}: vectors alone, best pair F1 {best_f1:.3f}")
    assert 2 * precision * recall / (precision + recall) > best_f1 + 0.05


def test_groups_do_not_depend_on_how_the_graph_was_built(tiny_encoder, monkeypatch):
    """hnswlib builds with as many threads as the machine has, and the graph's links differ from
    one build to the next: below EXACT_PAIRS photos, the groups must not."""
    import hnswlib

    family, vectors, hashes = library_of_variants(16, 11, tiny_encoder)
    labels = np.arange(len(vectors))
    add_items = hnswlib.Index.add_items
    found = []
    for threads in (1, 16, 16):
        monkeypatch.setattr(
            hnswlib.Index,
            "add_items",
            lambda self, *a, t=threads, **k: add_items(self, *a, **{**k, "num_threads": t}),
        )
        index = VectorIndex.build(labels, vectors, vectors.shape[1])
        found.append(sorted(group_labels(labels, candidate_pairs(index), hashes, index.vectors)))
    assert found[0] == found[1] == found[2]


def _groups_by_cosine(cos: np.ndarray, t: float) -> list[list[int]]:
    from engine.duplicates import _UnionFind

    uf = _UnionFind(range(len(cos)))
    for a, b in zip(*np.nonzero(np.triu(cos >= t, 1)), strict=True):
        uf.union(int(a), int(b))
    return uf.groups()


def test_every_kind_of_copy_is_close_and_neighbours_are_not():
    rng = np.random.default_rng(5)
    for base in make_bases(10, seed=5):
        own = np.array([perceptual_hash(base.image)])
        copies = make_copies(base, rng)
        assert set(copies) == set(COPY_KINDS)
        for kind, image in copies.items():
            assert similarity(own, np.array([perceptual_hash(image)]))[0] >= 0.8, kind
        assert similarity(own, np.array([perceptual_hash(make_neighbour(base, rng))]))[0] < 0.8


def test_the_threshold_moves_the_groups(tiny_encoder):
    family, vectors, hashes = library_of_variants(6, 21, tiny_encoder)
    labels = np.arange(len(vectors))
    index = VectorIndex.build(labels, vectors, vectors.shape[1])
    pairs = candidate_pairs(index)
    sizes = []
    for threshold in (1.0, 0.9, 0.8, 0.5):
        groups = group_labels(labels, pairs, hashes, index.vectors, DuplicateSettings(threshold))
        sizes.append(sum(len(g) for g in groups))
    assert sizes == sorted(sizes)  # a lower threshold never splits a group
    assert sizes[-1] > sizes[2] > sizes[0]


def test_identical_hashes_join_even_when_the_graph_does_not_link_them():
    vectors = {1: [1.0, 0.0], 2: [1.0, 0.0], 3: [0.0, 1.0], 4: [0.8, 0.6]}

    def fetch(wanted: list[int]) -> np.ndarray:
        return np.array([vectors[x] for x in wanted])

    no_pairs = (np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    hashes = {1: 7, 2: 7, 3: 7, 4: 7 ^ 1}
    assert group_labels(np.array([1, 2, 3, 4]), no_pairs, hashes, fetch) == [[1, 2]]  # 3: unrelated vector
    linked = (np.array([1, 9]), np.array([4, 1]))  # 9 is no label: ignored
    assert group_labels(np.array([1, 2, 3, 4]), linked, hashes, fetch) == [[1, 2, 4]]
    strict = DuplicateSettings(threshold=1.0)
    assert group_labels(np.array([1, 2, 3, 4]), linked, hashes, fetch, strict) == [[1, 2]]


def row(
    pid: int, path: str, *, w: int, h: int, size: int, mtime: float = 0.0, content: str = "a"
) -> PhotoRow:
    return PhotoRow(pid, path, "/p", size, mtime, content, None, width=w, height=h)


def test_the_best_copy_is_largest_then_oldest_then_original():
    small = row(1, "/p/small.jpg", w=100, h=100, size=10_000)
    large = row(2, "/p/large.jpg", w=200, h=200, size=9_000, mtime=5)
    assert best_first([small, large])[0] is large
    newer = row(3, "/p/a.jpg", w=200, h=200, size=9_000, mtime=9)
    assert best_first([newer, large])[0] is large
    copied = row(4, "/p/IMG_1 copy.jpg", w=200, h=200, size=9_000, mtime=5)
    assert best_first([copied, large])[0] is large
    group = make_group([small, large], {"a": 3})
    assert group is not None and group.best.photo is large and group.best.best
    assert [c.exact for c in group.copies] == [True, True]
    assert make_group([small], {}) is None
    assert group.to_json()[0]["path"] == "/p/large.jpg" and group.to_json()[1]["best"] is False


def test_neighbours_of_every_vector_match_brute_force_and_skip_removed_ones():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    index = VectorIndex.build(np.arange(300) * 2, vectors, 16)
    index.remove(range(0, 600, 6))  # every third label
    labels, neighbours, cosines = index.neighbours(5, ef=200)
    live = sorted(index.labels())
    assert labels.tolist() == live and neighbours.shape == (200, 5)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for row, label in enumerate(labels[:50]):
        others = [x for x in live if x != label]
        sims = unit[np.array(others) // 2] @ unit[label // 2]
        expected = [others[i] for i in np.argsort(-sims)[:5]]
        assert neighbours[row].tolist() == expected
        assert np.allclose(cosines[row], np.sort(sims)[::-1][:5], atol=1e-5)
    tiny = VectorIndex.build([7, 8], vectors[:2], 16)
    labels, neighbours, _ = tiny.neighbours(4)
    assert neighbours.tolist() == [[8, -1, -1, -1], [7, -1, -1, -1]]


def test_graph_links_hold_each_vectors_nearest_neighbour_and_only_live_labels():
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((500, 32)).astype(np.float32)
    index = VectorIndex.build(np.arange(500) + 1000, vectors, 32)
    index.remove(range(1000, 1100))
    a, b = index.links()
    live = index.labels()
    assert set(a.tolist()) <= live and set(b.tolist()) <= live and (a != b).all()
    labels, nearest, _ = index.neighbours(1, ef=500)
    linked = set(zip(a.tolist(), b.tolist(), strict=True))
    share = np.mean([(x, y) in linked or (y, x) in linked for x, y in zip(labels, nearest[:, 0], strict=True)])
    # hnswlib's multi-threaded build links a little differently each time (0.965-0.978 over builds with
    # 1 to 16 threads); grouping does not rely on the links alone (candidate_pairs adds the nearest).
    assert share > 0.95
    assert np.allclose(index.vectors([1200])[0], vectors[200] / np.linalg.norm(vectors[200]), atol=1e-6)
