"""All SQL of the library: photos, their vectors, folders and library settings.

SQLite is the source of truth. A photo is *indexed* when a vector of the library's target model
exists for its content hash; vectors are keyed by (content hash, model), so a renamed or moved file
keeps its vector, and switching models keeps the old vectors searchable until the new ones are done.
Every batch of results is written in one transaction, so a kill at any moment leaves rows and
vectors consistent.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlite_utils

from .errors import LibraryError

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class PhotoRow:
    """One photo as the library knows it."""

    id: int
    path: str
    folder: str
    size: int
    mtime: float
    hash: str | None
    error: str | None
    width: int | None = None
    height: int | None = None
    taken_at: float | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class PhotoUpdate:
    """What indexing learned about one photo: its content hash and metadata, or why it failed."""

    photo_id: int
    hash: str | None
    error: str | None = None
    width: int | None = None
    height: int | None = None
    taken_at: float | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    latitude: float | None = None
    longitude: float | None = None


PHOTO_COLUMNS = [f for f in PhotoRow.__dataclass_fields__]
_SELECT_PHOTO = "SELECT " + ", ".join(f"p.{c}" for c in PHOTO_COLUMNS) + " FROM photos p"


def _migrate_1(db: sqlite_utils.Database) -> None:
    db.table("folders").create({"path": str, "added_at": float}, pk="path")
    db.table("photos").create(
        {
            "id": int,
            "path": str,
            "folder": str,
            "size": int,
            "mtime": float,
            "hash": str,
            "error": str,
            "width": int,
            "height": int,
            "taken_at": float,
            "camera_make": str,
            "camera_model": str,
            "latitude": float,
            "longitude": float,
        },
        pk="id",
        not_null={"path", "folder", "size", "mtime"},
    )
    db.table("photos").create_index(["path"], unique=True)
    db.table("photos").create_index(["hash"])
    db.table("photos").create_index(["folder"])
    db.table("photos").create_index(["taken_at"])
    db.execute(
        "CREATE TABLE vectors (label INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL,"
        " model TEXT NOT NULL, vector BLOB NOT NULL, UNIQUE(hash, model))"
    )
    db.execute("CREATE INDEX idx_vectors_model ON vectors(model)")


def _migrate_2(db: sqlite_utils.Database) -> None:
    """Smart albums, tags with highlight maps, and fine-tuned model versions.

    Tags hang on content hashes, not paths, so they survive renames and moves like vectors do.
    """
    db.execute(
        "CREATE TABLE categories (name TEXT PRIMARY KEY, prompts TEXT NOT NULL, negatives TEXT NOT NULL,"
        " threshold REAL, created_at REAL NOT NULL)"
    )
    db.execute(
        "CREATE TABLE tags (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, text TEXT NOT NULL,"
        " created_at REAL NOT NULL, UNIQUE(hash, text))"
    )
    db.execute("CREATE INDEX idx_tags_text ON tags(text)")
    db.execute(
        "CREATE TABLE highlights (id INTEGER PRIMARY KEY, tag_id INTEGER NOT NULL REFERENCES tags(id)"
        " ON DELETE CASCADE, phrase TEXT NOT NULL, box TEXT, mask BLOB)"
    )
    db.execute(
        "CREATE TABLE model_versions (version INTEGER PRIMARY KEY, created_at REAL NOT NULL,"
        " base_model TEXT NOT NULL, path TEXT NOT NULL, config TEXT NOT NULL, metrics TEXT NOT NULL,"
        " mix REAL NOT NULL DEFAULT 1.0, active INTEGER NOT NULL DEFAULT 0)"
    )


# One function per schema step; a library at version v runs MIGRATIONS[v:] in order.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migrate_1, _migrate_2]


class Store:
    """The library's SQLite database. Safe to use from several threads (one connection each)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._migrate()

    # -- connections and transactions -------------------------------------------------------

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.DatabaseError as e:
                raise LibraryError(f"Cannot open the library database {self.path}: {e}") from e
            self._connections.append(conn)
            db = self._local.db = sqlite_utils.Database(conn)
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """One atomic write. Writers are serialised in-process; readers never wait (WAL)."""
        with self._write_lock:
            db = self.db
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    if db.conn.in_transaction:  # SQLite rolls back by itself on some errors
                        db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.OperationalError as e:
                if "full" in str(e):  # SQLITE_FULL: the transaction was rolled back, nothing is lost
                    raise LibraryError(
                        f"The disk holding the library ({self.path.parent}) is full; free some space"
                        " and run again: nothing indexed so far is lost."
                    ) from e
                raise

    def close(self) -> None:
        for conn in self._connections:
            conn.close()
        self._connections.clear()
        self._local = threading.local()

    def _migrate(self) -> None:
        try:
            with self.transaction() as db:
                db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                version = int(self._get_meta(db, "schema_version") or 0)
                if version > SCHEMA_VERSION:
                    raise LibraryError(
                        f"The library at {self.path.parent} was made by a newer Viewfinder"
                        f" (schema {version}); update Viewfinder to open it."
                    )
                for step in MIGRATIONS[version:]:
                    step(db)
                self._set_meta(db, "schema_version", str(SCHEMA_VERSION))
        except sqlite3.DatabaseError as e:
            raise LibraryError(f"The library database {self.path} is not usable: {e}") from e

    # -- settings ----------------------------------------------------------------------------

    @staticmethod
    def _get_meta(db: sqlite_utils.Database, key: str) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    @staticmethod
    def _set_meta(db: sqlite_utils.Database, key: str, value: str | None) -> None:
        if value is None:
            db.execute("DELETE FROM meta WHERE key = ?", [key])
        else:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])

    def get_meta(self, key: str) -> str | None:
        return self._get_meta(self.db, key)

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction() as db:
            self._set_meta(db, key, value)

    # -- folders -----------------------------------------------------------------------------

    def folders(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM folders ORDER BY path")]

    def add_folder(self, path: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO folders (path, added_at) VALUES (?, ?)", [path, time.time()])

    def remove_folder(self, path: str) -> None:
        """Forget a folder and its photos (the files on disk are never touched)."""
        with self.transaction() as db:
            db.execute("DELETE FROM folders WHERE path = ?", [path])
            db.execute("DELETE FROM photos WHERE folder = ?", [path])

    # -- photos ------------------------------------------------------------------------------

    def photo_stats(self, folder: str) -> dict[str, tuple[int, int, float]]:
        """path -> (id, size, mtime) for every photo under a folder: what a rescan compares against."""
        rows = self.db.execute("SELECT path, id, size, mtime FROM photos WHERE folder = ?", [folder])
        return {path: (pid, size, mtime) for path, pid, size, mtime in rows}

    def apply_scan(
        self,
        folder: str,
        new: Sequence[tuple[str, int, float]],
        changed: Sequence[tuple[int, int, float]],
        gone: Sequence[int],
    ) -> None:
        """Record a folder scan: new (path, size, mtime), changed (id, size, mtime), gone ids."""
        with self.transaction() as db:
            db.conn.executemany(
                "INSERT OR IGNORE INTO photos (path, folder, size, mtime) VALUES (?, ?, ?, ?)",
                [(path, folder, size, mtime) for path, size, mtime in new],
            )
            db.conn.executemany(
                "UPDATE photos SET size = ?, mtime = ?, hash = NULL, error = NULL WHERE id = ?",
                [(size, mtime, pid) for pid, size, mtime in changed],
            )
            db.conn.executemany("DELETE FROM photos WHERE id = ?", [(pid,) for pid in gone])

    def photo_stats_for(self, paths: Iterable[str]) -> dict[str, tuple[int, int, float]]:
        """path -> (id, size, mtime) for these exact paths, where known."""
        out: dict[str, tuple[int, int, float]] = {}
        for chunk in _chunks(list(paths), 500):
            marks = ",".join("?" * len(chunk))
            for path, pid, size, mtime in self.db.execute(
                f"SELECT path, id, size, mtime FROM photos WHERE path IN ({marks})", chunk
            ):
                out[path] = (pid, size, mtime)
        return out

    def photo_stat(self, path: str) -> tuple[int, int, float] | None:
        return self.photo_stats_for([path]).get(path)

    def delete_paths_under(self, paths: Iterable[str]) -> None:
        """Forget photos at these paths, or inside them when they were folders."""
        with self.transaction() as db:
            for path in paths:
                db.execute(f"DELETE FROM photos WHERE {_UNDER}", [path, _like_prefix(path)])

    def pending(self, model: str) -> list[tuple[int, str]]:
        """(id, path) of readable photos with no vector of this model yet, in path order."""
        rows = self.db.execute(
            "SELECT p.id, p.path FROM photos p WHERE p.error IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM vectors v WHERE v.hash = p.hash AND v.model = ?) ORDER BY p.path",
            [model],
        )
        return [(pid, path) for pid, path in rows]

    def known_hashes(self, model: str) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT hash FROM vectors WHERE model = ?", [model])}

    def save_results(
        self, model: str, updates: Sequence[PhotoUpdate], vectors: dict[str, np.ndarray]
    ) -> list[tuple[int, np.ndarray]]:
        """Write one batch atomically: photo metadata and errors, and the new vectors by hash.

        Returns the (label, vector) pairs that were inserted, for the caller's index.
        """
        added: list[tuple[int, np.ndarray]] = []
        with self.transaction() as db:
            for content_hash, vector in vectors.items():
                cur = db.execute(
                    "INSERT OR IGNORE INTO vectors (hash, model, vector) VALUES (?, ?, ?)",
                    [content_hash, model, np.asarray(vector, dtype=np.float32).tobytes()],
                )
                if cur.rowcount:
                    added.append((int(cur.lastrowid or 0), vector))
            db.conn.executemany(
                "UPDATE photos SET hash = ?, error = ?, width = ?, height = ?, taken_at = ?,"
                " camera_make = ?, camera_model = ?, latitude = ?, longitude = ? WHERE id = ?",
                [
                    (
                        u.hash,
                        u.error,
                        u.width,
                        u.height,
                        u.taken_at,
                        u.camera_make,
                        u.camera_model,
                        u.latitude,
                        u.longitude,
                        u.photo_id,
                    )
                    for u in updates
                ],
            )
        return added

    def photos_by_id(self, ids: Iterable[int]) -> dict[int, PhotoRow]:
        ids = list(ids)
        out: dict[int, PhotoRow] = {}
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"{_SELECT_PHOTO} WHERE p.id IN ({marks})", chunk):
                out[row[0]] = PhotoRow(*row)
        return out

    def photo_by_path(self, path: str) -> PhotoRow | None:
        row = self.db.execute(f"{_SELECT_PHOTO} WHERE p.path = ?", [path]).fetchone()
        return PhotoRow(*row) if row else None

    def photos_for_labels(self, labels: Sequence[int], model: str) -> dict[int, list[PhotoRow]]:
        """label -> the photos whose content that vector describes (duplicates share one vector)."""
        out: dict[int, list[PhotoRow]] = {}
        for chunk in _chunks(list(labels), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT v.label, {_SELECT_PHOTO[7:]} JOIN vectors v ON v.hash = p.hash"
                f" WHERE v.model = ? AND v.label IN ({marks}) ORDER BY p.path",
                [model, *chunk],
            )
            for label, *photo in rows:
                out.setdefault(label, []).append(PhotoRow(*photo))
        return out

    def photos_newest_first(
        self, folder: str | None, after: float | None, before: float | None, limit: int | None
    ) -> list[PhotoRow]:
        where: list[str] = ["p.error IS NULL"]
        params: list[object] = []
        _filters(where, params, folder, after, before)
        sql = f"{_SELECT_PHOTO} WHERE {' AND '.join(where)} ORDER BY {_TAKEN} DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [PhotoRow(*row) for row in self.db.execute(sql, params)]

    def failures(self) -> list[tuple[str, str]]:
        return [
            (path, error)
            for path, error in self.db.execute(
                "SELECT path, error FROM photos WHERE error IS NOT NULL ORDER BY path"
            )
        ]

    def counts(self, model: str) -> dict[str, int]:
        """photos indexed for this model, failed, pending, and total."""
        total, failed = self.db.execute(
            "SELECT COUNT(*), COUNT(error) FROM photos"
        ).fetchone()
        indexed = self.db.execute(
            "SELECT COUNT(*) FROM photos p WHERE p.error IS NULL AND EXISTS"
            " (SELECT 1 FROM vectors v WHERE v.hash = p.hash AND v.model = ?)",
            [model],
        ).fetchone()[0]
        return {"photos": indexed, "failed": failed, "pending": total - failed - indexed, "total": total}

    def folder_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT folder, COUNT(*) FROM photos GROUP BY folder").fetchall())

    # -- vectors -----------------------------------------------------------------------------

    def labels(self, model: str) -> set[int]:
        """Labels of this model's vectors that describe at least one photo still in the library."""
        rows = self.db.execute(
            "SELECT v.label FROM vectors v WHERE v.model = ? AND EXISTS"
            " (SELECT 1 FROM photos p WHERE p.hash = v.hash)",
            [model],
        )
        return {r[0] for r in rows}

    def vectors(self, labels: Sequence[int], dim: int) -> np.ndarray:
        """The stored vectors of these labels, in order, as an (N, dim) float32 array."""
        out = np.zeros((len(labels), dim), dtype=np.float32)
        position = {label: i for i, label in enumerate(labels)}
        for chunk in _chunks(list(labels), 500):
            marks = ",".join("?" * len(chunk))
            for label, blob in self.db.execute(
                f"SELECT label, vector FROM vectors WHERE label IN ({marks})", chunk
            ):
                out[position[label]] = np.frombuffer(blob, dtype=np.float32)
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
        _filters(where, params, folder, after, before)
        rows = self.db.execute(
            "SELECT DISTINCT v.label FROM vectors v JOIN photos p ON p.hash = v.hash WHERE "
            + " AND ".join(where),
            params,
        )
        return {r[0] for r in rows}

    def drop_orphan_vectors(self) -> int:
        """Delete vectors that no photo refers to any more (their files were deleted)."""
        with self.transaction() as db:
            cur = db.execute(
                "DELETE FROM vectors WHERE NOT EXISTS (SELECT 1 FROM photos p WHERE p.hash = vectors.hash)"
            )
            return cur.rowcount

    def relabel_vectors(self, old_model: str, new_model: str) -> None:
        """Make old_model's vectors new_model's, keeping their labels (and so the index)."""
        with self.transaction() as db:
            db.execute("DELETE FROM vectors WHERE model = ?", [new_model])
            db.execute("UPDATE vectors SET model = ? WHERE model = ?", [new_model, old_model])

    def drop_vectors(self, keep_model: str) -> int:
        """Delete vectors of other models and vectors no photo refers to any more."""
        with self.transaction() as db:
            cur = db.execute(
                "DELETE FROM vectors WHERE model != ? OR NOT EXISTS"
                " (SELECT 1 FROM photos p WHERE p.hash = vectors.hash)",
                [keep_model],
            )
            return cur.rowcount


# `path` is the folder itself or lies inside it; parameters: (folder, _like_prefix(folder)).
_UNDER = "path = ? OR path LIKE ? ESCAPE '\\'"


# When a photo was taken: its EXIF date, else its file's modification time.
_TAKEN = "COALESCE(p.taken_at, p.mtime)"


def _filters(
    where: list[str], params: list[object], folder: str | None, after: float | None, before: float | None
) -> None:
    """Append the folder and date-range conditions of a query on `photos p`."""
    if folder is not None:
        where.append(f"({_UNDER})")
        params += [folder, _like_prefix(folder)]
    if after is not None:
        where.append(f"{_TAKEN} >= ?")
        params.append(after)
    if before is not None:
        where.append(f"{_TAKEN} < ?")
        params.append(before)


def _like_prefix(folder: str) -> str:
    escaped = folder.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "/%"


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
