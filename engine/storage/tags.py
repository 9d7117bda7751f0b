"""Personal tags and their highlights. Tags hang on content hashes, not paths, so they survive
renames and moves like vectors do."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .database import Database, Schema

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class TagRecord:
    id: int
    hash: str
    text: str
    created_at: float
    highlights: tuple[tuple[str, Box | None, bytes | None], ...]  # (phrase, box, mask), oldest first


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, text TEXT NOT NULL,"
        " created_at REAL NOT NULL, UNIQUE(hash, text))"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS idx_tags_text ON tags(text)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS highlights (id INTEGER PRIMARY KEY, tag_id INTEGER NOT NULL"
        " REFERENCES tags(id) ON DELETE CASCADE, phrase TEXT NOT NULL, box TEXT, mask BLOB)"
    )


SCHEMA = Schema("tags", (_create,), legacy=2)


class Tags:
    """The tags and highlights tables."""

    def __init__(self, db: Database):
        self._db = db

    def add(self, content_hash: str, text: str, highlights: Sequence[tuple[str, Box | None, bytes | None]]) -> int:
        """Attach `text` to a content (once); each highlight replaces one of the same phrase.
        Returns the tag's id."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO tags (hash, text, created_at) VALUES (?, ?, ?)",
                [content_hash, text, time.time()],
            )
            tag_id = int(
                conn.execute("SELECT id FROM tags WHERE hash = ? AND text = ?", [content_hash, text]).fetchone()[0]
            )
            for phrase, box, mask in highlights:
                conn.execute("DELETE FROM highlights WHERE tag_id = ? AND phrase = ?", [tag_id, phrase])
                conn.execute(
                    "INSERT INTO highlights (tag_id, phrase, box, mask) VALUES (?, ?, ?, ?)",
                    [tag_id, phrase, json.dumps(list(box)) if box else None, mask],
                )
        return tag_id

    def remove(self, content_hash: str, text: str | None = None) -> int:
        """Remove one tag (by text) or all tags of a content; returns how many went."""
        with self._db.transaction() as conn:
            if text is None:
                cur = conn.execute("DELETE FROM tags WHERE hash = ?", [content_hash])
            else:
                cur = conn.execute("DELETE FROM tags WHERE hash = ? AND text = ?", [content_hash, text])
            return int(cur.rowcount)

    def remove_text(self, text: str) -> int:
        """Remove the tag `text` from every content; returns how many went."""
        with self._db.transaction() as conn:
            return int(conn.execute("DELETE FROM tags WHERE text = ?", [text]).rowcount)

    def rename(self, old: str, new: str) -> int:
        """Tag every content tagged `old` with `new` instead; returns how many. A highlight of the
        whole text `old` becomes one of `new`, and other phrases stay. A content tagged with both
        keeps its tag `new` and gains the highlights of `old` whose phrase that tag has none of."""
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT id, hash FROM tags WHERE text = ?", [old]).fetchall()
            for tag_id, content_hash in rows:
                conn.execute(
                    "UPDATE highlights SET phrase = ? WHERE tag_id = ? AND phrase = ?", [new, tag_id, old]
                )
                both = conn.execute(
                    "SELECT id FROM tags WHERE hash = ? AND text = ?", [content_hash, new]
                ).fetchone()
                if both is None:
                    conn.execute("UPDATE tags SET text = ? WHERE id = ?", [new, tag_id])
                    continue
                conn.execute(
                    "UPDATE highlights SET tag_id = ? WHERE tag_id = ? AND phrase NOT IN"
                    " (SELECT phrase FROM highlights WHERE tag_id = ?)",
                    [both[0], tag_id, both[0]],
                )
                conn.execute("DELETE FROM tags WHERE id = ?", [tag_id])  # with the highlights left
            return len(rows)

    def records(self, hashes: Iterable[str] | None = None) -> list[TagRecord]:
        """Every tag (or those of these content hashes), ordered by text then age."""
        order = " ORDER BY t.text, t.created_at, t.id"
        select = "SELECT t.id, t.hash, t.text, t.created_at FROM tags t"
        if hashes is None:
            rows = self._db.execute(select + order).fetchall()
        else:
            rows = list(self._db.select_in(select + " WHERE t.hash IN ({marks})", sorted(set(hashes))))
            rows.sort(key=lambda r: (r[2], r[3], r[0]))
        highlights: dict[int, list[tuple[str, Box | None, bytes | None]]] = {}
        found = self._db.select_in(
            "SELECT tag_id, phrase, box, mask FROM highlights WHERE tag_id IN ({marks}) ORDER BY id",
            [r[0] for r in rows],
        )
        for tag_id, phrase, box, mask in found:
            highlights.setdefault(tag_id, []).append((phrase, tuple(json.loads(box)) if box else None, mask))
        return [
            TagRecord(tag_id, h, text, created, tuple(highlights.get(tag_id, ())))
            for tag_id, h, text, created in rows
        ]

    def texts(self) -> dict[str, int]:
        """Distinct tag texts with how many photos (content hashes in the library) carry each."""
        rows = self._db.execute(
            "SELECT t.text, COUNT(DISTINCT t.hash) FROM tags t WHERE EXISTS"
            " (SELECT 1 FROM photos p WHERE p.hash = t.hash) GROUP BY t.text ORDER BY t.text"
        )
        return {text: int(n) for text, n in rows}

    def hashes_with(self, texts: Iterable[str]) -> set[str]:
        """Content hashes carrying any of these tag texts."""
        return {r[0] for r in self._db.select_in("SELECT DISTINCT hash FROM tags WHERE text IN ({marks})", list(texts))}

    def drop_orphans(self) -> int:
        """Delete tags (and their highlights) of contents that no photo and no vector has any more:
        their grace period is over."""
        with self._db.transaction() as conn:
            return conn.execute(
                "DELETE FROM tags WHERE NOT EXISTS (SELECT 1 FROM photos p WHERE p.hash = tags.hash)"
                " AND NOT EXISTS (SELECT 1 FROM vectors v WHERE v.hash = tags.hash)"
            ).rowcount
