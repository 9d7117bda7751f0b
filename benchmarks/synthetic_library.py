"""Fill a library with synthetic photo rows and clustered unit vectors, for benchmarks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from engine.library import Library
from engine.store import PhotoUpdate


def clustered_vectors(n: int, dim: int, rng: np.random.Generator, clusters: int = 1000) -> np.ndarray:
    """Unit vectors around random centres, shaped like photo embeddings (which cluster by subject)."""
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def add_vectors(
    library: Library,
    rng: np.random.Generator,
    dim: int,
    chunk: int = 5000,
    vectors: Callable[[int, int, np.random.Generator], np.ndarray] | None = None,
) -> None:
    """Give every photo row of the library a content hash and a vector of its model (made by
    `vectors(n, dim, rng)`; clustered_vectors by default)."""
    rows = library.store.photos.pending(library.model.key)  # every row: none has a vector yet
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        updates = [
            PhotoUpdate(pid, hashlib.blake2b(p.encode(), digest_size=16).hexdigest(), taken_at=1.5e9 + pid * 60.0)
            for pid, p in part
        ]
        made = (vectors or clustered_vectors)(len(part), dim, rng)
        library.store.save_results(
            library.model.key, updates, {u.hash: v for u, v in zip(updates, made, strict=True)}
        )
