"""The library's storage: the only place that speaks SQL.

`Store` opens the database and holds one repository per aggregate: `photos` (photos and folders),
`vectors`, `tags` (and highlights), `categories`, `versions` (fine-tuned models), `texts` (text
read in photos), `queries` (past searches), `settings`, and `changes` (counters that tell search its
photos or vectors changed).
Repository methods that write are each one transaction; `Store.transaction()` groups several into
one atomic change (transactions nest).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import categories, changes, grids, phashes, photos, queries, tags, texts, vectors, versions
from .database import Database, Schema, Settings
from .photos import PhotoRow, PhotoUpdate

SCHEMAS: tuple[Schema, ...] = (
    photos.SCHEMA,
    vectors.SCHEMA,
    grids.SCHEMA,
    tags.SCHEMA,
    categories.SCHEMA,
    categories.COUNTS_SCHEMA,
    versions.SCHEMA,
    phashes.SCHEMA,
    texts.SCHEMA,
    changes.SCHEMA,  # after photos and vectors: its triggers are on them
    queries.SCHEMA,
)


class Store:
    """The library's SQLite database and its repositories. Safe to use from several threads."""

    def __init__(self, path: Path, *, read_only: bool = False):
        self.path = Path(path)
        self.db = Database(self.path, SCHEMAS, read_only=read_only)
        if read_only:
            self.db.read_only_reason = "its folder cannot be written to"
        self.settings = Settings(self.db)
        self.photos = photos.Photos(self.db)
        self.vectors = vectors.Vectors(self.db)
        self.tags = tags.Tags(self.db)
        self.categories = categories.Categories(self.db)
        self.versions = versions.ModelVersions(self.db)
        self.phashes = phashes.PerceptualHashes(self.db)
        self.grids = grids.Grids(self.db)
        self.texts = texts.Texts(self.db)
        self.changes = changes.Changes(self.db)
        self.queries = queries.PastQueries(self.db)

    @property
    def read_only(self) -> bool:
        return self.db.read_only

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group repository calls into one atomic change."""
        with self.db.transaction():
            yield

    def save_results(
        self,
        model: str,
        updates: Sequence[PhotoUpdate],
        new_vectors: dict[str, np.ndarray],
        perceptual: dict[str, int] | None = None,
        patch_grids: dict[str, np.ndarray] | None = None,
    ) -> list[tuple[int, np.ndarray]]:
        """Write one indexing batch atomically: photo metadata and errors, the new vectors,
        perceptual hashes and patch grids (engine/storage/grids.py) by content hash. Returns the
        (label, vector) pairs that were inserted, for the caller's index."""
        with self.db.transaction():
            added = self.vectors.add(model, new_vectors)
            self.photos.record(updates)
            if perceptual:
                self.phashes.add(perceptual)
            if patch_grids:
                self.grids.add(model, patch_grids)
        return added

    def forget_orphans(self, grace: float, now: float | None = None) -> int:
        """Drop vectors, and then tags, highlights, perceptual hashes and photo text, of contents no
        photo has had for `grace` seconds; returns how many vectors went."""
        with self.db.transaction():
            dropped = self.vectors.drop_orphans(grace, time.time() if now is None else now)
            self.tags.drop_orphans()
            self.phashes.drop_orphans()
            self.grids.drop_orphans()
            self.texts.drop_orphans()
        return dropped

    def compact(self) -> None:
        """Give the space of deleted rows back to the disk."""
        self.db.vacuum()

    def close(self) -> None:
        self.db.close()


__all__ = ["PhotoRow", "PhotoUpdate", "Store", "SCHEMAS"]
