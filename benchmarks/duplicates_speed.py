"""How long grouping near-duplicates takes for a large library, next to comparing all pairs.

Vectors are clustered like photo embeddings; a tenth of the photos get one to three near copies
(vector plus small noise, perceptual hash with a few bits flipped), whose recovery is reported.
The graph is built first (indexing pays for it, not grouping) and timed separately; grouping
reads its edges (engine/duplicates.py).

    PYTHONPATH=$PWD python benchmarks/duplicates_speed.py --n 100000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.synthetic_library import clustered_vectors
from engine.duplicates import candidate_pairs, group_labels
from engine.phash import similarity
from engine.vector_index import VectorIndex


def planted(n: int, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """n vectors and hashes, and the (original, copy) pairs planted among them."""
    originals = int(n / 1.2)
    vectors = clustered_vectors(originals, dim, rng)
    hashes = rng.integers(0, np.iinfo(np.uint64).max, originals, dtype=np.uint64, endpoint=True)
    copies = n - originals
    sources = rng.integers(0, originals, copies)
    noise = rng.standard_normal((copies, dim)).astype(np.float32) * 0.25 / np.sqrt(dim)  # cosine ~0.97
    masks = np.zeros(copies, dtype=np.uint64)
    for i in range(copies):  # flip 0..6 of the 64 bits
        for bit in rng.choice(64, int(rng.integers(0, 7)), replace=False):
            masks[i] |= np.uint64(1) << np.uint64(bit)
    all_v = np.vstack([vectors, vectors[sources] + noise])
    all_h = np.concatenate([hashes, hashes[sources] ^ masks]).view(np.int64)
    pairs = [(int(s), originals + i) for i, s in enumerate(sources)]
    return all_v / np.linalg.norm(all_v, axis=1, keepdims=True), all_h, pairs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--brute", type=int, default=5_000, help="photos for the all-pairs comparison")
    parser.add_argument("--knn", action="store_true", help="also time the nearest-neighbour-query fallback")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors, hashes, pairs_planted = planted(args.n, args.dim, rng)
    labels = np.arange(len(vectors))
    start = time.perf_counter()
    index = VectorIndex.build(labels, vectors, args.dim, ef_construction=64)
    built = time.perf_counter() - start

    hashes_of = dict(zip(labels.tolist(), hashes.tolist(), strict=True))
    start = time.perf_counter()
    pairs = candidate_pairs(index)
    candidates = time.perf_counter() - start
    groups = group_labels(labels, pairs, hashes_of, index.vectors)
    grouped = time.perf_counter() - start
    member = {x: i for i, g in enumerate(groups) for x in g}
    recovered = sum(member.get(a, -1) == member.get(b, -2) for a, b in pairs_planted) / len(pairs_planted)
    knn = None
    if args.knn:  # the fallback: one batched nearest-neighbour query per vector
        start = time.perf_counter()
        index.neighbours(16)
        knn = time.perf_counter() - start

    # All pairs, the way without an index: a matrix product and a hash comparison per pair.
    m = min(args.brute, len(vectors))
    start = time.perf_counter()
    for row in range(0, m, 1000):
        cos = vectors[row : row + 1000] @ vectors[:m].T
        close = np.nonzero(cos >= 0.75)
        similarity(hashes[row + close[0]], hashes[close[1]])
    brute = (time.perf_counter() - start) * (len(vectors) / m) ** 2
    print(f"{len(vectors)} photos, dim {args.dim}: graph built in {built:.1f} s (at indexing time)")
    print(f"grouping: {grouped:.2f} s ({candidates:.2f} s finding {len(pairs[0])} candidate pairs: graph edges and each photo's nearest), {len(groups)} groups")
    print(f"planted copies recovered: {recovered:.4f} of {len(pairs_planted)}")
    if knn is not None:
        print(f"fallback neighbour query alone: {knn:.2f} s")
    print(f"all pairs (extrapolated from {m}): {brute:.1f} s; index / all pairs = {grouped / brute:.3f}")


if __name__ == "__main__":
    main()
