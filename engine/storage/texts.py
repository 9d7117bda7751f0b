"""Text read in photos by the OCR pass (engine/ocr.py). Kept per content hash, like vectors and tags,
so renamed and moved photos keep their text; a content whose vectors are gone loses its text too."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .database import Database, Schema


@dataclass(frozen=True)
class TextLine:
    """One line of text found in a photo.

    box: the line's four corners (x, y), clockwise from its top-left, as fractions (0..1) of the
    upright photo's width and height, so any display size can draw them.
    """

    text: str
    score: float
    box: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class PhotoText:
    """What the OCR pass knows about one content: its lines, or that a gate skipped it."""

    hash: str
    status: Literal["read", "skipped"]
    lines: tuple[TextLine, ...] = ()
    gate: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class OcrItem:
    """A content waiting for the OCR pass: its hash, one path to read it from, its vector label."""

    hash: str
    path: str
    label: int


def _create(conn: sqlite3.Connection) -> None:
    """status is 'read' or 'skipped' (a gate judged the photo text-free); lines is a JSON list of
    {text, score, box}; engine names what read it."""
    conn.execute(
        "CREATE TABLE photo_text (hash TEXT PRIMARY KEY, status TEXT NOT NULL, gate TEXT,"
        " text TEXT NOT NULL, lines TEXT NOT NULL, engine TEXT NOT NULL, read_at REAL NOT NULL)"
    )


SCHEMA = Schema("texts", (_create,))


class Texts:
    """The photo_text table."""

    def __init__(self, db: Database):
        self._db = db

    def pending(self, model: str, *, include_skipped: bool = False) -> list[OcrItem]:
        """Readable contents embedded with this model whose text is unknown (with include_skipped:
        also those a gate skipped), one path each, in path order."""
        read_only = " AND t.status = 'read'" if include_skipped else ""
        rows = self._db.execute(
            "SELECT p.hash, MIN(p.path), v.label FROM photos p JOIN vectors v ON v.hash = p.hash"
            " WHERE v.model = ? AND p.error IS NULL AND NOT EXISTS"
            f" (SELECT 1 FROM photo_text t WHERE t.hash = p.hash{read_only})"
            " GROUP BY p.hash ORDER BY MIN(p.path)",
            [model],
        )
        return [OcrItem(h, path, label) for h, path, label in rows]

    def save(self, results: Sequence[PhotoText], engine: str) -> None:
        """Record what the OCR pass found (or skipped), replacing earlier results of those contents."""
        if not results:
            return
        now = time.time()
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO photo_text (hash, status, gate, text, lines, engine, read_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(r.hash, r.status, r.gate, r.text, _lines_json(r.lines), engine, now) for r in results],
            )

    def get(self, content_hash: str) -> PhotoText | None:
        row = self._db.execute(
            "SELECT hash, status, lines, gate FROM photo_text WHERE hash = ?", [content_hash]
        ).fetchone()
        return _photo_text(*row) if row else None

    def by_label(self, model: str) -> dict[int, str]:
        """vector label of this model -> the text read in its content, where there is text."""
        rows = self._db.execute(
            "SELECT v.label, t.text FROM photo_text t JOIN vectors v ON v.hash = t.hash"
            " WHERE v.model = ? AND t.text != ''",
            [model],
        )
        return dict(rows.fetchall())

    def all(self) -> dict[str, str]:
        """content hash -> text, where there is text."""
        return dict(self._db.execute("SELECT hash, text FROM photo_text WHERE text != ''").fetchall())

    def generation(self) -> tuple[int, float]:
        """Changes whenever a text is added, replaced or removed: (rows, latest read time)."""
        count, latest = self._db.execute("SELECT COUNT(*), MAX(read_at) FROM photo_text").fetchone()
        return int(count), float(latest or 0.0)

    def counts(self) -> dict[str, int]:
        """Contents read, read with text, and skipped by a gate."""
        read, with_text, skipped = self._db.execute(
            "SELECT COALESCE(SUM(status = 'read'), 0), COALESCE(SUM(status = 'read' AND text != ''), 0),"
            " COALESCE(SUM(status = 'skipped'), 0) FROM photo_text"
        ).fetchone()
        return {"read": read, "with_text": with_text, "skipped": skipped}

    def drop_orphans(self) -> int:
        """Delete the text of contents that neither a photo nor a vector refers to any more."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM photo_text WHERE NOT EXISTS (SELECT 1 FROM photos p WHERE p.hash = photo_text.hash)"
                " AND NOT EXISTS (SELECT 1 FROM vectors v WHERE v.hash = photo_text.hash)"
            )
            return cur.rowcount


def _lines_json(lines: Sequence[TextLine]) -> str:
    return json.dumps([{"text": t.text, "score": t.score, "box": [list(p) for p in t.box]} for t in lines])


def _photo_text(content_hash: str, status: str, lines: str, gate: str | None) -> PhotoText:
    parsed = tuple(
        TextLine(d["text"], float(d["score"]), tuple((float(x), float(y)) for x, y in d["box"]))
        for d in json.loads(lines)
    )
    return PhotoText(content_hash, "read" if status == "read" else "skipped", parsed, gate)
