"""The results grid's item model: an immutable list of engine `Hit`s, with lazy thumbnails."""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import QImage

from .justified import MAX_ASPECT, Section
from .state import SORT_NEWEST, SORT_OLDEST, SORT_RELEVANCE
from .thumbnails import ThumbKey, ThumbnailLoader

if TYPE_CHECKING:  # engine.search pulls numpy and hnswlib: not on the path to the first window
    from engine.search import Hit

HitRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
ScoreRole = Qt.ItemDataRole.UserRole + 3
DateRole = Qt.ItemDataRole.UserRole + 4
ThumbFailedRole = Qt.ItemDataRole.UserRole + 5
MarkRole = Qt.ItemDataRole.UserRole + 6  # True: "more like this", False: "not like this", None
NativeSizeRole = Qt.ItemDataRole.UserRole + 7  # QSize of the upright photo (invalid when unknown)
WeakerRole = Qt.ItemDataRole.UserRole + 8  # below the search's cut

SORTS = (SORT_RELEVANCE, SORT_NEWEST, SORT_OLDEST)
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
THUMB_STEP = 64  # thumbnail sizes are multiples of this: few cached sizes per photo

_Index = QModelIndex | QPersistentModelIndex


def photo_time(hit: Hit) -> float:
    """When the photo was taken, else when the file was last modified."""
    return hit.photo.taken_at if hit.photo.taken_at is not None else hit.photo.mtime


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds).strftime("%d %b %Y, %H:%M")


def month_title(seconds: float) -> str:
    """ "June 2019" (English month names whatever the process locale, like the rest of the app)."""
    when = datetime.fromtimestamp(seconds)
    return f"{MONTHS[when.month - 1]} {when.year}"


def month_sections(times: list[float], newest: bool) -> list[Section]:
    """Sections of photos taken in the same month, for times sorted newest (or oldest) first.

    One binary search per month, not one date conversion per photo (100k photos, ~200 months)."""
    parts: list[Section] = []
    start, n = 0, len(times)
    while start < n:
        month = datetime.fromtimestamp(times[start]).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if newest:  # descending: this month ends where a time falls before its first day
            end = bisect.bisect_right(times, -month.timestamp(), lo=start, key=lambda t: -t)
        else:
            following = month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
            end = bisect.bisect_left(times, following.timestamp(), lo=start)
        end = max(end, start + 1)
        parts.append(Section(month_title(times[start]), start, end, "date"))
        start = end
    return parts


def aspect_of(hit: Hit) -> float:
    """Width over height of the upright photo; 1 while it is not known (not indexed yet)."""
    w, h = hit.photo.width, hit.photo.height
    return w / h if w and h else 1.0


