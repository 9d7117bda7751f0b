"""Photo vectors, keyed by (content hash, model).

A renamed or moved file keeps its vector (same content hash), and switching models keeps the old
vectors searchable until the new ones are done. A vector's `label` is its id in the vector index.
Vectors are stored as little-endian float32 bytes; `encode` and `decode` are the only conversions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .database import Database, Schema, get_meta, set_meta
from .photos import TAKEN, filters

_DTYPE = np.dtype("<f4")


def encode(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=_DTYPE).tobytes()


def decode(blobs: Sequence[bytes]) -> np.ndarray:
    """(N, D) float32 rows from N stored vectors; (0, 0) for none."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    dim = len(blobs[0]) // _DTYPE.itemsize
    return np.frombuffer(b"".join(blobs), dtype=_DTYPE).reshape(len(blobs), dim).astype(np.float32)


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE vectors (label INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL,"
        " model TEXT NOT NULL, vector BLOB NOT NULL, UNIQUE(hash, model))"
    )
    conn.execute("CREATE INDEX idx_vectors_model ON vectors(model)")


def _orphan_time(conn: sqlite3.Connection) -> None:
    """When a vector's photos all left (NULL while some photo has its content)."""
    conn.execute("ALTER TABLE vectors ADD COLUMN orphaned_at REAL")


SCHEMA = Schema("vectors", (_create, _orphan_time), legacy=1)


@dataclass(frozen=True)
class PhotoVectors:
    """All vectors of a model that describe readable photos: labels (ascending), an (N, D) matrix,
    and how many photos share each vector (exact duplicates share one)."""

    labels: np.ndarray
    matrix: np.ndarray
    weights: np.ndarray


