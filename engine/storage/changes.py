"""Change counters: how often the photos, and each model's vectors, have changed.

Search keeps every photo vector in memory (engine/photo_table.py) and must notice when another
process (the indexer, the folder watcher) writes. Triggers bump a counter inside the writing
transaction itself, so a reader sees a new count exactly when it can see the new rows, whichever
process or connection wrote them; reading the counters is one indexed lookup, where counting the
tables' rows cost tens of milliseconds a search at 100k photos.
"""

from __future__ import annotations

import sqlite3

from .database import Database, Schema

PHOTOS = "photos"
# The photo columns that a search table holds (paths, content, readability, when taken).
_PHOTO_COLUMNS = "path, hash, error, mtime, taken_at"


def _bump(name: str) -> str:
    """Trigger body: count one change under `name` (an SQL expression)."""
    return (
        f"BEGIN INSERT OR IGNORE INTO changes (name, count) VALUES ({name}, 0);"
        f" UPDATE changes SET count = count + 1 WHERE name = {name}; END"
    )


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE changes (name TEXT PRIMARY KEY, count INTEGER NOT NULL)")
    photos = f"'{PHOTOS}'"
    conn.execute(f"CREATE TRIGGER photos_inserted AFTER INSERT ON photos {_bump(photos)}")
    conn.execute(f"CREATE TRIGGER photos_deleted AFTER DELETE ON photos {_bump(photos)}")
    conn.execute(f"CREATE TRIGGER photos_updated AFTER UPDATE OF {_PHOTO_COLUMNS} ON photos {_bump(photos)}")
    # One counter per model: indexing with a new model must not reload the table of the old one.
    conn.execute(f"CREATE TRIGGER vectors_inserted AFTER INSERT ON vectors {_bump(_vectors('NEW.model'))}")
    conn.execute(f"CREATE TRIGGER vectors_deleted AFTER DELETE ON vectors {_bump(_vectors('OLD.model'))}")
    conn.execute(
        f"CREATE TRIGGER vectors_updated AFTER UPDATE OF hash, model, vector ON vectors"
        f" {_bump(_vectors('NEW.model'))}"
    )


def _vectors(model: str) -> str:
    return f"'vectors ' || {model}"


# Not needed to read: a read-only library cannot change while it is open, so a library made before
# the counters still opens read-only (its counters read as zero).
SCHEMA = Schema("changes", (_create,), needed_to_read=False)


class Changes:
    """The change counters (written only by the triggers)."""

    def __init__(self, db: Database):
        self._db = db

    def generation(self, model: str) -> tuple[int, int]:
        """(changes to photos, changes to `model`'s vectors): either grows with every committed
        write that could change what search holds for the model."""
        try:
            rows = dict(
                self._db.execute(
                    "SELECT name, count FROM changes WHERE name IN (?, ?)", [PHOTOS, f"vectors {model}"]
                ).fetchall()
            )
        except sqlite3.OperationalError:  # a read-only library made before the counters
            return (0, 0)
        return (rows.get(PHOTOS, 0), rows.get(f"vectors {model}", 0))
