"""Exact nearest-neighbour search by a brute-force scan of a float32 matrix.

Below a few hundred thousand vectors a scan costs a few milliseconds and finds the true top k
(recall 1.0), where a graph built on photo vectors misses some neighbours of text queries (they
lie off the photo distribution). numpy has no fast float16 product (a half-precision copy scanned
here was 8-12x slower than float32: benchmarks/search_latency.py), so the copy stays float32.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Up to this many vectors the index answers by a scan; above it, by the graph.
EXACT_LIMIT = 250_000


class ExactVectors:
    """A dense (label -> unit vector) matrix with upsert, removal and exact top-k search.

    Not thread-safe on its own: the owning index serialises writers against readers."""

    def __init__(self, dim: int, capacity: int = 1024):
        self.dim = dim
        self._matrix = np.zeros((max(capacity, 1), dim), np.float32)
        self._labels = np.zeros(max(capacity, 1), np.int64)
        self._row: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._row)

    def upsert(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Set the vectors of `labels` (unique, unit rows)."""
        for label, vector in zip(labels.tolist(), vectors, strict=True):
            row = self._row.get(label)
            if row is None:
                row = len(self._row)
                if row == len(self._labels):
                    self._grow()
                self._row[label] = row
                self._labels[row] = label
            self._matrix[row] = vector

    def remove(self, labels: set[int]) -> None:
        for label in labels:
            row = self._row.pop(label, None)
            if row is None:
                continue
            last = len(self._row)  # the row count before the removal, less one
            if row != last:  # move the last row into the hole
                moved = int(self._labels[last])
                self._matrix[row] = self._matrix[last]
                self._labels[row] = moved
                self._row[moved] = row

    def search(
        self, query: np.ndarray, k: int, allowed: Callable[[int], bool] | None = None
    ) -> list[tuple[int, float]]:
        """The k labels most similar to the unit `query` that pass `allowed`, best first, with
        their cosine similarity."""
        n = len(self._row)
        if n == 0 or k <= 0:
            return []
        scores = self._matrix[:n] @ query.astype(np.float32).reshape(-1)
        want = min(n, k if allowed is None else max(4 * k, 256))
        while True:
            top = np.argpartition(-scores, want - 1)[:want] if want < n else np.arange(n)
            top = top[np.argsort(-scores[top], kind="stable")]
            found = [(int(self._labels[i]), float(scores[i])) for i in top]
            if allowed is not None:
                found = [(label, score) for label, score in found if allowed(label)]
            if len(found) >= k or want >= n:
                return found[:k]
            want = min(n, want * 8)  # a narrow filter: look further down the ranking

    def _grow(self) -> None:
        size = 2 * len(self._labels)
        matrix = np.zeros((size, self.dim), np.float32)
        matrix[: len(self._labels)] = self._matrix
        labels = np.zeros(size, np.int64)
        labels[: len(self._labels)] = self._labels
        self._matrix, self._labels = matrix, labels


def kth_largest(values: np.ndarray, k: int) -> float:
    """The k-th largest of `values` (1 <= k <= len), as np.partition gives it, at a fraction of its
    cost on a large array: the k-th largest of the maxima of k or more blocks is no greater than
    the answer (k blocks hold k values at least that large), so only the values at or above it
    need a partition, usually a few hundred of 100k."""
    n = len(values)
    blocks = min(n // 8, 1024)
    if blocks < k or n <= 4096:
        return float(np.partition(values, n - k)[n - k])
    size = n // blocks
    maxima = values[: blocks * size].reshape(blocks, size).max(axis=1)
    floor = np.partition(maxima, blocks - k)[blocks - k]
    if np.isnan(floor):  # np.partition counts NaN as the largest: so many NaN, sort them all
        return float(np.partition(values, n - k)[n - k])
    kept = values[~(values < floor)]  # NaN too, as np.partition counts it
    return float(np.partition(kept, len(kept) - k)[len(kept) - k])
