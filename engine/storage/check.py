"""The invariants no crash may break, checked over a whole database (tests and `viewfinder check`)."""

from __future__ import annotations

from .database import Database


def problems(db: Database, model: str) -> list[str]:
    """What is wrong with the library's rows for its search model `model` (empty: consistent)."""
    found = []

    def count(sql: str, params: list[object] | None = None) -> int:
        return int(db.execute(sql, params or []).fetchone()[0])

    if (n := count("SELECT COUNT(*) - COUNT(DISTINCT path) FROM photos")) != 0:
        found.append(f"{n} duplicate photo paths")
    if (n := count("SELECT COUNT(*) FROM (SELECT hash, model FROM vectors GROUP BY 1, 2 HAVING COUNT(*) > 1)")):
        found.append(f"{n} duplicate vectors")
    if (n := count("SELECT COUNT(*) FROM photos p WHERE NOT EXISTS (SELECT 1 FROM folders f WHERE f.path = p.folder)")):
        found.append(f"{n} photos of no library folder")
    if (n := count("SELECT COUNT(*) FROM highlights h WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.id = h.tag_id)")):
        found.append(f"{n} highlights of no tag")
    if (n := count("SELECT COUNT(*) FROM vectors WHERE model != ?", [model])) and not _switching(db):
        found.append(f"{n} vectors of a model no search uses")
    if count("SELECT COUNT(*) FROM model_versions WHERE active") > 1:
        found.append("more than one active model version")
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    if integrity != "ok":
        found.append(f"integrity check: {integrity}")
    return found


def _switching(db: Database) -> bool:
    return db.execute("SELECT 1 FROM meta WHERE key = 'target_model'").fetchone() is not None
