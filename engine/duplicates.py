"""Duplicate and near-duplicate photos, grouped without comparing all pairs.

Exact duplicates share a content hash, hence one vector label. Near-duplicates (resized,
re-encoded, slightly cropped or edited copies, burst frames) are found in two steps:

1. Candidates: each vector's nearest neighbours in the library's HNSW index (one batched query),
   plus photos whose perceptual hashes are identical. Cost grows with n log n, not n^2.
2. Decision: a candidate pair is a duplicate when the perceptual hashes agree on at least
   `threshold` of their 64 bits *and* the vectors' cosine is at least `min_cosine`. The hash
   tells copies of one picture from different pictures of the same scene (measured in
   docs/duplicates.md: it separates them far better than the vectors we could measure); the
   vectors keep unrelated photos whose hashes happen to agree (dark or flat pictures) apart.

Pairs join into groups transitively (a burst is a chain of similar frames). Nothing here reads or
writes files: the caller supplies vectors, hashes and photos, and only ever gets lists back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .phash import similarity
from .store import PhotoRow

# Share of the 64 perceptual-hash bits two copies must agree on (measured: docs/duplicates.md).
DEFAULT_THRESHOLD = 0.8
# The vectors' cosine below which two photos are never duplicates, whatever their hashes say.
MIN_COSINE = 0.75
# Nearest neighbours looked at per photo: bursts and copies rarely exceed a handful.
NEIGHBOURS = 16

_COPY_MARKERS = ("copy", "kopie", "copie", "(1)", "(2)", "(3)", "edited", "-edit")


@dataclass(frozen=True)
class DuplicateSettings:
    """threshold: perceptual similarity 0..1 two photos need (1: identical pictures)."""

    threshold: float = DEFAULT_THRESHOLD
    min_cosine: float = MIN_COSINE
    neighbours: int = NEIGHBOURS

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {self.threshold}")


@dataclass(frozen=True)
class Copy:
    """One file of a duplicate group.

    similarity: perceptual similarity to the group's best copy (1.0 for the same content).
    companions: other files of the same shot shown with it (the RAW beside a JPEG).
    """

    photo: PhotoRow
    best: bool
    exact: bool
    similarity: float
    companions: tuple[str, ...] = ()

    def to_json(self) -> dict:
        p = self.photo
        return {
            "path": p.path,
            "folder": os.path.dirname(p.path),
            "size": p.size,
            "width": p.width,
            "height": p.height,
            "taken_at": p.taken_at,
            "modified": p.mtime,
            "best": self.best,
            "exact": self.exact,
            "similarity": round(self.similarity, 4),
            "companions": list(self.companions),
        }


@dataclass(frozen=True)
class DuplicateGroup:
    """Copies of one picture, the best copy first."""

    copies: tuple[Copy, ...] = field(default_factory=tuple)

    @property
    def best(self) -> Copy:
        return self.copies[0]

    def to_json(self) -> list[dict]:
        return [c.to_json() for c in self.copies]


class _UnionFind:
    def __init__(self, items: Iterable[int]):
        self.parent = {i: i for i in items}

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:  # path compression
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for i in self.parent:
            out.setdefault(self.find(i), []).append(i)
        return [sorted(g) for g in out.values() if len(g) > 1]


def group_labels(
    labels: np.ndarray,
    neighbours: np.ndarray,
    cosines: np.ndarray,
    hashes: Mapping[int, int],
    vectors: Mapping[int, np.ndarray] | None = None,
    settings: DuplicateSettings = DuplicateSettings(),
) -> list[list[int]]:
    """Groups of vector labels that are near-duplicates of each other.

    labels (n,): every label; neighbours (n, k) and cosines (n, k): each one's nearest labels
    (-1 for none) and their cosine. hashes: label -> perceptual hash (labels without one join
    nothing). vectors: label -> unit vector, to check pairs of identical hashes the neighbour
    lists missed (without it such pairs join on the hash alone).
    """
    uf = _UnionFind(int(x) for x in labels)
    have = np.array([int(x) in hashes for x in labels])
    own = np.array([hashes.get(int(x), 0) for x in labels], dtype=np.int64)
    # Step 1a: the neighbour lists.
    rows, cols = np.nonzero((neighbours >= 0) & (cosines >= settings.min_cosine))
    others = neighbours[rows, cols].astype(np.int64)
    other_hash = np.array([hashes.get(int(x), 0) for x in others], dtype=np.int64)
    other_have = np.array([int(x) in hashes for x in others], dtype=bool)
    keep = have[rows] & other_have & (similarity(own[rows], other_hash) >= settings.threshold)
    for a, b in zip(labels[rows[keep]], others[keep], strict=True):
        if int(a) != int(b):
            uf.union(int(a), int(b))
    # Step 1b: identical hashes, wherever they sit in the graph.
    by_hash: dict[int, list[int]] = {}
    for label, h, ok in zip(labels, own, have, strict=True):
        if ok:
            by_hash.setdefault(int(h), []).append(int(label))
    for same in by_hash.values():
        for other in same[1:]:
            if vectors is None or float(vectors[same[0]] @ vectors[other]) >= settings.min_cosine:
                uf.union(same[0], other)
    return uf.groups()


def best_first(photos: Sequence[PhotoRow]) -> list[PhotoRow]:
    """The best copy first: the most pixels, then the largest file (least compressed), then the
    oldest, then a name that does not look like a copy, then the shortest path."""

    def key(p: PhotoRow) -> tuple:
        name = os.path.basename(p.path).lower()
        looks_copied = any(marker in name for marker in _COPY_MARKERS)
        taken = p.taken_at if p.taken_at is not None else p.mtime
        return (-(p.width or 0) * (p.height or 0), -p.size, taken, p.mtime, looks_copied, len(p.path), p.path)

    return sorted(photos, key=key)


def make_group(
    photos: Sequence[PhotoRow],
    hashes: Mapping[str, int],
    companions: Mapping[str, Sequence[str]] | None = None,
) -> DuplicateGroup | None:
    """A group of these photos (None for fewer than two). hashes: content hash -> perceptual
    hash; companions: path -> the other files of its shot."""
    if len(photos) < 2:
        return None
    ordered = best_first(photos)
    best = ordered[0]
    best_hash = hashes.get(best.hash or "")
    copies = []
    for photo in ordered:
        exact = photo.hash == best.hash
        own = hashes.get(photo.hash or "")
        if exact:
            score = 1.0
        elif own is None or best_hash is None:
            score = 0.0
        else:
            score = float(similarity(np.array([own]), np.array([best_hash]))[0])
        extra = tuple((companions or {}).get(photo.path, ()))
        copies.append(Copy(photo, photo is best, exact, score, extra))
    return DuplicateGroup(tuple(copies))
