"""Category definitions (smart albums). Membership is never stored: it is computed from vectors."""

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


SCHEMA = Schema("categories", (_create,), legacy=2)
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

    def clear(self) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM categories")
