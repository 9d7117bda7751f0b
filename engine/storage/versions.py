"""Fine-tuned model versions: one row per training run (its files live under the library folder)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .database import Database, Schema


@dataclass(frozen=True)
class VersionRecord:
    version: int
    created_at: float
    base_model: str  # JSON of the base ModelSpec
    path: str  # relative to the library folder
    config: str  # JSON
    metrics: str  # JSON
    mix: float


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE model_versions (version INTEGER PRIMARY KEY, created_at REAL NOT NULL,"
        " base_model TEXT NOT NULL, path TEXT NOT NULL, config TEXT NOT NULL, metrics TEXT NOT NULL,"
        " mix REAL NOT NULL DEFAULT 1.0, active INTEGER NOT NULL DEFAULT 0)"
    )
    # `active` is no longer read or written: the library's model setting alone says which version
    # answers searches (a second record of it could disagree after a crash).


SCHEMA = Schema("model_versions", (_create,), legacy=2)
_SELECT = "SELECT version, created_at, base_model, path, config, metrics, mix FROM model_versions"


def _record(row: tuple) -> VersionRecord:
    version, created, base, path, config, metrics, mix = row
    return VersionRecord(int(version), float(created), base, path, config, metrics, float(mix))


class ModelVersions:
    """The model_versions table."""

    def __init__(self, db: Database):
        self._db = db

    def all(self) -> list[VersionRecord]:
        """All versions, oldest first."""
        return [_record(r) for r in self._db.execute(f"{_SELECT} ORDER BY version")]

    def get(self, version: int) -> VersionRecord | None:
        row = self._db.execute(f"{_SELECT} WHERE version = ?", [version]).fetchone()
        return _record(row) if row else None

    def next_number(self) -> int:
        return int(self._db.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions").fetchone()[0])

    def insert(self, record: VersionRecord) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO model_versions (version, created_at, base_model, path, config, metrics, mix)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    record.version,
                    record.created_at,
                    record.base_model,
                    record.path,
                    record.config,
                    record.metrics,
                    record.mix,
                ],
            )

    def set_mix(self, version: int, mix: float) -> None:
        with self._db.transaction() as conn:
            conn.execute("UPDATE model_versions SET mix = ? WHERE version = ?", [mix, version])
