"""The approximate-nearest-neighbour index over photo vectors (owns hnswlib).

SQLite is the source of truth: every vector has an integer label there, and this index is a cache
that can always be rebuilt from it (`VectorIndex.build`) or repaired (`VectorIndex.sync`).

hnswlib facts this module is built around (see METHODS.md, "Vector index"):
- `ef` is reset to 10 by `load_index`; it is set again after every load.
- `add_items` and `knn_query` are not safe together, `resize_index` with nothing: a readers-writer
  lock lets searches run concurrently and gives writers the index to themselves.
- `mark_deleted` only marks; `deleted_fraction` tells the caller when to rebuild. New labels reuse
  deleted slots (`replace_deleted`), so churn does not grow the file.
- When fewer than k results are reachable, `knn_query` raises "Cannot return the results in a
  contiguous 2D array"; `search` never lets that escape.
- hnswlib does not record the dimension in its file and trusts whatever it reads, so `load`
  checks the file's structure itself before handing it over.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import hnswlib
import numpy as np

from .exact import EXACT_LIMIT, ExactVectors

log = logging.getLogger(__name__)

_SPACE = "ip"  # inner product on unit vectors: cosine similarity = 1 - distance
_CONTIGUOUS_ERROR = "contiguous 2D array"
# hnswlib's file header: offsetLevel0, max_elements, cur_element_count, size_data_per_element,
# label_offset, offsetData (size_t), maxlevel (int), enterpoint (uint), maxM, maxM0, M (size_t),
# mult (double), ef_construction (size_t).
_HEADER = struct.Struct("<6QiI3QdQ")
_SYNC_BATCH = 8192


class _RWLock:
    """Many readers or one writer; a waiting writer blocks new readers so it cannot starve."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def _as_unit_rows(vectors: np.ndarray, dim: int) -> np.ndarray:
    """float32, C-contiguous, shape (n, dim), each row scaled to length 1 (zero rows stay zero)."""
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {np.shape(vectors)}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)


