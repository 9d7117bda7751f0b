"""VectorIndex: exact answers on small sets, deletions, growth, persistence, repair, threads, recall."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.vector_index import VectorIndex

DIM = 16


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def random_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    return unit(np.random.default_rng(seed).standard_normal((n, dim)))


def exact(vectors: np.ndarray, labels: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    scores = vectors @ unit(query)
    return [int(labels[i]) for i in np.argsort(-scores)[:k]]


@pytest.fixture
def small() -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    vectors = random_vectors(200)
    labels = np.arange(1000, 1200)
    return VectorIndex.build(labels, vectors, DIM), labels, vectors


def test_search_returns_exact_nearest_with_cosine_scores(small):
    index, labels, vectors = small
    for q in random_vectors(20, seed=1):
        hits = index.search(q, 10)
        assert [h[0] for h in hits] == exact(vectors, labels, q, 10)
        best = int(np.searchsorted(labels, hits[0][0]))
        assert hits[0][1] == pytest.approx(float(vectors[best] @ unit(q)), abs=1e-5)
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_raw_vectors_are_normalised(small):
    index, labels, vectors = small
    hits = index.search(vectors[5] * 7.0, 1)
    assert hits[0][0] == labels[5]
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)


def test_k_larger_than_count_returns_all_live(small):
    index, labels, _ = small
    index.remove(labels[:50])
    hits = index.search(random_vectors(1, seed=2)[0], 1000)
    assert sorted(h[0] for h in hits) == labels[50:].tolist()


def test_empty_index_returns_nothing():
    index = VectorIndex(DIM)
    assert index.search(random_vectors(1)[0], 5) == []
    assert len(index) == 0 and index.labels() == set()


def test_single_item():
    index = VectorIndex(DIM)
    v = random_vectors(1)[0]
    index.add([7], v[None, :])
    assert index.search(-v, 3) == [(7, pytest.approx(-1.0, abs=1e-5))]


def test_removed_labels_never_come_back(small):
    index, labels, vectors = small
    gone = set(labels[::3].tolist())
    index.remove(gone)
    index.remove([999_999, *list(gone)[:5]])  # unknown and already removed: ignored
    assert len(index) == 200 - len(gone)
    assert index.labels() == set(labels.tolist()) - gone
    for q in vectors[::3]:  # query with the removed vectors themselves: the strongest temptation
        assert not gone & {h[0] for h in index.search(q, 20)}
    assert index.deleted_fraction == pytest.approx(len(gone) / 200)


def test_re_add_after_remove_uses_the_new_vector(small):
    index, labels, vectors = small
    index.remove([labels[0]])
    moved = random_vectors(1, seed=9)[0]
    index.add([labels[0]], moved[None, :])
    assert labels[0] in index.labels() and len(index) == 200
    assert index.search(moved, 1)[0] == (labels[0], pytest.approx(1.0, abs=1e-5))
    assert labels[0] not in [h[0] for h in index.search(vectors[0], 3)]


def test_add_existing_label_replaces_its_vector(small):
    index, labels, _ = small
    moved = random_vectors(1, seed=11)[0]
    index.add([labels[3]], moved[None, :])
    assert len(index) == 200
    assert index.search(moved, 1)[0][0] == labels[3]


def test_new_labels_reuse_deleted_slots_without_duplicates(small):
    index, labels, _ = small
    index.remove(labels[:100])
    fresh = random_vectors(100, seed=5)
    index.add(np.arange(5000, 5100), fresh)
    assert index.deleted_fraction == 0.0
    assert len(index) == 200
    hits = index.search(fresh[0], 200)
    assert len({h[0] for h in hits}) == len(hits) == 200
    assert hits[0][0] == 5000


def test_growth_past_capacity():
    index = VectorIndex(DIM, capacity=8)
    vectors = random_vectors(100, seed=3)
    for start in range(0, 100, 10):
        index.add(np.arange(start, start + 10), vectors[start : start + 10])
    assert len(index) == 100 and index.capacity >= 100
    for i in (0, 55, 99):
        assert index.search(vectors[i], 1)[0][0] == i


def test_add_rejects_mismatched_input():
    index = VectorIndex(DIM)
    with pytest.raises(ValueError):
        index.add([1, 2], random_vectors(3))
    with pytest.raises(ValueError):
        index.add([1], random_vectors(1, dim=DIM + 1))


def test_allowed_filter(small):
    index, labels, vectors = small
    hits = index.search(vectors[0], 10, allowed=lambda label: label % 2 == 1)
    even_free = [int(x) for x in labels if x % 2 == 1]
    assert [h[0] for h in hits] == exact(vectors[1::2], np.array(even_free), vectors[0], 10)
    # A filter that admits only three labels: fewer results than k, and no error.
    assert sorted(h[0] for h in index.search(vectors[0], 10, allowed=lambda x: x in {1001, 1100, 1199})) == [
        1001,
        1100,
        1199,
    ]
    with pytest.raises(ZeroDivisionError):
        index.search(vectors[0], 5, allowed=lambda x: 1 // 0 == 0)


def test_save_load_round_trip_restores_results_and_ef(small, tmp_path: Path):
    index, labels, vectors = small
    index.remove(labels[:10])
    path = tmp_path / "idx" / "vectors.hnsw"
    index.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["vectors.hnsw"]  # no temp files left behind
    loaded = VectorIndex.load(path, DIM, ef_search=77)
    assert loaded is not None
    assert loaded.ef == 77  # hnswlib's load_index resets ef to 10
    loaded.ef = 90
    assert loaded.ef == 90
    assert loaded.labels() == index.labels()
    assert loaded.deleted_fraction == pytest.approx(index.deleted_fraction)
    for q in random_vectors(10, seed=4):
        assert loaded.search(q, 10) == index.search(q, 10)
    loaded.add([labels[0]], vectors[:1])  # a label deleted before saving can be revived
    assert loaded.search(vectors[0], 1)[0][0] == labels[0]


def test_load_empty_index(tmp_path: Path):
    path = tmp_path / "empty.hnsw"
    VectorIndex(DIM).save(path)
    loaded = VectorIndex.load(path, DIM)
    assert loaded is not None and len(loaded) == 0 and loaded.search(random_vectors(1)[0], 3) == []


def test_load_bad_files_returns_none(small, tmp_path: Path):
    index, _, _ = small
    good = tmp_path / "good.hnsw"
    index.save(good)
    data = good.read_bytes()
    cases = {
        "missing": None,
        "empty": b"",
        "garbage": np.random.default_rng(0).bytes(len(data)),
        "truncated": data[: len(data) // 2],
        "truncated_tail": data[:-3],
        "extended": data + b"\0" * 8,
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        assert VectorIndex.load(path, DIM) is None, name
    assert VectorIndex.load(tmp_path, DIM) is None  # a directory, not a file


def test_load_rejects_corrupted_links(small, tmp_path: Path):
    index, _, _ = small
    path = tmp_path / "links.hnsw"
    index.save(path)
    data = bytearray(path.read_bytes())
    # First neighbour id of the first element (after the 96-byte header and its 4-byte count).
    data[100:104] = (10**6).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert VectorIndex.load(path, DIM) is None


def test_load_rejects_corrupted_upper_level_links(small, tmp_path: Path):
    index, _, _ = small
    path = tmp_path / "upper.hnsw"
    index.save(path)
    data = bytearray(path.read_bytes())
    count, per_element = struct.unpack_from("<QQ", data, 16)
    pos = 96 + count * per_element  # upper-level lists follow level 0: a size, then the lists
    while (size := struct.unpack_from("<I", data, pos)[0]) == 0:
        pos += 4
    assert size > 0 and struct.unpack_from("<I", data, pos + 4)[0] & 0xFFFF > 0
    data[pos + 8 : pos + 12] = (10**6).to_bytes(4, "little")  # its first neighbour id
    path.write_bytes(bytes(data))
    assert VectorIndex.load(path, DIM) is None


def test_load_wrong_dim_returns_none(small, tmp_path: Path):
    index, _, _ = small
    path = tmp_path / "v.hnsw"
    index.save(path)
    assert VectorIndex.load(path, DIM * 2) is None
    assert VectorIndex.load(path, DIM - 1) is None
    assert VectorIndex.load(path, DIM) is not None


def test_sync_repairs_missing_and_extra_labels(small):
    index, labels, vectors = small
    truth = {int(label): vectors[i] for i, label in enumerate(labels)}
    truth.update({7000 + i: v for i, v in enumerate(random_vectors(5, seed=8))})
    index.remove(labels[:20])  # in the truth but not live in the index
    index.add([9000, 9001], random_vectors(2, seed=6))  # in the index but not in the truth
    asked: list[list[int]] = []

    def fetch(batch: list[int]) -> np.ndarray:
        asked.append(batch)
        return np.stack([truth[label] for label in batch])

    assert index.sync(truth.keys(), fetch) == (25, 2)
    assert index.labels() == set(truth)
    assert sorted(sum(asked, [])) == sorted([*labels[:20].tolist(), *range(7000, 7005)])
    assert index.search(truth[7003], 1)[0][0] == 7003
    assert index.sync(truth.keys(), fetch) == (0, 0)


def test_concurrent_add_remove_and_search_never_return_removed():
    index = VectorIndex(DIM, capacity=16)
    base = random_vectors(300, seed=12)
    index.add(np.arange(300), base)
    removed: set[int] = set()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        label = 300
        rng = np.random.default_rng(13)
        try:
            while not stop.is_set():
                index.add(np.arange(label, label + 20), unit(rng.standard_normal((20, DIM))))
                gone = list(range(label - 10, label + 5))
                index.remove(gone)
                removed.update(gone)  # recorded only after remove() returned
                label += 20
        except BaseException as e:
            errors.append(e)

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                before = set(removed)
                hits = index.search(rng.standard_normal(DIM), 30)
                assert len(hits) == 30
                assert not before & {h[0] for h in hits}
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    assert removed and not removed & index.labels()
    assert index.capacity >= len(index)


def test_recall_at_10_on_clustered_vectors():
    rng = np.random.default_rng(21)
    dim, n, clusters = 64, 20_000, 200
    centres = rng.standard_normal((clusters, dim))
    vectors = unit(centres[rng.integers(0, clusters, n)] + 0.35 * rng.standard_normal((n, dim)))
    index = VectorIndex.build(np.arange(n), vectors, dim, M=16, ef_construction=100, exact_limit=0)
    queries = unit(centres[rng.integers(0, clusters, 100)] + 0.6 * rng.standard_normal((100, dim)))
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    hits = sum(
        len({h[0] for h in index.search(q, 10)} & set(t.tolist()))
        for q, t in zip(queries, truth, strict=True)
    )
    assert hits / (10 * len(queries)) >= 0.98


def test_the_graph_finds_text_like_queries_at_the_search_breadth(tmp_path: Path):
    """Above the exact limit the graph answers: queries off the photo distribution (a stored vector
    plus noise as long as itself, as text queries lie) still find their true top 10 at the breadth
    a library searches with, after a save and load too (load resets hnswlib's ef)."""
    from engine.library import SEARCH_EF

    rng = np.random.default_rng(3)
    dim, n = 128, 10_000
    centres = unit(rng.standard_normal((100, dim)))
    vectors = unit(centres[rng.integers(0, 100, n)] + rng.standard_normal((n, dim)) / np.sqrt(dim))
    index = VectorIndex.build(np.arange(n), vectors, dim, ef_search=SEARCH_EF, exact_limit=0)
    index.save(tmp_path / "index.bin")
    loaded = VectorIndex.load(tmp_path / "index.bin", dim, ef_search=SEARCH_EF, exact_limit=0)
    assert loaded is not None and loaded.ef == SEARCH_EF
    queries = vectors[rng.integers(0, n, 100)] + unit(rng.standard_normal((100, dim)))
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    for searched in (index, loaded):
        hits = sum(
            len({label for label, _ in searched.search(q, 10)} & set(t.tolist()))
            for q, t in zip(queries, truth, strict=True)
        )
        assert hits / (10 * len(queries)) >= 0.95
