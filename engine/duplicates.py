"""Duplicate and near-duplicate photos, grouped without comparing all pairs.

Exact duplicates share a content hash, hence one vector label. Near-duplicates (resized,
re-encoded, slightly cropped or edited copies, burst frames) are found in two steps:

1. Candidates: the edges of the library's HNSW graph. Its bottom layer already links every vector
   to its closest ones, so reading those links (O(n)) finds copies without comparing all pairs;
   where that layout cannot be read, one batched nearest-neighbour query per vector does it.
   Photos with identical perceptual hashes are candidates too.
2. Decision: a candidate pair is a duplicate when the perceptual hashes agree on at least
   `threshold` of their 64 bits *and* the vectors' cosine is at least `min_cosine`. The hash
   tells copies of one picture from different pictures of the same scene (measured in
   docs/duplicates.md: it separates them far better than the vectors we could measure); the
   vectors keep unrelated photos whose hashes happen to agree (dark or flat pictures) apart.

Pairs join into groups transitively (a burst is a chain of similar frames). Nothing here reads or
writes files: the caller supplies vectors, hashes and photos, and only ever gets lists back.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .companions import pair_raws
from .errors import PhotoError
from .indexer import Progress, ProgressCallback
from .phash import perceptual_hash, similarity
from .photos import open_image
from .store import PhotoRow, Store
from .vector_index import VectorIndex

log = logging.getLogger(__name__)

# Share of the 64 perceptual-hash bits two copies must agree on (measured: docs/duplicates.md).
DEFAULT_THRESHOLD = 0.85
# The vectors' cosine below which two photos are never duplicates, whatever their hashes say.
MIN_COSINE = 0.75
# Nearest neighbours looked at per photo: bursts and copies rarely exceed a handful.
NEIGHBOURS = 16
# Nearest neighbours asked for besides the graph's edges (candidate_pairs).
NEAREST = 4
# Up to this many photos, candidate pairs come from exact nearest neighbours (3 s at 10k x 512
# on 2 cores), so the groups do not depend on how the graph was built.
EXACT_PAIRS = 10_000
_EXACT_CHUNK = 1024

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
    pairs: tuple[np.ndarray, np.ndarray],
    hashes: Mapping[int, int],
    vectors: Callable[[list[int]], np.ndarray] | None = None,
    settings: DuplicateSettings = DuplicateSettings(),
) -> list[list[int]]:
    """Groups of vector labels that are near-duplicates of each other.

    labels (n,): every label. pairs: candidate label pairs (a, b), e.g. the index graph's edges.
    hashes: label -> perceptual hash (labels without one join nothing). Photos with identical
    hashes are candidates too, wherever they sit in the graph. vectors(labels) returns their
    vectors, to check the cosine of the pairs whose hashes agree (without it, hashes decide alone).
    """
    labels = np.unique(np.asarray(labels, dtype=np.int64))
    own = np.array([hashes.get(int(x), 0) for x in labels], dtype=np.int64)
    have = np.array([int(x) in hashes for x in labels], dtype=bool)
    a, b = (np.searchsorted(labels, np.asarray(side, dtype=np.int64)) for side in pairs)
    a, b = np.minimum(a, len(labels) - 1), np.minimum(b, len(labels) - 1)
    real = (labels[a] == np.asarray(pairs[0])) & (labels[b] == np.asarray(pairs[1])) & (a != b)
    a, b = a[real], b[real]
    # Identical hashes: each joins the first label with that hash.
    order = np.argsort(own, kind="stable")
    same = np.nonzero(have[order][1:] & have[order][:-1] & (own[order][1:] == own[order][:-1]))[0]
    if len(same):
        firsts = np.maximum.accumulate(np.where(np.r_[True, own[order][1:] != own[order][:-1]], np.arange(len(order)), 0))
        a = np.concatenate([a, order[firsts[same + 1]]])
        b = np.concatenate([b, order[same + 1]])
    keep = have[a] & have[b] & (similarity(own[a], own[b]) >= settings.threshold)
    a, b = a[keep], b[keep]
    if len(a) and vectors is not None:
        wanted = np.unique(np.concatenate([a, b]))
        matrix = np.asarray(vectors(labels[wanted].tolist()), dtype=np.float32)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        ra, rb = np.searchsorted(wanted, a), np.searchsorted(wanted, b)
        close = np.einsum("ij,ij->i", matrix[ra], matrix[rb]) >= settings.min_cosine
        a, b = a[close], b[close]
    uf = _UnionFind(labels[np.unique(np.concatenate([a, b]))].tolist())
    for x, y in zip(labels[a].tolist(), labels[b].tolist(), strict=True):
        uf.union(x, y)
    return uf.groups()


def candidate_pairs(index: VectorIndex, neighbours: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Label pairs worth comparing: each vector's `neighbours` nearest, found exactly up to
    EXACT_PAIRS vectors; above that, the index graph's bottom-layer edges (read in O(n)) plus each
    vector's NEAREST closest by a narrow batched query (without the edges, `neighbours` per vector).

    The graph's answer depends on how it was built: hnswlib prunes a tight cluster of copies to a
    few links that depend on the order of a multi-threaded build, so a copy could hang on one link
    whose check fails (pair recall 0.88-0.98 on the same photos from one build to the next), and a
    narrow query is approximate too. Below EXACT_PAIRS the groups are the same on every build;
    above it, the nearest added to the edges make a missed copy rare, not impossible."""
    if len(index) <= EXACT_PAIRS:
        return _exact_neighbours(index, neighbours)
    edges = index.links()
    labels, found, _ = index.neighbours(NEAREST if edges is not None else neighbours, ef=4 * NEAREST)
    rows, cols = np.nonzero(found >= 0)
    a, b = labels[rows], found[rows, cols]
    if edges is None:
        return a, b
    return np.concatenate([edges[0], a]), np.concatenate([edges[1], b])


