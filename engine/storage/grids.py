"""Patch grids of photo contents, keyed by (content hash, model): what the tag stage's window cache
reads (engine/tag_windows.py).

A grid is the image tower's patch vectors in the joint space, averaged onto at most 8 x 8 cells
(ViT-B-32's own 7 x 7 grid is kept as it is), stored as int8 codes with one float32 scale per cell
(ViT-B-32: 49 x 512 bytes + 49 x 4 = 25 KB a photo). A grid is written in the same transaction as
its photo's vector. Libraries indexed before grids existed simply lack them: photos indexed later
get theirs, the others are scored from their vectors alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import numpy as np

from ..int8 import quantise
from .database import Database, Schema


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE grids (hash TEXT NOT NULL, model TEXT NOT NULL, rows INTEGER NOT NULL,"
        " cols INTEGER NOT NULL, codes BLOB NOT NULL, scales BLOB NOT NULL, PRIMARY KEY (hash, model))"
    )


# Not needed to read: a read-only library made before grids opens, and has none.
SCHEMA = Schema("grids", (_create,), needed_to_read=False)


def encode(grid: np.ndarray) -> tuple[int, int, bytes, bytes]:
    """(rows, cols, int8 codes, float32 scale per cell) of a (rows, cols, D) grid."""
    rows, cols, dim = grid.shape
    codes, scale = quantise(np.asarray(grid, np.float32).reshape(rows * cols, dim), axis=1)
    return rows, cols, codes.tobytes(), scale.astype("<f4").tobytes()


def decode(rows: int, cols: int, codes: bytes, scales: bytes) -> np.ndarray:
    """The (rows, cols, D) float32 grid of `encode`'s output."""
    scale = np.frombuffer(scales, "<f4").reshape(rows * cols, 1)
    return (np.frombuffer(codes, np.int8).reshape(rows * cols, -1) * scale).reshape(rows, cols, -1)


class Grids:
    """The grids table."""

    def __init__(self, db: Database):
        self._db = db

    def add(self, model: str, grids: dict[str, np.ndarray]) -> None:
        """Store content hash -> (rows, cols, D) grid under `model` (existing ones are kept)."""
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO grids (hash, model, rows, cols, codes, scales)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(h, model, *encode(g)) for h, g in grids.items()],
            )

    def of(self, model: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """content hash -> (rows, cols, D) float32 grid, for those of `hashes` that have one."""
        try:
            found = self._db.select_in(
                "SELECT hash, rows, cols, codes, scales FROM grids WHERE model = ? AND hash IN ({marks})",
                sorted(set(hashes)),
                before=[model],
            )
            return {h: decode(r, c, codes, scales) for h, r, c, codes, scales in found}
        except sqlite3.OperationalError:  # a read-only library made before grids
            return {}

    def drop_orphans(self) -> int:
        """Forget the grids of contents that no vector of the same model refers to any more."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM grids WHERE NOT EXISTS"
                " (SELECT 1 FROM vectors v WHERE v.hash = grids.hash AND v.model = grids.model)"
            )
            return cur.rowcount
