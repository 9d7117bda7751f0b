"""Search above the exact threshold: candidates from the HNSW graph, re-ranked and calibrated exactly.

The threshold is lowered so that a library of a few thousand synthetic vectors takes the graph path;
every answer is compared with the exact path's on the same library and queries.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import engine.calibration
import engine.exact
import engine.search
import engine.vector_index
from engine.query_words import QueryWords
from engine.search import Query, Request, candidates, run
from engine.store import PhotoUpdate

PHOTOS = 3000
START = 1.5e9  # photo i was taken at START + 60 i


@pytest.fixture
def large(make_library, tmp_path, monkeypatch):
    """A library of PHOTOS clustered vectors, searched through the graph above 1000 photos."""
    monkeypatch.setattr(engine.exact, "EXACT_LIMIT", 1000)
    monkeypatch.setattr(engine.vector_index, "EXACT_LIMIT", 0)  # the library's index is a graph
    monkeypatch.setattr(engine.search, "GRAPH_CANDIDATES", 200)
    library = make_library()
    folder = tmp_path / "photos"
    folder.mkdir()
    library.add_folders([folder])
    paths = [(f"{folder}/{i:05d}.jpg", 1, 0.0) for i in range(PHOTOS)]
    library.store.photos.apply_scan(str(folder), paths, [], [])
    rows = library.store.photos.pending(library.model.key)
    dim = library.encoder().dim
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((60, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, 60, len(rows))] + rng.standard_normal((len(rows), dim)).astype(np.float32) * 0.3
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    updates = [
        PhotoUpdate(pid, hashlib.blake2b(p.encode(), digest_size=16).hexdigest(), taken_at=START + i * 60.0)
        for i, (pid, p) in enumerate(sorted(rows, key=lambda r: r[1]))
    ]
    library.store.save_results(library.model.key, updates, {u.hash: v for u, v in zip(updates, vectors, strict=True)})
    return library, vectors


def _queries(vectors: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Off the photos' distribution, as text queries are: a photo's vector plus noise as long as itself."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((count, vectors.shape[1])).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    queries = vectors[rng.integers(0, len(vectors), count)] + noise
    return queries / np.linalg.norm(queries, axis=1, keepdims=True)


def _both(library, vector: np.ndarray, query: Query):
    """(graph pool, graph results, exact pool, exact results) of one query vector. The graph path
    runs first, so that calibration cannot reuse the exact path's whole-library product."""
    table = library.search_parts()[0].current()
    stages = library.search_parts()[2]
    request = Request(query, "", vector, QueryWords(), library.model.key)
    graph_pool = candidates(request, table, library.store, graph=lambda: library.vector_index)
    graph = run(request, graph_pool, stages, library.store)
    exact_pool = candidates(request, table, library.store)
    return graph_pool, graph, exact_pool, run(request, exact_pool, stages, library.store)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_graph_path_finds_the_exact_top_ten(large, seed):
    library, vectors = large
    same = 0
    queries = _queries(vectors, 30, seed)
    for q in queries:
        graph_pool, graph, exact_pool, exact = _both(library, q, Query(k=10))
        assert not graph_pool.complete and exact_pool.complete
        assert len(graph_pool) == 200 and len(exact_pool) == PHOTOS
        assert graph.bounded and not exact.bounded
        same += [h.path for h in graph.hits] == [h.path for h in exact.hits]
    assert same >= 0.95 * len(queries)


def test_relevance_and_the_cut_agree_with_the_exact_path_on_the_candidates(large, monkeypatch):
    # The query's offset from a sample as large as the library: the same as the exact path's.
    monkeypatch.setattr(engine.calibration, "LIBRARY_SAMPLE", PHOTOS)
    library, vectors = large
    meaning = library.search_parts()[2][0]
    for q in _queries(vectors, 10, 3):
        graph_pool, graph, exact_pool, exact = _both(library, q, Query(k=10))
        request = Request(Query(k=10), "", q, QueryWords(), library.model.key)
        on_graph = meaning.evidence(request, graph_pool).logit
        on_exact = meaning.evidence(request, exact_pool).logit[graph_pool.rows]
        np.testing.assert_allclose(on_graph, on_exact, atol=1e-3)
        np.testing.assert_allclose(graph_pool.score, exact_pool.score[graph_pool.rows], atol=1e-5)
        # The cut falls on the same candidates; both counts are those among the candidates only
        # (lower bounds: this synthetic library has more matches than candidates).
        assert graph.matches == int((on_exact >= 0).sum()) <= exact.matches
        assert graph.weaker == len(graph_pool) - graph.matches <= exact.weaker


def test_filters_hold_on_the_graph_path_and_a_narrow_one_scans_exactly(large):
    library, vectors = large
    after = START + 1200 * 60.0  # 1800 photos pass: still above the threshold, through the graph
    same = 0
    queries = _queries(vectors, 20, 4)
    for q in queries:
        graph_pool, graph, _, exact = _both(library, q, Query(k=10, after=after))
        assert not graph_pool.complete
        assert all(h.photo.taken_at is not None and h.photo.taken_at >= after for h in graph.hits)
        same += [h.path for h in graph.hits] == [h.path for h in exact.hits]
    assert same >= 0.95 * len(queries)
    narrow = START + 2500 * 60.0  # 500 photos pass: below the threshold, an exact scan
    graph_pool, graph, exact_pool, exact = _both(library, queries[0], Query(k=10, after=narrow))
    assert graph_pool.complete and len(graph_pool) == 500
    assert [h.path for h in graph.hits] == [h.path for h in exact.hits]
    assert not graph.bounded