def _exact_neighbours(index: VectorIndex, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b): each live label a paired with its k nearest other labels b, by exact cosine."""
    live = sorted(index.labels())
    labels, k = np.array(live, np.int64), min(k, len(live) - 1)
    if k < 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    vectors = index.vectors(live)
    a, b = [], []
    for start in range(0, len(labels), _EXACT_CHUNK):
        sims = vectors[start : start + _EXACT_CHUNK] @ vectors.T
        own = np.arange(len(sims))
        sims[own, start + own] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        a.append(np.repeat(labels[start : start + len(sims)], k))
        b.append(labels[top].ravel())
    return np.concatenate(a), np.concatenate(b)


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


# -- over a library ---------------------------------------------------------------------------------


def find_duplicates(
    store: Store,
    index: VectorIndex,
    model: str,
    settings: DuplicateSettings = DuplicateSettings(),
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> list[DuplicateGroup]:
    """Duplicate groups of a library, the largest first. Reads only (plus remembering perceptual
    hashes of photos indexed before they existed); never touches a photo file."""
    fill_missing_hashes(store, progress, cancel)
    by_label = store.phashes.by_label(model)
    labels = np.array(sorted(index.labels()), dtype=np.int64)
    pairs = candidate_pairs(index, settings.neighbours)
    grouped = group_labels(labels, pairs, by_label, index.vectors, settings)
    in_group = {label for g in grouped for label in g}
    grouped += [[label] for label in store.phashes.shared_labels(model) if label not in in_group]
    photos = store.photos.for_labels(sorted({label for g in grouped for label in g}), model)
    all_photos = [p for g in grouped for label in g for p in photos.get(label, [])]
    shots = pair_raws([p.path for p in all_photos], lambda paths: store.photos.stats_for(paths).keys())
    content = store.phashes.of({p.hash for p in all_photos if p.hash})
    groups = []
    for g in grouped:
        members = [p for label in g for p in photos.get(label, [])]
        shown = [p for p in members if p.path not in shots]  # a RAW with its JPEG is that JPEG
        extra: dict[str, list[str]] = {}
        for p in members:
            if p.path in shots:
                extra.setdefault(shots[p.path], []).append(p.path)
        group = make_group(shown, content, extra)
        if group is not None:
            groups.append(group)
    groups.sort(key=lambda grp: (-len(grp.copies), grp.best.photo.path))
    return groups


def fill_missing_hashes(
    store: Store,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
) -> int:
    """Compute the perceptual hashes of photos indexed before hashes were kept; returns how many."""
    missing = store.phashes.missing()
    if not missing:
        return 0
    done = 0

    def one(item: tuple[str, str]) -> tuple[str, int | None]:
        content, path = item
        try:
            image, _ = open_image(path, min_size=(64, 64))
        except PhotoError as e:  # gone or changed since indexing: the next index run sees to it
            log.debug("no perceptual hash for %s: %s", path, e.reason)
            return content, None
        return content, perceptual_hash(image)

    with ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1)) as pool:
        for start in range(0, len(missing), 256):
            if cancel is not None and cancel.is_set():
                break
            results = dict(pool.map(one, missing[start : start + 256]))
            store.phashes.add({h: p for h, p in results.items() if p is not None})
            done += len(results)
            if progress:
                progress(Progress("hashing", done, len(missing)))
    return done
