"""The results grid's item model: an immutable list of engine `Hit`s, with lazy thumbnails."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QImage

from .thumbnails import ThumbKey, ThumbnailLoader

if TYPE_CHECKING:  # engine.search pulls numpy and hnswlib: not on the path to the first window
    from engine.search import Hit

HitRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
ScoreRole = Qt.ItemDataRole.UserRole + 3
DateRole = Qt.ItemDataRole.UserRole + 4
ThumbFailedRole = Qt.ItemDataRole.UserRole + 5

SORT_RELEVANCE = "relevance"
SORT_DATE = "date"

_Index = QModelIndex | QPersistentModelIndex


def photo_time(hit: Hit) -> float:
    """When the photo was taken, else when the file was last modified."""
    return hit.photo.taken_at if hit.photo.taken_at is not None else hit.photo.mtime


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds).strftime("%d %b %Y, %H:%M")


class ResultsModel(QAbstractListModel):
    """Rows are hits: the matches best first (or newest first when sorted by date), then the weaker
    results by relevance. Hits are never mutated: a new search replaces the whole list."""

    def __init__(
        self, loader: ThumbnailLoader | None = None, thumb_size: int = 192, parent: QObject | None = None
    ):
        super().__init__(parent)
        self._hits: tuple[Hit, ...] = ()
        self._received: tuple[Hit, ...] = ()
        self._row_of: dict[str, int] = {}
        self.sort_key = SORT_RELEVANCE
        self.thumb_size = thumb_size
        self.loader = loader
        if loader is not None:
            loader.ready.connect(self._thumbnail_ready)

    # -- contents ----------------------------------------------------------------------------

    def set_hits(self, hits: Sequence[Hit]) -> None:
        self.beginResetModel()
        self._received = tuple(hits)
        self._hits = self._sorted(self._received)
        self._row_of = {h.path: i for i, h in enumerate(self._hits)}
        self.endResetModel()

    def set_sort(self, key: str) -> None:
        if key not in (SORT_RELEVANCE, SORT_DATE):
            raise ValueError(f"unknown sort key {key!r}")
        if key != self.sort_key:
            self.sort_key = key
            self.set_hits(self._received)

    def _sorted(self, hits: tuple[Hit, ...]) -> tuple[Hit, ...]:
        """By date: the matches newest first, then the weaker results as they came (by relevance)."""
        if self.sort_key == SORT_DATE:
            return tuple(sorted(hits, key=lambda h: (not h.match, -photo_time(h) if h.match else 0.0)))
        return hits

    def set_thumb_size(self, size: int) -> None:
        if size != self.thumb_size:
            self.thumb_size = size
            if self._hits:
                self.dataChanged.emit(
                    self.index(0), self.index(len(self._hits) - 1), [Qt.ItemDataRole.DecorationRole]
                )

    @property
    def hits(self) -> tuple[Hit, ...]:
        return self._hits

    @property
    def weaker(self) -> int:
        """How many rows are weaker results (below the search's cut)."""
        return sum(not h.match for h in self._hits)

    def paths(self) -> list[str]:
        return [h.path for h in self._hits]

    def hit(self, row: int) -> Hit | None:
        return self._hits[row] if 0 <= row < len(self._hits) else None

    def row_of(self, path: str) -> int | None:
        return self._row_of.get(path)

    # -- Qt model API ------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._hits)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._hits):
            return None
        hit = self._hits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return os.path.basename(hit.path)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(hit)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [os.path.basename(hit.path)]
            if not math.isnan(hit.score):
                lines.append(f"Score {hit.score:.3f}")
            lines.append(format_time(photo_time(hit)))
            lines.append(os.path.dirname(hit.path))
            return "\n".join(lines)
        if role == HitRole:
            return hit
        if role == PathRole:
            return hit.path
        if role == ScoreRole:
            return hit.score
        if role == DateRole:
            return photo_time(hit)
        if role == ThumbFailedRole:
            return self.loader is not None and self.loader.failed(self._key(hit))
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]):  # type: ignore[override]
        from PySide6.QtCore import QMimeData, QUrl

        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(self._hits[i.row()].path) for i in indexes if i.isValid()])
        return mime

    # -- thumbnails --------------------------------------------------------------------------

    def _key(self, hit: Hit) -> ThumbKey:
        return ThumbKey(hit.path, hit.photo.mtime, self.thumb_size)

    def _thumbnail(self, hit: Hit) -> QImage | None:
        if self.loader is None:
            return None
        return self.loader.image(self._key(hit))

    def _thumbnail_ready(self, key: ThumbKey) -> None:
        row = self._row_of.get(key.path)
        if row is None or key.size != self.thumb_size:
            return
        if self._hits[row].photo.mtime != key.mtime:
            return
        index = self.index(row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