class VectorIndex:
    """Thread-safe cosine-similarity ANN index over (label:int -> float32 unit vector).

    Vectors are normalised on the way in, so callers may pass raw embeddings. Labels are
    non-negative integers (SQLite row ids). Searches run concurrently with each other; add,
    remove, resize and sync exclude them.
    """

    def __init__(
        self,
        dim: int,
        *,
        capacity: int = 1024,
        ef_search: int = 128,
        M: int = 16,
        ef_construction: int = 200,
        exact_limit: int | None = None,
    ) -> None:
        self.dim = int(dim)
        # Up to this many vectors, searches scan an exact copy (default EXACT_LIMIT; 0: the graph always).
        self._exact_limit = EXACT_LIMIT if exact_limit is None else int(exact_limit)
        self._ef_search = int(ef_search)
        self._lock = _RWLock()
        self._hnsw = hnswlib.Index(space=_SPACE, dim=self.dim)
        self._hnsw.init_index(
            max_elements=max(int(capacity), 1),
            M=M,
            ef_construction=ef_construction,
            allow_replace_deleted=True,
        )
        self._hnsw.set_ef(self._ef_search)
        # hnswlib can list its labels but not which of them are deleted, so we keep the live ones.
        self._live: set[int] = set()
        # Up to exact_limit vectors, searches scan this copy instead of walking the graph.
        self._exact: ExactVectors | None = (
            ExactVectors(self.dim, max(min(int(capacity), self._exact_limit), 1)) if self._exact_limit > 0 else None
        )

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def build(
        cls, labels: np.ndarray | Sequence[int], vectors: np.ndarray, dim: int, **kw: int
    ) -> VectorIndex:
        """A fresh index holding exactly these labels (keyword arguments as for the constructor)."""
        n = len(labels)
        kw.setdefault("capacity", max(n, 1024))
        index = cls(dim, **kw)
        if n:
            index.add(labels, vectors)
        return index

    @classmethod
    def load(
        cls, path: Path, dim: int, *, ef_search: int = 128, exact_limit: int | None = None
    ) -> VectorIndex | None:
        """The index saved at `path`, or None (logged) if it is missing, damaged or of another dim.

        Never raises for a bad file: the caller rebuilds from SQLite instead.
        """
        path = Path(path)
        try:
            layout = _read_layout(path, dim)
        except FileNotFoundError:  # a new library: nothing to warn about
            log.debug("no vector index at %s yet; it will be built", path)
            return None
        except (OSError, ValueError) as e:
            log.warning("vector index %s not usable, it will be rebuilt: %s", path, e)
            return None
        index = cls.__new__(cls)
        index.dim = int(dim)
        index._ef_search = int(ef_search)
        index._exact_limit = EXACT_LIMIT if exact_limit is None else int(exact_limit)
        index._lock = _RWLock()
        index._hnsw = hnswlib.Index(space=_SPACE, dim=index.dim)
        try:
            # Capacity comes from the element count, not the header, so a damaged header cannot
            # make hnswlib allocate an absurd amount of memory.
            index._hnsw.load_index(str(path), max_elements=layout.capacity, allow_replace_deleted=True)
        except (RuntimeError, MemoryError, ValueError) as e:
            log.warning("vector index %s not loadable, it will be rebuilt: %s", path, e)
            return None
        index._hnsw.set_ef(index._ef_search)  # load_index resets ef to 10
        index._live = layout.live
        index._exact = None
        if index._exact_limit > 0 and len(index._live) <= index._exact_limit:
            labels = np.array(sorted(index._live), np.int64)
            index._exact = ExactVectors(index.dim, max(len(labels), 1024))
            if len(labels):
                index._exact.upsert(labels, np.asarray(index._hnsw.get_items(labels), np.float32))
        log.info("loaded vector index %s: %d live, %d deleted", path, len(index._live), index._n_deleted())
        return index

    # ---- persistence --------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the index to `path` atomically (temp file in the same folder, fsync, replace)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            with self._lock.read():  # saving only reads the graph; writers must wait
                self._hnsw.save_index(tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    # ---- contents -----------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of live (not deleted) items."""
        return len(self._live)

    def labels(self) -> set[int]:
        """A copy of the live labels."""
        with self._lock.read():
            return set(self._live)

    @property
    def ef(self) -> int:
        """The search breadth in effect (hnswlib's ef)."""
        return int(self._hnsw.ef)

    @ef.setter
    def ef(self, value: int) -> None:
        with self._lock.write():  # ef is shared by every search in flight
            self._ef_search = int(value)
            self._hnsw.set_ef(self._ef_search)

    @property
    def capacity(self) -> int:
        return int(self._hnsw.get_max_elements())

    @property
    def deleted_fraction(self) -> float:
        """Share of graph slots holding deleted items; rebuild when it grows large (say > 0.3)."""
        total = self._hnsw.get_current_count()
        return self._n_deleted() / total if total else 0.0

    # ---- writes -------------------------------------------------------------------------------

    def add(self, labels: np.ndarray | Sequence[int], vectors: np.ndarray) -> None:
        """Insert or replace the vectors of `labels` (upsert); re-adding a removed label revives it."""
        ids = np.asarray(labels, dtype=np.int64).reshape(-1)
        data = _as_unit_rows(vectors, self.dim)
        if len(ids) != len(data):
            raise ValueError(f"{len(ids)} labels but {len(data)} vectors")
        if len(ids) == 0:
            return
        if (ids < 0).any():
            raise ValueError("labels must be non-negative integers")
        # Within one call the last vector of a repeated label wins.
        _, last = np.unique(ids[::-1], return_index=True)
        keep = np.sort(len(ids) - 1 - last)
        ids, data = ids[keep], data[keep]
        with self._lock.write():
            known = np.fromiter((self._known(int(i)) for i in ids), bool, len(ids))
            new = ~known
            need = int(new.sum()) - self._n_deleted()  # new labels fill deleted slots first
            if need > 0:
                self._grow(self._hnsw.get_current_count() + need)
            if known.any():
                self._hnsw.add_items(data[known], ids[known], replace_deleted=False)
            if new.any():
                # replace_deleted is only safe for labels hnswlib has never seen: for a known one it
                # would create a second slot with the same label.
                self._hnsw.add_items(data[new], ids[new], replace_deleted=True)
            self._live.update(ids.tolist())
            if self._exact is not None:
                self._exact.upsert(ids, data)
                if len(self._live) > self._exact_limit:
                    self._exact = None  # large enough for the graph to pay: free the copy

    def _known(self, label: int) -> bool:
        """Whether hnswlib holds `label`; a deleted one is unmarked so add_items may update it.

        With slot reuse enabled hnswlib refuses to update a deleted label, and it cannot tell us
        which labels are deleted, so we ask it to undelete and read the answer from its error.
        """
        if label in self._live:
            return True
        if not self._n_deleted():  # nothing to revive: skip a raised error per new label
            return False
        try:
            self._hnsw.unmark_deleted(label)
        except RuntimeError:  # "Label not found": never added, or its slot was reused
            return False
        self._live.add(label)  # live again (with its old vector until add_items replaces it)
        return True

    def remove(self, labels: Iterable[int]) -> None:
        """Mark `labels` deleted so no search returns them; unknown or already removed ones are ignored."""
        with self._lock.write():
            gone = {int(i) for i in labels} & self._live
            for label in gone:
                self._hnsw.mark_deleted(label)
                self._live.discard(label)
            if self._exact is not None:
                self._exact.remove(gone)

    def sync(self, labels: Collection[int], fetch: Callable[[list[int]], np.ndarray]) -> tuple[int, int]:
        """Make the index hold exactly `labels`; returns (added, removed).

        `labels` are the labels the source of truth (SQLite) has vectors for. `fetch(batch)` must
        return the vectors of a list of labels as an array of shape (len(batch), dim), in that order;
        it is only asked for labels the index lacks, a batch at a time, without the lock held.
        Labels the index holds but `labels` lacks are removed. Meant for opening a library, before
        other writers start: labels added concurrently and absent from `labels` would be removed.
        """
        truth = {int(i) for i in labels}
        with self._lock.read():
            missing = sorted(truth - self._live)
            extra = self._live - truth
        self.remove(extra)
        for start in range(0, len(missing), _SYNC_BATCH):
            batch = missing[start : start + _SYNC_BATCH]
            vectors = np.asarray(fetch(batch))
            if len(vectors) != len(batch):
                raise ValueError(f"fetch returned {len(vectors)} vectors for {len(batch)} labels")
            self.add(batch, vectors)
        if missing or extra:
            log.info("vector index synced: %d added, %d removed", len(missing), len(extra))
        return len(missing), len(extra)

    # ---- search -------------------------------------------------------------------------------

    def search(
        self, query: np.ndarray, k: int, *, allowed: Callable[[int], bool] | None = None
    ) -> list[tuple[int, float]]:
        """The k live labels most similar to `query`, as (label, cosine similarity), best first.

        Returns fewer than k (all that are reachable) when fewer exist or pass `allowed`, an
        optional predicate on labels. Never raises hnswlib's "contiguous 2D array" error.
        """
        q = _as_unit_rows(query, self.dim)
        if len(q) != 1:
            raise ValueError("search takes one query vector")
        filt = _SafeFilter(allowed) if allowed is not None else None
        exact = None
        with self._lock.read():
            k = min(int(k), len(self._live))
            if k <= 0:
                return []
            if self._exact is not None:  # small enough to scan: the true top k
                exact = self._exact.search(q[0], k, filt)
        if exact is not None:
            if filt is not None:
                filt.reraise()
            return exact
        with self._lock.read():
            try:
                # hnswlib searches with max(ef, k), so ef needs no raising for large k here.
                found = self._hnsw.knn_query(q, k=k, num_threads=1, filter=filt)
            except RuntimeError as e:
                if _CONTIGUOUS_ERROR not in str(e):
                    raise
                found = None
        if filt is not None:
            filt.reraise()
        if found is None:
            found = self._search_harder(q, k, filt)
        ids, dist = found
        return [(int(i), float(1.0 - d)) for i, d in zip(ids[0], dist[0], strict=True)]

    def vectors(self, labels: Sequence[int]) -> np.ndarray:
        """The stored (unit) vectors of live labels, in order, as an (n, dim) array."""
        if not len(labels):
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock.read():
            return np.asarray(self._hnsw.get_items(np.asarray(labels, dtype=np.int64), return_type="numpy"))

    def links(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The graph's bottom-layer edges between live items, as label arrays (a, b).

        Each item keeps links to up to 2*M of its nearest items there, so these edges hold every
        item's closest neighbours at no search cost (near-duplicate grouping reads them). None
        when hnswlib's serialised layout is not the one read here (then use `neighbours`).
        """
        with self._lock.read():
            state = self._hnsw.__getstate__()
            live_labels = set(self._live)
        try:
            params = state[0]
            count, per = int(params["cur_element_count"]), int(params["size_data_per_element"])
            m0, label_at = int(params["max_M0"]), int(params["label_offset"])
            if params["ser_version"] != 1 or label_at + 8 > per or 4 + 4 * m0 > per:
                return None
            rows = np.asarray(params["data_level0"]).view(np.uint8)[: count * per].reshape(count, per)
        except (KeyError, IndexError, TypeError, ValueError):
            log.warning("unexpected hnswlib layout; grouping falls back to neighbour queries")
            return None
        sizes = rows[:, 0:2].copy().view(np.uint16).reshape(-1)  # link count, then a deleted flag
        live = (rows[:, 2] & 1) == 0
        links = rows[:, 4 : 4 + 4 * m0].copy().view(np.uint32).reshape(count, m0).astype(np.int64)
        labels = rows[:, label_at : label_at + 8].copy().view(np.uint64).reshape(-1).astype(np.int64)
        valid = (np.arange(m0)[None, :] < np.minimum(sizes, m0)[:, None]) & live[:, None]
        source = np.broadcast_to(np.arange(count)[:, None], links.shape)[valid]
        target = links[valid]
        inside = target < count
        source, target = source[inside], target[inside]
        a, b = labels[source], labels[target]
        known = np.fromiter(live_labels, dtype=np.int64, count=len(live_labels))
        keep = live[target] & np.isin(a, known) & np.isin(b, known)
        return a[keep], b[keep]

    def neighbours(self, k: int, ef: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every live label's k nearest other labels: (labels (n,), neighbours (n, k), cosines (n, k)),
        -1 and -inf where fewer exist. One batched, multi-threaded query over the graph, so a whole
        library is compared in n log n, not n^2 (near-duplicate grouping). `ef` is the breadth for
        this query only: very similar vectors are found with a narrow search."""
        with self._lock.write():  # ef is shared with searches in flight
            labels = np.array(sorted(self._live), dtype=np.int64)
            n, want = len(labels), min(int(k) + 1, len(labels))  # +1: each finds itself
            ids = np.full((n, max(int(k), 0)), -1, dtype=np.int64)
            sims = np.full(ids.shape, -np.inf, dtype=np.float32)
            if want < 2 or k < 1:
                return labels, ids, sims
            data = np.asarray(self._hnsw.get_items(labels, return_type="numpy"), dtype=np.float32)
            self._hnsw.set_ef(max(int(ef), want))
            try:
                found, dist = self._hnsw.knn_query(data, k=want, num_threads=-1)
            except RuntimeError as e:  # some rows cannot reach `want` live items (deletions)
                if _CONTIGUOUS_ERROR not in str(e):
                    raise
                found, dist = self._rows_one_by_one(data, want)
            finally:
                self._hnsw.set_ef(self._ef_search)
        found = found.astype(np.int64)
        cos = (1.0 - dist).astype(np.float32)
        # Drop each row's own label (and padding), keeping the order of the others: k per row.
        others = (found != labels[:, None]) & (found >= 0)
        order = np.argsort(~others, axis=1, kind="stable")[:, : ids.shape[1]]
        valid = np.take_along_axis(others, order, axis=1)
        width = order.shape[1]
        ids[:, :width] = np.where(valid, np.take_along_axis(found, order, axis=1), -1)
        sims[:, :width] = np.where(valid, np.take_along_axis(cos, order, axis=1), -np.inf)
        return labels, ids, sims

    def _rows_one_by_one(self, data: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """knn for each row on its own, padding rows that reach fewer than k items (-1, distance 2)."""
        found = np.full((len(data), k), -1, dtype=np.int64)
        dist = np.full((len(data), k), 2.0, dtype=np.float32)
        for row, vector in enumerate(data):
            for want in range(k, 0, -1):
                got = self._try_query(vector[None], want, None)
                if got is not None:
                    found[row, :want], dist[row, :want] = got[0][0], got[1][0]
                    break
        return found, dist

    def _search_harder(
        self, q: np.ndarray, k: int, filt: _SafeFilter | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fewer than k results were reachable (deleted items or a filter in the way).

        Widen ef up to an exhaustive search of the graph, then find the largest k that succeeds.
        Changing ef affects every search, so this rare path takes the writer's lock.
        """
        with self._lock.write():
            total = max(self._hnsw.get_current_count(), 1)
            try:
                ef = max(self._ef_search, k)
                while True:
                    ef = min(ef * 4, total)
                    self._hnsw.set_ef(ef)
                    found = self._try_query(q, k, filt)
                    if found is not None:
                        return found
                    if ef >= total:
                        break
                # Even an exhaustive search finds fewer than k: binary search the count that works.
                lo, hi, best = 1, min(k, len(self._live)) - 1, None
                while lo <= hi:
                    mid = (lo + hi) // 2
                    found = self._try_query(q, mid, filt)
                    if found is None:
                        hi = mid - 1
                    else:
                        best, lo = found, mid + 1
                if filt is not None:
                    filt.reraise()
                return (
                    best if best is not None else (np.empty((1, 0), np.uint64), np.empty((1, 0), np.float32))
                )
            finally:
                self._hnsw.set_ef(self._ef_search)

    def _try_query(
        self, q: np.ndarray, k: int, filt: _SafeFilter | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            return self._hnsw.knn_query(q, k=k, num_threads=1, filter=filt)
        except RuntimeError as e:
            if _CONTIGUOUS_ERROR not in str(e):
                raise
            return None

    # ---- internals ----------------------------------------------------------------------------

    def _grow(self, needed: int) -> None:
        """Double the capacity until `needed` fits (caller holds the write lock)."""
        capacity = self._hnsw.get_max_elements()
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        self._hnsw.resize_index(capacity)

    def _n_deleted(self) -> int:
        """Slots holding deleted items: hnswlib counts every slot, we count the live ones."""
        return int(self._hnsw.get_current_count()) - len(self._live)


class _SafeFilter:
    """Wraps a label predicate so an exception inside it never crosses hnswlib's C++ code."""

    def __init__(self, allowed: Callable[[int], bool]) -> None:
        self._allowed = allowed
        self.error: BaseException | None = None

    def __call__(self, label: int) -> bool:
        if self.error is not None:
            return False
        try:
            return bool(self._allowed(int(label)))
        except Exception as e:  # re-raised by the caller once hnswlib has returned
            self.error = e
            return False

    def reraise(self) -> None:
        if self.error is not None:
            raise self.error


# ---- file checks ------------------------------------------------------------------------------


class _Layout:
    def __init__(self, capacity: int, live: set[int]) -> None:
        self.capacity = capacity
        self.live = live


def _read_layout(path: Path, dim: int) -> _Layout:
    """Check an hnswlib file against `dim` and its own header; raise ValueError if it is damaged.

    hnswlib itself checks only the total length, and would read out of bounds on a file written for
    another dimension or with corrupted links; this checks sizes, dimension and every link id.
    """
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < _HEADER.size:
        raise ValueError(f"file too short ({len(buf)} bytes)")
    (off0, _max_el, count, per_elem, label_off, data_off, max_level, enter, max_m, max_m0, m, _mult, _efc) = (
        _HEADER.unpack_from(buf, 0)
    )
    links0 = max_m0 * 4 + 4
    if off0 != 0 or not (1 <= m <= 4096) or max_m != m or max_m0 != 2 * m or data_off != links0:
        raise ValueError("not an hnswlib index file")
    if label_off - data_off != dim * 4:
        raise ValueError(f"index holds {(label_off - data_off) // 4}-d vectors, expected {dim}-d")
    if per_elem != label_off + 8:
        raise ValueError("inconsistent element size")
    level0_end = _HEADER.size + count * per_elem
    if level0_end + count * 4 > len(buf):
        raise ValueError(f"truncated: {len(buf)} bytes for {count} elements")
    if count and not (0 <= max_level < 64 and enter < count):
        raise ValueError("bad entry point")

    elems = np.frombuffer(buf, np.uint8, count * per_elem, _HEADER.size).reshape(count, per_elem)
    n_links = elems[:, :2].copy().view(np.uint16).ravel()
    if (n_links > max_m0).any():
        raise ValueError("bad level-0 link count")
    for start in range(0, count, 65536):  # chunks keep the temporary arrays small
        rows = elems[start : start + 65536]
        ids = rows[:, 4:links0].copy().view(np.uint32)
        used = np.arange(max_m0) < n_links[start : start + 65536, None]
        if (ids[used] >= count).any():
            raise ValueError("level-0 link out of range")
    labels = elems[:, label_off:per_elem].copy().view(np.uint64).ravel()
    deleted_flag = (elems[:, 2] & 1).astype(bool)
    if len(np.unique(labels)) != count:
        raise ValueError("duplicate labels")
    _check_upper_links(buf, level0_end, count, max_m * 4 + 4, max_m, max_level)

    capacity = max(count, 1024, min(int(_max_el), 2 * count))
    return _Layout(capacity, set(labels[~deleted_flag].tolist()))


def _check_upper_links(buf: bytes, pos: int, count: int, per_level: int, max_m: int, max_level: int) -> None:
    """Walk the upper-level link lists that follow level 0 and check every size and neighbour id."""
    u32 = struct.Struct("<I")
    starts: list[int] = []
    for _ in range(count):
        if pos + 4 > len(buf):
            raise ValueError("truncated link lists")
        (size,) = u32.unpack_from(buf, pos)
        pos += 4
        if size:
            if size % per_level or size // per_level > max_level or pos + size > len(buf):
                raise ValueError("bad link list size")
            starts.extend(range(pos, pos + size, per_level))
            pos += size
    if pos != len(buf):
        raise ValueError(f"{len(buf) - pos} unexpected bytes at the end")
    if not starts:
        return
    # Every offset is a multiple of 4, so one uint32 view of the file reaches every link list.
    words = np.frombuffer(buf, np.uint32, len(buf) // 4)
    lists = words[np.asarray(starts, np.int64)[:, None] // 4 + np.arange(max_m + 1)]
    n = lists[:, 0] & 0xFFFF
    if (n > max_m).any() or (lists[:, 1:][np.arange(max_m) < n[:, None]] >= count).any():
        raise ValueError("upper-level link out of range")


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; not possible (nor needed) on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