class ResultsModel(QAbstractListModel):
    """Rows are hits: the matches best first (or by date), then, once the user opens them, the
    weaker results by relevance. Hits are never mutated: a new search replaces the whole list.

    The grid lays rows out from `aspects()` and `sections()` (a date header per month when sorted by
    date, a divider above the weaker results) without decoding anything.
    """

    weaker_shown = Signal(bool)

    def __init__(
        self, loader: ThumbnailLoader | None = None, thumb_size: int = 192, parent: QObject | None = None
    ):
        super().__init__(parent)
        self._hits: tuple[Hit, ...] = ()  # the rows
        self._matches: tuple[Hit, ...] = ()  # sorted
        self._weaker: tuple[Hit, ...] = ()  # by relevance
        self._received: tuple[Hit, ...] = ()
        self._weaker_total: int | None = None
        self._row_of: dict[str, int] = {}
        self._aspects: list[float] = []
        self._times: list[float] = []  # the matches' times, when sorted by date
        self._heights: list[float] = []
        self._marks: dict[str, bool] = {}
        self._sections: list[Section] | None = None
        self.show_weaker = False
        self.sort_key = SORT_RELEVANCE
        self.thumb_size = thumb_size  # the grid's row height: thumbnails are made to fit it
        self.pixel_ratio = 1.0
        self.loader = loader
        if loader is not None:
            loader.ready.connect(self._thumbnail_ready)

    # -- contents ----------------------------------------------------------------------------

    def set_hits(
        self, hits: Sequence[Hit], *, keep_weaker_open: bool = False, weaker_total: int | None = None
    ) -> None:
        """Show a new answer; the weaker results start closed unless `keep_weaker_open` (the same
        query re-ranked by marks). `weaker_total`: how many weaker results the library holds, when
        the hits hold only the best of them."""
        self.beginResetModel()
        self._received = tuple(hits)
        self._weaker_total = weaker_total
        self.show_weaker = self.show_weaker and keep_weaker_open
        self._arrange()
        self.endResetModel()

    def _arrange(self) -> None:
        received = self._received
        self._matches, self._times = self._sorted([h for h in received if h.match])
        self._weaker = tuple(h for h in received if not h.match)
        self._set_rows(self._matches + self._weaker if self.show_weaker else self._matches)

    def _set_rows(self, rows: tuple[Hit, ...]) -> None:
        self._hits = rows
        self._row_of = {h.path: i for i, h in enumerate(rows)}
        self._aspects = [aspect_of(h) for h in rows]
        self._heights = [float(h.photo.height or 0) for h in rows]
        self._sections = None

    def set_sort(self, key: str) -> None:
        if key not in SORTS:
            raise ValueError(f"unknown sort key {key!r}")
        if key != self.sort_key:
            self.sort_key = key
            self.set_hits(self._received, keep_weaker_open=True, weaker_total=self._weaker_total)

    def _sorted(self, matches: list[Hit]) -> tuple[tuple[Hit, ...], list[float]]:
        """The matches in the chosen order, and (sorted by date) their times."""
        if self.sort_key == SORT_RELEVANCE:
            return tuple(matches), []
        times = [photo_time(h) for h in matches]
        order = sorted(range(len(matches)), key=times.__getitem__, reverse=self.sort_key == SORT_NEWEST)
        return tuple(matches[i] for i in order), [times[i] for i in order]

    def set_show_weaker(self, show: bool) -> None:
        """Open (or close) the weaker results below the matches."""
        if show == self.show_weaker or not self._weaker:
            return
        first, last = len(self._matches), len(self._matches) + len(self._weaker) - 1
        if show:
            self.beginInsertRows(QModelIndex(), first, last)
            self.show_weaker = True
            self._set_rows(self._matches + self._weaker)
            self.endInsertRows()
        else:
            self.beginRemoveRows(QModelIndex(), first, last)
            self.show_weaker = False
            self._set_rows(self._matches)
            self.endRemoveRows()
        self.weaker_shown.emit(show)

    def set_marks(self, likes: Sequence[str], unlikes: Sequence[str]) -> None:
        marks = {**{p: False for p in unlikes}, **{p: True for p in likes}}
        if marks == self._marks:
            return
        changed = set(marks.items()) ^ set(self._marks.items())
        self._marks = marks
        for path in {p for p, _ in changed}:
            row = self._row_of.get(path)
            if row is not None:
                self.dataChanged.emit(self.index(row), self.index(row), [MarkRole])

    def set_thumb_size(self, size: int) -> None:
        """The grid's target row height (its layout follows: `layoutChanged`)."""
        if size != self.thumb_size:
            self.layoutAboutToBeChanged.emit()
            self.thumb_size = size
            self.layoutChanged.emit()

    @property
    def hits(self) -> tuple[Hit, ...]:
        return self._hits

    @property
    def matches(self) -> int:
        """How many rows are matches (above the search's cut); they come first."""
        return len(self._matches)

    @property
    def weaker(self) -> int:
        """How many weaker results there are (below the cut), shown or not."""
        return len(self._weaker)

    @property
    def weaker_total(self) -> int:
        """How many weaker results the library holds (at least the ones here)."""
        return max(self._weaker_total or 0, len(self._weaker))

    def paths(self) -> list[str]:
        return [h.path for h in self._hits]

    def hit(self, row: int) -> Hit | None:
        return self._hits[row] if 0 <= row < len(self._hits) else None

    def row_of(self, path: str) -> int | None:
        return self._row_of.get(path)

    def mark(self, path: str) -> bool | None:
        return self._marks.get(path)

    # -- layout ------------------------------------------------------------------------------

    def aspects(self) -> list[float]:
        """Each row's width over height, from the library's metadata (nothing is decoded)."""
        return self._aspects

    def heights(self) -> list[float]:
        """Each row's photo height in pixels (0 when unknown): a small photo is never blown up."""
        return self._heights

    def sections(self) -> list[Section]:
        """The grid's sections: by month when sorted by date, then the weaker results if open."""
        if self._sections is None:
            self._sections = self._make_sections()
        return self._sections

    def _make_sections(self) -> list[Section]:
        matches = len(self._matches)
        if self.sort_key == SORT_RELEVANCE or not matches:
            parts = [Section("", 0, matches)]
        else:
            parts = month_sections(self._times, newest=self.sort_key == SORT_NEWEST)
        if self.show_weaker and self._weaker:
            parts.append(Section("Weaker results", matches, len(self._hits), "weaker"))
        return parts

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
        if role == MarkRole:
            return self._marks.get(hit.path)
        if role == NativeSizeRole:
            return QSize(hit.photo.width or 0, hit.photo.height or 0)
        if role == WeakerRole:
            return not hit.match
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]):  # type: ignore[override]
        return photos_mime([self._hits[i.row()].path for i in indexes if i.isValid()])

    # -- thumbnails --------------------------------------------------------------------------

    def _key(self, hit: Hit) -> ThumbKey:
        return ThumbKey(hit.path, hit.photo.mtime, self.thumb_side(hit))

    def thumb_side(self, hit: Hit) -> int:
        """The thumbnail's longer side: enough for the photo's cell at the grid's row height (a
        wide photo's cell is wider than tall), so the grid never scales a thumbnail up."""
        wide = min(max(aspect_of(hit), 1.0), MAX_ASPECT)
        return THUMB_STEP * math.ceil(self.thumb_size * self.pixel_ratio * wide / THUMB_STEP)

    def set_pixel_ratio(self, ratio: float) -> None:
        """Device pixels per logical pixel of the screen the grid is on (2 on a HiDPI screen):
        thumbnails are made that much larger, so they stay sharp."""
        ratio = max(1.0, float(ratio))
        if ratio != self.pixel_ratio:
            self.pixel_ratio = ratio
            if self._hits:
                self.dataChanged.emit(
                    self.index(0), self.index(len(self._hits) - 1), [Qt.ItemDataRole.DecorationRole]
                )

    def _thumbnail(self, hit: Hit) -> QImage | None:
        if self.loader is None:
            return None
        return self.loader.image(self._key(hit))

    def _thumbnail_ready(self, key: ThumbKey) -> None:
        row = self._row_of.get(key.path)
        if row is None or self._key(self._hits[row]) != key:
            return
        index = self.index(row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


def photos_mime(paths: Sequence[str]) -> QMimeData:
    """Photos as a drag or the clipboard carries them: file URLs (a file manager pastes the files,
    a mail or chat app attaches them) and their paths as text, a line each."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    mime.setText("\n".join(paths))
    return mime
