"""Perceptual hashes of photo contents (engine/phash.py), keyed by content hash.

Like vectors they belong to a content, not a path, so renamed, moved and byte-identical copies
share one; unlike vectors they do not depend on the model, so a model switch keeps them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .database import Database, Schema


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE phashes (hash TEXT PRIMARY KEY, phash INTEGER NOT NULL)")


SCHEMA = Schema("phashes", (_create,))


class PerceptualHashes:
    """The phashes table."""

    def __init__(self, db: Database):
        self._db = db

    def add(self, hashes: dict[str, int]) -> None:
        """Record content hash -> perceptual hash (existing ones are kept)."""
        with self._db.transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO phashes (hash, phash) VALUES (?, ?)", list(hashes.items()))

    def of(self, hashes: Iterable[str]) -> dict[str, int]:
        """content hash -> perceptual hash, where known."""
        rows = self._db.select_in("SELECT hash, phash FROM phashes WHERE hash IN ({marks})", sorted(set(hashes)))
        return {h: int(p) for h, p in rows}

    def by_label(self, model: str) -> dict[int, int]:
        """vector label -> perceptual hash, for this model's vectors whose content has one."""
        rows = self._db.execute(
            "SELECT v.label, h.phash FROM vectors v JOIN phashes h ON h.hash = v.hash WHERE v.model = ?", [model]
        )
        return {int(label): int(p) for label, p in rows}

    def shared_labels(self, model: str) -> list[int]:
        """Labels of this model's vectors whose content several readable photos have (exact copies)."""
        rows = self._db.execute(
            "SELECT v.label FROM vectors v JOIN photos p ON p.hash = v.hash WHERE v.model = ?"
            " AND p.error IS NULL GROUP BY v.label HAVING COUNT(*) > 1 ORDER BY v.label",
            [model],
        )
        return [int(r[0]) for r in rows]

    def missing(self) -> list[tuple[str, str]]:
        """(content hash, one of its paths) of readable photos without a perceptual hash."""
        rows = self._db.execute(
            "SELECT p.hash, MIN(p.path) FROM photos p WHERE p.hash IS NOT NULL AND p.error IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM phashes h WHERE h.hash = p.hash) GROUP BY p.hash ORDER BY p.hash"
        )
        return [(h, path) for h, path in rows]

    def drop_orphans(self) -> int:
        """Forget hashes of contents that neither a photo nor a vector refers to any more (a vector
        outlives its photos for a grace period, so a returning photo keeps its hash too)."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM phashes WHERE NOT EXISTS (SELECT 1 FROM photos p WHERE p.hash = phashes.hash)"
                " AND NOT EXISTS (SELECT 1 FROM vectors v WHERE v.hash = phashes.hash)"
            )
            return cur.rowcount
