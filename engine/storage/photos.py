"""Photos and the folders they live in.

A photo row is a file the library knows: its path, the folder it was found through, size and
modification time (to notice changes), its content hash once read, or why it could not be read.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..paths import prefix_range
from .database import Database, Schema


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
    damage: str | None = None  # set for a photo indexed although partly damaged: how


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
    damage: str | None = None


PHOTO_COLUMNS = [f for f in PhotoRow.__dataclass_fields__]
SELECT_PHOTO = "SELECT " + ", ".join(f"p.{c}" for c in PHOTO_COLUMNS) + " FROM photos p"
# When a photo was taken: its EXIF date, else its file's modification time.
TAKEN = "COALESCE(p.taken_at, p.mtime)"


def under_folder(column: str, folder: str) -> tuple[str, list[object]]:
    """SQL condition and parameters: `column` is `folder` or a path inside it (case-sensitive)."""
    low, high = prefix_range(folder)
    return f"({column} = ? OR ({column} >= ? AND {column} < ?))", [folder, low, high]


def filters(
    where: list[str], params: list[object], folder: str | None, after: float | None, before: float | None
) -> None:
    """Append the folder and date-range conditions of a query on `photos p`."""
    if folder is not None:
        sql, values = under_folder("p.path", folder)
        where.append(sql)
        params += values
    if after is not None:
        where.append(f"{TAKEN} >= ?")
        params.append(after)
    if before is not None:
        where.append(f"{TAKEN} < ?")
        params.append(before)


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE folders (path TEXT PRIMARY KEY, added_at FLOAT)")
    conn.execute(
        "CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT NOT NULL, folder TEXT NOT NULL,"
        " size INTEGER NOT NULL, mtime FLOAT NOT NULL, hash TEXT, error TEXT, width INTEGER,"
        " height INTEGER, taken_at FLOAT, camera_make TEXT, camera_model TEXT, latitude FLOAT,"
        " longitude FLOAT)"
    )
    conn.execute("CREATE UNIQUE INDEX idx_photos_path ON photos (path)")
    conn.execute("CREATE INDEX idx_photos_hash ON photos (hash)")
    conn.execute("CREATE INDEX idx_photos_folder ON photos (folder)")
    conn.execute("CREATE INDEX idx_photos_taken_at ON photos (taken_at)")


def _damage(conn: sqlite3.Connection) -> None:
    """Photos indexed although partly damaged (a JPEG cut short) say how."""
    conn.execute("ALTER TABLE photos ADD COLUMN damage TEXT")


SCHEMA = Schema("photos", (_create, _damage), legacy=1)


class Photos:
    """The photos and folders tables."""

    def __init__(self, db: Database):
        self._db = db

    # -- folders -----------------------------------------------------------------------------

    def folders(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT path FROM folders ORDER BY path")]

    def add_folder(self, path: str, children: Sequence[str] = ()) -> None:
        """Add a folder; library folders inside it (`children`) are merged into it."""
        with self._db.transaction() as conn:
            for child in children:
                conn.execute("UPDATE photos SET folder = ? WHERE folder = ?", [path, child])
                conn.execute("DELETE FROM folders WHERE path = ?", [child])
            conn.execute("INSERT OR IGNORE INTO folders (path, added_at) VALUES (?, ?)", [path, time.time()])

    def remove_folder(self, path: str) -> None:
        """Forget a folder and its photos (the files on disk are never touched)."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM folders WHERE path = ?", [path])
            conn.execute("DELETE FROM photos WHERE folder = ?", [path])

    def folder_counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT folder, COUNT(*) FROM photos GROUP BY folder").fetchall())

    # -- scanning ----------------------------------------------------------------------------

    def stats(self, folder: str) -> dict[str, tuple[int, int, float]]:
        """path -> (id, size, mtime) for every photo of a folder: what a rescan compares against."""
        rows = self._db.execute("SELECT path, id, size, mtime FROM photos WHERE folder = ?", [folder])
        return {path: (pid, size, mtime) for path, pid, size, mtime in rows}

    def stats_for(self, paths: Iterable[str]) -> dict[str, tuple[int, int, float]]:
        """path -> (id, size, mtime) for these exact paths, where known."""
        rows = self._db.select_in("SELECT path, id, size, mtime FROM photos WHERE path IN ({marks})", paths)
        return {path: (pid, size, mtime) for path, pid, size, mtime in rows}

    def apply_scan(
        self,
        folder: str,
        new: Sequence[tuple[str, int, float]],
        changed: Sequence[tuple[int, int, float]],
        gone: Sequence[int],
    ) -> None:
        """Record a folder scan: new (path, size, mtime), changed (id, size, mtime), gone ids."""
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO photos (path, folder, size, mtime) VALUES (?, ?, ?, ?)",
                [(path, folder, size, mtime) for path, size, mtime in new],
            )
            conn.executemany(
                "UPDATE photos SET size = ?, mtime = ?, hash = NULL, error = NULL, damage = NULL WHERE id = ?",
                [(size, mtime, pid) for pid, size, mtime in changed],
            )
            conn.executemany("DELETE FROM photos WHERE id = ?", [(pid,) for pid in gone])

    def delete_under(self, paths: Iterable[str]) -> None:
        """Forget photos at these paths, or inside them when they were folders."""
        with self._db.transaction() as conn:
            for path in paths:
                sql, params = under_folder("path", path)
                conn.execute(f"DELETE FROM photos WHERE {sql}", params)

    def record(self, updates: Sequence[PhotoUpdate]) -> None:
        """Store what indexing learned about photos (hash and metadata, or the error)."""
        with self._db.transaction() as conn:
            conn.executemany(
                "UPDATE photos SET hash = ?, error = ?, width = ?, height = ?, taken_at = ?,"
                " camera_make = ?, camera_model = ?, latitude = ?, longitude = ?, damage = ? WHERE id = ?",
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
                        u.damage,
                        u.photo_id,
                    )
                    for u in updates
                ],
            )

    def pending(self, model: str) -> list[tuple[int, str]]:
        """(id, path) of readable photos with no vector of this model yet, in path order."""
        rows = self._db.execute(
            "SELECT p.id, p.path FROM photos p WHERE p.error IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM vectors v WHERE v.hash = p.hash AND v.model = ?) ORDER BY p.path",
            [model],
        )
        return [(pid, path) for pid, path in rows]

    # -- reading -----------------------------------------------------------------------------

    def by_id(self, ids: Iterable[int]) -> dict[int, PhotoRow]:
        rows = self._db.select_in(f"{SELECT_PHOTO} WHERE p.id IN ({{marks}})", ids)
        return {row[0]: PhotoRow(*row) for row in rows}

    def by_path(self, path: str) -> PhotoRow | None:
        row = self._db.execute(f"{SELECT_PHOTO} WHERE p.path = ?", [path]).fetchone()
        return PhotoRow(*row) if row else None

    def for_labels(self, labels: Sequence[int], model: str) -> dict[int, list[PhotoRow]]:
        """label -> the photos whose content that vector describes (duplicates share one vector)."""
        out: dict[int, list[PhotoRow]] = {}
        rows = self._db.select_in(
            f"SELECT v.label, {SELECT_PHOTO[7:]} JOIN vectors v ON v.hash = p.hash"
            " WHERE v.model = ? AND v.label IN ({marks}) ORDER BY p.path",
            labels,
            before=[model],
        )
        for label, *photo in rows:
            out.setdefault(label, []).append(PhotoRow(*photo))
        return out

    def for_hashes(self, hashes: Sequence[str]) -> dict[str, list[PhotoRow]]:
        """hash -> the photos of that content, by path: what for_labels gives, for a caller that
        knows the labels' hashes (a PhotoTable), without reading the vectors' table."""
        out: dict[str, list[PhotoRow]] = {}
        rows = self._db.select_in(f"SELECT p.hash, {SELECT_PHOTO[7:]} WHERE p.hash IN ({{marks}}) ORDER BY p.path", hashes)
        for content, *photo in rows:
            out.setdefault(content, []).append(PhotoRow(*photo))
        return out

    def newest_first(
        self, folder: str | None, after: float | None, before: float | None, limit: int | None
    ) -> list[PhotoRow]:
        where: list[str] = ["p.error IS NULL"]
        params: list[object] = []
        filters(where, params, folder, after, before)
        sql = f"{SELECT_PHOTO} WHERE {' AND '.join(where)} ORDER BY {TAKEN} DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [PhotoRow(*row) for row in self._db.execute(sql, params)]

    def cameras(self) -> dict[str, str]:
        """path -> "make model" of the readable photos whose camera is known."""
        rows = self._db.execute(
            "SELECT path, COALESCE(camera_make, '') || ' ' || COALESCE(camera_model, '') FROM photos"
            " WHERE error IS NULL AND (camera_make IS NOT NULL OR camera_model IS NOT NULL)"
        )
        return {path: camera.strip() for path, camera in rows}

    def damaged(self) -> list[tuple[str, str]]:
        """(path, how) of photos indexed although partly damaged."""
        rows = self._db.execute("SELECT path, damage FROM photos WHERE damage IS NOT NULL ORDER BY path")
        return [(path, damage) for path, damage in rows]

    def failures(self) -> list[tuple[str, str]]:
        rows = self._db.execute("SELECT path, error FROM photos WHERE error IS NOT NULL ORDER BY path")
        return [(path, error) for path, error in rows]

    def counts(self, model: str) -> dict[str, int]:
        """photos indexed for this model, failed, pending, and total."""
        total, failed = self._db.execute("SELECT COUNT(*), COUNT(error) FROM photos").fetchone()
        indexed = self._db.execute(
            "SELECT COUNT(*) FROM photos p WHERE p.error IS NULL AND EXISTS"
            " (SELECT 1 FROM vectors v WHERE v.hash = p.hash AND v.model = ?)",
            [model],
        ).fetchone()[0]
        return {"photos": indexed, "failed": failed, "pending": total - failed - indexed, "total": total}

    def paths_by_hash(self, hashes: Iterable[str], readable_only: bool = False) -> dict[str, list[str]]:
        """content hash -> its current paths, in path order."""
        out: dict[str, list[str]] = {}
        readable = " AND error IS NULL" if readable_only else ""
        rows = self._db.select_in(
            f"SELECT hash, path FROM photos WHERE hash IN ({{marks}}){readable} ORDER BY path", sorted(set(hashes))
        )
        for h, path in rows:
            out.setdefault(h, []).append(path)
        return out

    def sizes_by_hash(self, hashes: Iterable[str]) -> dict[str, tuple[int, int]]:
        """content hash -> the upright (width, height) of one of its photos, where known."""
        rows = self._db.select_in(
            "SELECT hash, width, height FROM photos WHERE hash IN ({marks}) AND width IS NOT NULL",
            sorted(set(hashes)),
        )
        return {h: (int(w), int(ht)) for h, w, ht in rows}

    def readable_hashes(self) -> list[str]:
        """Distinct content hashes of readable photos, sorted."""
        rows = self._db.execute(
            "SELECT DISTINCT hash FROM photos WHERE hash IS NOT NULL AND error IS NULL ORDER BY hash"
        )
        return [r[0] for r in rows]

    def duplicate_paths(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) - COUNT(DISTINCT path) FROM photos").fetchone()[0])
