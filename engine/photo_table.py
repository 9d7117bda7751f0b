"""Every photo vector of one model with what search needs beside it, held in memory.

Searches and categories score the whole library with one matrix product: a relevance needs the
query's scores over all photos, and an exact scan of 100k x 512 float32 vectors costs a few
milliseconds. The table is read from the store once and reloaded only when the store's photos or
the model's vectors change (change counters kept by the store, engine/storage/changes.py, so a
write from another process is seen too).
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from . import quick_scan
from .quick_scan import QuickScan
from .storage import Store
from .storage.vectors import decode

log = logging.getLogger(__name__)
_QUICK_LOCK = threading.Lock()  # one build of a table's quick scan at a time


@dataclass(frozen=True, eq=False)
class PhotoTable:
    """One row per vector label (exact duplicates share one vector and one row).

    labels (N,) int64, ascending; matrix (N, D) float32 unit rows; weights (N,) photos per label;
    times (N,) float64 when the label's first photo was taken (EXIF date, else file time);
    hashes: each label's content hash; paths: the photos of each label.
    """

    generation: tuple[int, int]
    labels: np.ndarray
    matrix: np.ndarray
    weights: np.ndarray
    times: np.ndarray
    hashes: tuple[str, ...] = field(repr=False)
    paths: tuple[tuple[str, ...], ...] = field(repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    def rows_of(self, labels: set[int]) -> np.ndarray:
        """Row numbers of these labels (unknown ones are left out), ascending."""
        if not labels:
            return np.zeros(0, np.int64)
        return np.flatnonzero(np.isin(self.labels, np.fromiter(labels, np.int64, len(labels))))

    def row_of_path(self) -> dict[str, int]:
        """path -> row, built once per table."""
        cached = self.__dict__.get("_by_path")
        if cached is None:
            cached = {p: row for row, paths in enumerate(self.paths) for p in paths}
            object.__setattr__(self, "_by_path", cached)
        return cached

    def scores(self, vector: np.ndarray, exact: bool = False) -> np.ndarray:
        """(N,) float32 dot products of every row with `vector`. The last product is kept: a search's
        candidates and its calibration score the same vector, and at 100k photos one product costs
        as much as the whole rest of the search. A product kept by `keep` is returned as it is
        (exact where that search needs it); `exact=True` asks for an exact one."""
        vector = np.ascontiguousarray(vector, np.float32)
        key = vector.tobytes()
        cached = self.__dict__.get("_scores")
        if cached is None or cached[0] != key or (exact and not cached[2]):
            cached = self.keep(vector, self.matrix @ vector)
        return cached[1]

    def keep(self, vector: np.ndarray, product: np.ndarray, exact: bool = True) -> tuple[bytes, np.ndarray, bool]:
        """Keep `product` as the table's product with `vector`: exact, or (exact=False) exact only
        at the rows a search screened (engine/quick_scan.py); a screen that passes has also shown
        that the text's offset is 0 (Calibrator.screen), which calibration then takes as known."""
        product.flags.writeable = False  # shared by its callers
        cached = (np.ascontiguousarray(vector, np.float32).tobytes(), product, exact)
        object.__setattr__(self, "_scores", cached)
        return cached

    def scored(self, vector: np.ndarray, exact: bool = False) -> bool:
        """Whether the kept product (`scores`) is of this vector (and, with exact=True, exact)."""
        cached = self.__dict__.get("_scores")
        return (
            cached is not None
            and cached[0] == np.ascontiguousarray(vector, np.float32).tobytes()
            and (cached[2] or not exact)
        )

    def quick_scan(self) -> QuickScan | None:
        """The table's int8 copy for a quick first pass (engine/quick_scan.py), built when the table
        is searched a second time: building it costs ten or more float32 scans (0.2 s at 100k), which
        a one-query command-line search would pay for nothing. None before that, for a table too
        small to need one, or where it cannot be built."""
        with _QUICK_LOCK:
            if "_quick" not in self.__dict__:
                if not self.__dict__.get("_quick_asked"):
                    object.__setattr__(self, "_quick_asked", True)
                    return None
                object.__setattr__(self, "_quick", quick_scan.build(self.matrix))
            found: QuickScan | None = self.__dict__["_quick"]
            return found

    def rows_of_hashes(self, hashes: set[str]) -> np.ndarray:
        """Row numbers of the labels with these content hashes, ascending."""
        row = self.row_of_hash
        return np.array(sorted(row[h] for h in hashes if h in row), np.int64)

    @functools.cached_property
    def row_of_hash(self) -> dict[str, int]:
        """content hash -> row (one label per content), built once per table."""
        return {h: row for row, h in enumerate(self.hashes)}


class PhotoTables:
    """The current PhotoTable of one model over a store, reloaded when the store changes. Thread-safe."""

    def __init__(self, store: Store, model: str):
        self.store = store
        self.model = model
        self._lock = threading.Lock()
        self._table: PhotoTable | None = None

    def current(self) -> PhotoTable:
        with self._lock:
            generation = self.store.changes.generation(self.model)
            if self._table is None or self._table.generation != generation:
                self._table = _load(self.store, self.model, generation)
                log.debug("loaded %d photo vectors of %s", len(self._table), self.model)
            return self._table


def _load(store: Store, model: str, generation: tuple[int, int]) -> PhotoTable:
    rows = store.vectors.table(model)
    labels = np.array([r[0] for r in rows], np.int64)
    matrix = decode([r[1] for r in rows])
    return PhotoTable(
        generation,
        labels,
        matrix,
        np.array([len(r[3]) for r in rows], np.int64),
        np.array([r[4] for r in rows], np.float64),
        tuple(r[2] for r in rows),
        tuple(r[3] for r in rows),
    )
