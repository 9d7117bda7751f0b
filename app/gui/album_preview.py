"""The album (category) editor's live preview: thumbnails of the photos just inside the line and
of those just below it, so moving the strictness slider shows which photos it lets in or out.

Which photos sit at the line is read from the library in a worker (`photos_at_line`); the
thumbnails load through the window's `ThumbnailLoader`, off the UI thread as in the grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from .thumbnails import ThumbKey, ThumbnailLoader

if TYPE_CHECKING:
    from engine.categories import Categories, Membership
    from engine.storage.photos import PhotoRow

PREVIEW_PHOTOS = 8  # photos shown on each side of the line
ICON_SIZE = 72


@dataclass(frozen=True)
class LinePhotos:
    """The photos nearest the line: `inside` (members, best first, the last one nearest the line)
    and `outside` (just below it, best first)."""

    threshold: float
    inside: tuple[PhotoRow, ...]
    outside: tuple[PhotoRow, ...]


def photos_at_line(
    categories: Categories, membership: Membership, threshold: float, k: int = PREVIEW_PHOTOS
) -> LinePhotos:
    """The k members nearest `threshold` and the k photos just below it (reads the library: a worker)."""
    labels = membership.labels
    cut = len(membership.member_labels(threshold))
    inside = [int(x) for x in labels[max(0, cut - k) : cut]]
    outside = [int(x) for x in labels[cut : cut + k]]
    rows = categories.store.photos.for_labels(inside + outside, categories.model)

    def first(part: list[int]) -> tuple[PhotoRow, ...]:  # duplicates share a vector: show one photo
        return tuple(rows[label][0] for label in part if rows.get(label))

    return LinePhotos(threshold, first(inside), first(outside))


class PhotoStrip(QListWidget):
    """One row of thumbnails; `paths()` lists what it shows, in order."""

    def __init__(self, loader: ThumbnailLoader | None, thumb_size: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.loader, self.thumb_size = loader, thumb_size
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.setGridSize(QSize(ICON_SIZE + 6, ICON_SIZE + 6))
        self.setFixedHeight(ICON_SIZE + 6 + 2 * self.frameWidth() + self.horizontalScrollBar().sizeHint().height())
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._keys: dict[ThumbKey, QListWidgetItem] = {}
        if loader is not None:
            loader.ready.connect(self._thumbnail_ready)

    def set_photos(self, photos: Sequence[PhotoRow]) -> None:
        self.clear()
        self._keys = {}
        for photo in photos:
            item = QListWidgetItem()
            item.setToolTip(photo.path)
            item.setData(Qt.ItemDataRole.UserRole, photo.path)
            item.setSizeHint(QSize(ICON_SIZE + 6, ICON_SIZE + 6))
            self.addItem(item)
            key = ThumbKey(photo.path, photo.mtime, self.thumb_size)
            self._keys[key] = item
            self._show(key, item)

    def paths(self) -> list[str]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def _show(self, key: ThumbKey, item: QListWidgetItem) -> None:
        image = self.loader.image(key) if self.loader is not None else None
        if image is not None:
            pixmap = QPixmap.fromImage(image).scaled(
                ICON_SIZE,
                ICON_SIZE,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            item.setIcon(QIcon(pixmap))

    def _thumbnail_ready(self, key: ThumbKey) -> None:
        item = self._keys.get(key)
        if item is not None:
            self._show(key, item)