class Vectors:
    """The vectors table."""

    def __init__(self, db: Database):
        self._db = db

    def add(self, model: str, vectors: dict[str, np.ndarray]) -> list[tuple[int, np.ndarray]]:
        """Store new vectors by content hash; returns the (label, vector) pairs actually inserted."""
        added: list[tuple[int, np.ndarray]] = []
        with self._db.transaction() as conn:
            for content_hash, vector in vectors.items():
                cur = conn.execute(
                    "INSERT OR IGNORE INTO vectors (hash, model, vector) VALUES (?, ?, ?)",
                    [content_hash, model, encode(vector)],
                )
                if cur.rowcount:
                    added.append((int(cur.lastrowid or 0), vector))
        return added

    def dim(self, model: str) -> int | None:
        """The dimension of the model's stored vectors (None: it has none)."""
        row = self._db.execute(
            "SELECT length(vector) / ? FROM vectors WHERE model = ? LIMIT 1", [_DTYPE.itemsize, model]
        ).fetchone()
        return int(row[0]) if row else None

    def known_hashes(self, model: str) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT hash FROM vectors WHERE model = ?", [model])}

    def labels(self, model: str) -> set[int]:
        """Labels of this model's vectors that describe at least one photo still in the library."""
        rows = self._db.execute(
            "SELECT v.label FROM vectors v WHERE v.model = ? AND EXISTS"
            " (SELECT 1 FROM photos p WHERE p.hash = v.hash)",
            [model],
        )
        return {r[0] for r in rows}

    def by_label(self, labels: Sequence[int], dim: int) -> np.ndarray:
        """The stored vectors of these labels, in order, as an (N, dim) float32 array."""
        out = np.zeros((len(labels), dim), dtype=np.float32)
        position = {label: i for i, label in enumerate(labels)}
        found = list(self._db.select_in("SELECT label, vector FROM vectors WHERE label IN ({marks})", labels))
        if found:
            out[[position[label] for label, _ in found]] = decode([blob for _, blob in found])
        return out

    def by_hash(self, model: str, hashes: Iterable[str]) -> tuple[list[str], np.ndarray]:
        """(content hashes found, their (K, D) vectors) under `model`."""
        rows = list(
            self._db.select_in(
                "SELECT hash, vector FROM vectors WHERE model = ? AND hash IN ({marks})",
                sorted(set(hashes)),
                before=[model],
            )
        )
        return [h for h, _ in rows], decode([b for _, b in rows])

    def labels_of(self, model: str, hashes: Iterable[str]) -> dict[int, str]:
        """label -> content hash, for these hashes' vectors under `model`."""
        rows = self._db.select_in(
            "SELECT label, hash FROM vectors WHERE model = ? AND hash IN ({marks})",
            sorted(set(hashes)),
            before=[model],
        )
        return dict(rows)

    def present(self, model: str) -> tuple[list[str], np.ndarray]:
        """(content hashes, (N, D) vectors) of every photo in the library with a vector of `model`,
        by hash."""
        rows = self._db.execute(
            "SELECT v.hash, v.vector FROM vectors v WHERE v.model = ? AND EXISTS"
            " (SELECT 1 FROM photos p WHERE p.hash = v.hash) ORDER BY v.hash",
            [model],
        ).fetchall()
        return [h for h, _ in rows], decode([b for _, b in rows])

    def of_readable_photos(self, model: str) -> PhotoVectors:
        rows = self._db.execute(
            "SELECT v.label, v.vector, COUNT(p.id) FROM vectors v JOIN photos p ON p.hash = v.hash"
            " WHERE v.model = ? AND p.error IS NULL GROUP BY v.label ORDER BY v.label",
            [model],
        ).fetchall()
        return PhotoVectors(
            np.array([r[0] for r in rows], np.int64),
            decode([r[1] for r in rows]),
            np.array([r[2] for r in rows], np.int64),
        )

    def table(self, model: str) -> list[tuple[int, bytes, str, tuple[str, ...], float]]:
        """Every vector of the model that readable photos have, for search's in-memory table:
        (label, vector bytes, content hash, the photos' paths, when the first of them was taken),
        by label."""
        rows = self._db.execute(
            f"SELECT v.label, v.vector, v.hash, p.path, {TAKEN} FROM vectors v"
            " JOIN photos p ON p.hash = v.hash WHERE v.model = ? AND p.error IS NULL ORDER BY v.label, p.path",
            [model],
        )
        out: list[tuple[int, bytes, str, tuple[str, ...], float]] = []
        for label, blob, content_hash, path, taken in rows:
            if out and out[-1][0] == label:
                out[-1] = (*out[-1][:3], (*out[-1][3], path), out[-1][4])
            else:
                out.append((label, blob, content_hash, (path,), float(taken)))
        return out

    def labels_matching(
        self,
        model: str,
        *,
        after: float | None = None,
        before: float | None = None,
        folder: str | None = None,
    ) -> set[int]:
        """Labels of photos that pass the date and folder filters."""
        where = ["v.model = ?"]
        params: list[object] = [model]
        filters(where, params, folder, after, before)
        rows = self._db.execute(
            "SELECT DISTINCT v.label FROM vectors v JOIN photos p ON p.hash = v.hash WHERE "
            + " AND ".join(where),
            params,
        )
        return {r[0] for r in rows}

    def drop_orphans(self, grace: float, now: float) -> int:
        """Delete vectors no photo has referred to for `grace` seconds (their files left). Vectors
        whose photos came back are kept, with their labels."""
        with self._db.transaction() as conn:
            orphan = "NOT EXISTS (SELECT 1 FROM photos p WHERE p.hash = vectors.hash)"
            conn.execute(f"UPDATE vectors SET orphaned_at = NULL WHERE orphaned_at IS NOT NULL AND NOT {orphan}")
            # Looking every vector's photos up costs most of re-indexing an unchanged library:
            # only when photos or vectors changed since the last look can a vector have lost its photos.
            changes = conn.execute("SELECT COALESCE(SUM(count), 0) FROM changes").fetchone()[0]
            if get_meta(conn, "orphans.checked") != str(changes):
                conn.execute(f"UPDATE vectors SET orphaned_at = ? WHERE orphaned_at IS NULL AND {orphan}", [now])
                set_meta(conn, "orphans.checked", str(changes))
            # orphaned_at first: the photos are looked up only for vectors already marked.
            cur = conn.execute(
                f"DELETE FROM vectors WHERE orphaned_at IS NOT NULL AND orphaned_at <= ? AND {orphan}", [now - grace]
            )
            return cur.rowcount

    def relabel(self, old_model: str, new_model: str) -> None:
        """Make old_model's vectors (and their patch grids) new_model's, keeping their labels (and
        so the index)."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM vectors WHERE model = ?", [new_model])
            conn.execute("UPDATE vectors SET model = ? WHERE model = ?", [new_model, old_model])
            conn.execute("DELETE FROM grids WHERE model = ?", [new_model])
            conn.execute("UPDATE grids SET model = ? WHERE model = ?", [new_model, old_model])

    def keep_only(self, model: str) -> int:
        """Delete the vectors (and patch grids) of every other model."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM grids WHERE model != ?", [model])
            return conn.execute("DELETE FROM vectors WHERE model != ?", [model]).rowcount

    def duplicates(self) -> int:
        """How many (hash, model) pairs have more than one vector (never, when all is well)."""
        return int(
            self._db.execute(
                "SELECT COUNT(*) FROM (SELECT hash, model FROM vectors GROUP BY 1, 2 HAVING COUNT(*) > 1)"
            ).fetchone()[0]
        )

    def models(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT model FROM vectors ORDER BY model")]
