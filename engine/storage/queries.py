"""Past searches: the texts the user has searched for, newest first.

They are the user's own words for what their photos show, so calibration uses them as rivals of a
new query (engine/calibration.py): a photo that a past query describes better than the new one is
not the new query's match ("orange" on a photo that "red" describes). Only the latest few are kept.
"""

from __future__ import annotations

import sqlite3
import time

from .database import Database, Schema

# Past searches kept: enough to cover what a library holds, few enough to score cheaply.
KEEP = 200


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE queries (text TEXT PRIMARY KEY, last_used REAL NOT NULL)")


SCHEMA = Schema("queries", (_create,))


class PastQueries:
    """The queries table."""

    def __init__(self, db: Database):
        self._db = db

    def record(self, text: str, now: float | None = None) -> bool:
        """Remember a search text (a repeated one moves to the front); the oldest beyond KEEP go.
        False when another writer kept the library busy: history is not worth failing a search."""
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO queries (text, last_used) VALUES (?, ?)"
                    " ON CONFLICT(text) DO UPDATE SET last_used = excluded.last_used",
                    [text, time.time() if now is None else now],
                )
                conn.execute(
                    "DELETE FROM queries WHERE text NOT IN"
                    " (SELECT text FROM queries ORDER BY last_used DESC LIMIT ?)",
                    [KEEP],
                )
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            return False
        return True

    def recent(self, limit: int = KEEP) -> list[str]:
        """The latest search texts, newest first."""
        rows = self._db.execute("SELECT text FROM queries ORDER BY last_used DESC LIMIT ?", [limit]).fetchall()
        return [str(text) for (text,) in rows]
