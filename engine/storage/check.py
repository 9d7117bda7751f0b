"""The invariants no crash may break, checked over a whole database (the crash tests use it)."""

from __future__ import annotations

from .database import Database


def problems(db: Database, model: str, target: str | None = None) -> list[str]:
    """What is wrong with the library's rows for its search model `model` and the model being
    switched to, if any (empty: consistent)."""
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
    if count("SELECT COUNT(*) FROM meta WHERE key = 'model'") != 1:
        found.append("no model is set to answer searches")
    if (n := count(
        "SELECT COUNT(*) FROM photos p WHERE p.hash IS NOT NULL AND p.error IS NULL AND NOT EXISTS"
        " (SELECT 1 FROM vectors v WHERE v.hash = p.hash AND (v.model = ? OR v.model = ?))",
        [model, target or model],
    )):
        found.append(f"{n} photos read but without a vector")
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    if integrity != "ok":
        found.append(f"integrity check: {integrity}")
    return found
