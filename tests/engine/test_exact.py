"""Exact search below the size limit (recall 1.0, through adds, replacements, removals, filters and a
reload), and the graph above it."""

from __future__ import annotations

import numpy as np
import pytest

from engine import vector_index
from engine.exact import ExactVectors, kth_largest
from engine.vector_index import VectorIndex


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _truth(vectors: dict[int, np.ndarray], q: np.ndarray, k: int, allowed=None) -> list[int]:
    labels = [label for label in vectors if allowed is None or allowed(label)]
    scores = np.array([vectors[label] @ q for label in labels])
    return [labels[i] for i in np.argsort(-scores, kind="stable")[:k]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_search_is_the_true_top_k_through_changes(seed, tmp_path):
    rng = np.random.default_rng(seed)
    dim = 32
    index = VectorIndex(dim, capacity=16)  # grows past its capacity below
    truth: dict[int, np.ndarray] = {}
    labels = rng.choice(10_000, size=3000, replace=False)
    vectors = _unit(rng, 3000, dim)
    index.add(labels, vectors)
    truth.update(zip(labels.tolist(), vectors, strict=True))
    gone = set(rng.choice(labels, size=700, replace=False).tolist())
    index.remove(gone)
    for label in gone:
        del truth[label]
    replaced = rng.choice(sorted(truth), size=300, replace=False)
    fresh = _unit(rng, 300, dim)
    index.add(replaced, fresh)
    truth.update(zip(replaced.tolist(), fresh, strict=True))
    queries = _unit(rng, 20, dim) * 0.3 + _unit(rng, 1, dim)  # off-distribution, like text queries
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    even = lambda label: label % 2 == 0  # noqa: E731
    for q in queries:
        assert [label for label, _ in index.search(q, 10)] == _truth(truth, q, 10)
        assert [label for label, _ in index.search(q, 10, allowed=even)] == _truth(truth, q, 10, even)
    index.save(tmp_path / "v.hnsw")
    loaded = VectorIndex.load(tmp_path / "v.hnsw", dim)
    assert loaded is not None
    for q in queries[:5]:
        assert [label for label, _ in loaded.search(q, 10)] == _truth(truth, q, 10)


def test_a_narrow_filter_still_finds_k():
    rng = np.random.default_rng(3)
    exact = ExactVectors(16)
    exact.upsert(np.arange(5000), _unit(rng, 5000, 16))
    rare = {7, 4000, 4999}
    found = exact.search(_unit(rng, 1, 16)[0], 3, rare.__contains__)
    assert {label for label, _ in found} == rare


def test_above_the_limit_the_graph_answers(monkeypatch):
    monkeypatch.setattr(vector_index, "EXACT_LIMIT", 100)
    rng = np.random.default_rng(4)
    index = VectorIndex(16, ef_search=200)
    vectors = _unit(rng, 2000, 16)
    index.add(np.arange(2000), vectors)
    assert index._exact is None  # the copy is freed once the graph takes over
    truth = dict(enumerate(vectors))
    hits = 0
    for q in _unit(rng, 20, 16):
        hits += len({label for label, _ in index.search(q, 10)} & set(_truth(truth, q, 10)))
    assert hits / 200 >= 0.9


@pytest.mark.parametrize("seed", [0, 1])
def test_kth_largest_is_the_partitions_answer(seed):
    """Over sizes, ties, sorted runs and NaN, the block-maxima shortcut gives np.partition's value."""
    rng = np.random.default_rng(seed)
    for trial in range(300):
        n = int(rng.integers(1, 120_000)) if trial % 2 else int(rng.integers(1, 3000))
        values = rng.standard_normal(n).astype(np.float32)
        if trial % 5 == 1:
            values = np.sort(values)
        elif trial % 5 == 2:
            values = np.round(values, 1)  # many ties
        elif trial % 5 == 3:
            values[:] = 0.5
        elif trial % 5 == 4:
            values[rng.integers(0, n)] = np.nan
        k = int(rng.integers(1, min(n, 300) + 1))
        want = np.partition(values, n - k)[n - k]
        got = kth_largest(values, k)
        assert got == want or (np.isnan(got) and np.isnan(want)), (n, k, trial)
