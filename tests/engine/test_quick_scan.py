"""The quick first pass (an int8 copy scanned through OpenVINO): its error bound holds, and a search
screened by it returns exactly what the float32 scan returns (the same hits in the same order,
matches, relevance and counts), with or without filters and other stages' evidence.

QUICK_MIN is lowered so that a library of a few thousand synthetic vectors takes the quick path.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import engine.quick_scan
from engine.lexicon import LEXICON
from engine.query_words import QueryWords
from engine.quick_scan import QuickScan
from engine.search import Query, Request, candidates, run
from engine.store import PhotoUpdate

PHOTOS = 4000
START = 1.5e9  # photo i was taken at START + 60 i
NOISE = 0.15

pytest.importorskip("openvino")



def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1])
def test_every_quick_score_lies_within_its_bound(seed):
    rng = np.random.default_rng(seed)
    matrix = _unit(rng.standard_normal((3000, 96)) + rng.standard_normal(96) * 2)
    scan = QuickScan(matrix)
    for q in rng.standard_normal((20, 96)).astype(np.float32) * rng.uniform(0.2, 3.0, (20, 1)).astype(np.float32):
        quick, bound = scan.scores(q)
        error = np.abs(quick - matrix @ q)
        assert (error <= bound).all()
        assert error.max() > 0  # an int8 copy, not the matrix itself
        assert bound.max() < 0.05 * np.linalg.norm(q)  # and tight enough to be of use


@pytest.fixture
def library(make_library, tmp_path, monkeypatch):
    """A library of PHOTOS clustered vectors (a few names with a word in them), scanned quickly."""
    monkeypatch.setattr(engine.quick_scan, "QUICK_MIN", 1000)
    library = make_library()
    folder = tmp_path / "photos"
    folder.mkdir()
    library.add_folders([folder])
    names = [f"{folder}/{'harbour-' if i % 500 == 7 else ''}{i:05d}.jpg" for i in range(PHOTOS)]
    library.store.photos.apply_scan(str(folder), [(p, 1, 0.0) for p in names], [], [])
    rows = library.store.photos.pending(library.model.key)
    dim = library.encoder().dim
    # Photos of concepts the model knows: the vectors of lexicon words (each photo near one), so
    # that a query matches a few photos against the calibration bank, as real ones do.
    words = [w for w in LEXICON if w.isalpha()][:80]
    rng = np.random.default_rng(5)
    centres = library.encoder().encode_texts([f"a photo of a {w}." for w in words])
    vectors = _unit(centres[rng.integers(0, len(words), len(rows))] + rng.standard_normal((len(rows), dim)) * NOISE)
    updates = [
        PhotoUpdate(pid, hashlib.blake2b(p.encode(), digest_size=16).hexdigest(), taken_at=START + i * 60.0)
        for i, (pid, p) in enumerate(sorted(rows, key=lambda r: r[1]))
    ]
    library.store.save_results(library.model.key, updates, {u.hash: v for u, v in zip(updates, vectors, strict=True)})
    return library, vectors


def _both(library, request: Request):
    """(screened pool, its results, exact pool, its results). The screened path runs first, so it
    cannot reuse the exact product."""
    tables, calibrator, stages = library.search_parts()
    table = tables.current()
    quick_pool = candidates(request, table, library.store, screen=calibrator.screen)
    quick = run(request, quick_pool, stages, library.store)
    exact_pool = candidates(request, table, library.store)
    return quick_pool, quick, exact_pool, run(request, exact_pool, stages, library.store)


def _same(quick, exact) -> None:
    assert [h.path for h in quick.hits] == [h.path for h in exact.hits]
    assert [h.match for h in quick.hits] == [h.match for h in exact.hits]
    np.testing.assert_allclose([h.relevance for h in quick.hits], [h.relevance for h in exact.hits], atol=1e-5)
    np.testing.assert_allclose([h.score for h in quick.hits], [h.score for h in exact.hits], atol=1e-6)
    assert (quick.matches, quick.weaker) == (exact.matches, exact.weaker)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("k", [10, 50])
def test_a_screened_search_returns_what_the_float32_scan_returns(library, seed, k):
    library, vectors = library
    rng = np.random.default_rng(seed)
    screened = 0
    # Off the photos' distribution, as text queries are (a photo's vector plus as much noise), and
    # the vectors of real texts through the tiny model (the lexicon's rivals then vote).
    noise = _unit(rng.standard_normal((20, vectors.shape[1])))
    targets = _unit(vectors[rng.integers(0, len(vectors), 20)] * rng.uniform(0.1, 1.0, (20, 1)) + noise)
    texts = ["a red circle", "blue", "a photo of a dog", "striped square", "green"]
    encoded = library.encoder().encode_texts(texts)
    for text, vector in [*(("", v) for v in targets), *zip(texts, encoded, strict=True)]:
        request = Request(Query(text=text or None, k=k), text, vector, QueryWords(), library.model.key)
        quick_pool, quick, exact_pool, exact = _both(library, request)
        assert exact_pool.screened is None
        if quick_pool.screened is not None:
            screened += 1
            assert quick_pool.screened.sum() < 0.2 * PHOTOS  # a few rows scored exactly, not all
        _same(quick, exact)
    assert screened >= 10  # most queries went through the screen


def test_filters_and_other_stages_keep_the_float32_answer(library):
    library, vectors = library
    rng = np.random.default_rng(3)
    after = START + 1500 * 60.0
    queries = _unit(vectors[rng.integers(0, len(vectors), 10)] + _unit(rng.standard_normal((10, vectors.shape[1]))))
    for vector in queries:
        for query, text in [
            (Query(k=20, after=after), ""),  # a date filter: the screen weighs the 2500 that pass
            (Query(text="harbour", k=20), "harbour"),  # a file name lifts photos the screen may leave out
            (Query(k=20, sort="newest"), ""),
        ]:
            request = Request(query, text, vector, QueryWords(), library.model.key)
            quick_pool, quick, exact_pool, exact = _both(library, request)
            assert len(quick_pool) == len(exact_pool)
            _same(quick, exact)
    named = [h for h in quick.hits if "filename" in h.matched]
    assert not named or all("harbour" in h.path for h in named)


def test_library_find_goes_through_the_screen(library):
    library, _ = library
    table = library.search_parts()[0].current()
    library.find(Query(text="a blue square", k=30))
    vector = library.text_encoder().encode_texts(["a blue square"])[0]
    assert table.scored(vector, exact=True)  # a table's first search scans in float32 (no copy built yet)
    text = "a red circle"
    found = library.find(Query(text=text, k=30))
    vector = library.text_encoder().encode_texts([text])[0]
    assert table.scored(vector) and not table.scored(vector, exact=True)  # the screened product is kept
    request = Request(Query(text=text, k=30), text, vector, QueryWords(), library.model.key)
    exact = run(request, candidates(request, table, library.store), library.search_parts()[2], library.store)
    assert len(found.hits) == 30
    _same(found, exact)
