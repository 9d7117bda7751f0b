"""Category definitions (smart albums), and each one's photo count as last computed.

Membership is never stored: it is computed from vectors. Its count is kept with a stamp (what it was
computed from: the model, the library's change counters, the definition), so listing the categories
can show a count that is still current without loading a model.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from .database import Database, Schema


@dataclass(frozen=True)
class CategoryRecord:
    name: str
    prompts: tuple[str, ...]
    negatives: tuple[str, ...]
    threshold: float | None
    created_at: float


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE categories (name TEXT PRIMARY KEY, prompts TEXT NOT NULL, negatives TEXT NOT NULL,"
        " threshold REAL, created_at REAL NOT NULL)"
    )


def _create_counts(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE category_counts (name TEXT NOT NULL REFERENCES categories(name) ON DELETE CASCADE,"
        " model TEXT NOT NULL, stamp TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (name, model))"
    )


SCHEMA = Schema("categories", (_create,), legacy=2)
# Not needed to read: a read-only library made before it opens, with no counts known.
COUNTS_SCHEMA = Schema("category_counts", (_create_counts,), needed_to_read=False)
_SELECT = "SELECT name, prompts, negatives, threshold, created_at FROM categories"


def _record(row: tuple) -> CategoryRecord:
    name, prompts, negatives, threshold, created_at = row
    return CategoryRecord(name, tuple(json.loads(prompts)), tuple(json.loads(negatives)), threshold, created_at)


class Categories:
    """The categories table."""

    def __init__(self, db: Database):
        self._db = db

    def insert(self, record: CategoryRecord) -> bool:
        """Store a new category; False (nothing written) when the name is taken."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO categories (name, prompts, negatives, threshold, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    record.name,
                    json.dumps(record.prompts),
                    json.dumps(record.negatives),
                    record.threshold,
                    record.created_at,
                ],
            )
            return bool(cur.rowcount)

    def update(self, record: CategoryRecord) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE categories SET prompts = ?, negatives = ?, threshold = ? WHERE name = ?",
                [json.dumps(record.prompts), json.dumps(record.negatives), record.threshold, record.name],
            )

    def get(self, name: str) -> CategoryRecord | None:
        row = self._db.execute(f"{_SELECT} WHERE name = ?", [name]).fetchone()
        return _record(row) if row else None

    def all(self) -> list[CategoryRecord]:
        """All categories, by name (case-insensitive)."""
        return [_record(r) for r in self._db.execute(f"{_SELECT} ORDER BY name COLLATE NOCASE")]

    def remove(self, name: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM categories WHERE name = ?", [name])

    def save_count(self, name: str, model: str, stamp: str, count: int) -> None:
        """Remember `name`'s count under `model`, computed from what `stamp` names (nothing when the
        category is gone meanwhile)."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO category_counts (name, model, stamp, count)"
                " SELECT name, ?, ?, ? FROM categories WHERE name = ?",
                [model, stamp, count, name],
            )

    def saved_counts(self, model: str) -> dict[str, tuple[str, int]]:
        """name -> (stamp, count) of every count saved under `model`."""
        try:
            rows = self._db.execute(
                "SELECT name, stamp, count FROM category_counts WHERE model = ?", [model]
            ).fetchall()
        except sqlite3.OperationalError:  # a read-only library made before the counts
            return {}
        return {name: (stamp, count) for name, stamp, count in rows}

    def clear(self) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM categories")
