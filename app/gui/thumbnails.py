"""Lazy thumbnails for the results grid: disk cache -> QImage in pool threads -> in-memory LRU.

Only rows the view paints ask for a thumbnail, so scrolling through thousands of results decodes
only what is seen. The newest request runs first (scrolling fast leaves old requests behind).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from itertools import count

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from engine.thumbnails import ThumbnailCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThumbKey:
    path: str
    mtime: float
    size: int


class _Signals(QObject):
    loaded = Signal(object, object)  # ThumbKey, QImage (null when the photo cannot be read)


class _Load(QRunnable):
    def __init__(self, cache: ThumbnailCache, key: ThumbKey, signals: _Signals):
        super().__init__()
        self.cache, self.key, self.signals = cache, key, signals
        self.setAutoDelete(True)

    def run(self) -> None:
        image = QImage()
        try:
            file = self.cache.get(self.key.path, self.key.size, self.key.mtime)
            image = QImage(str(file))
        except Exception as e:  # unreadable photo or cache: show the placeholder
            log.debug("no thumbnail for %s: %s", self.key.path, e)
        self.signals.loaded.emit(self.key, image)


class ThumbnailLoader(QObject):
    """Hands out QImages by key; `ready(key)` is emitted on the UI thread when one arrives."""

    ready = Signal(object)

    def __init__(
        self,
        cache: ThumbnailCache,
        pool: QThreadPool | None = None,
        capacity: int = 600,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.cache = cache
        self.pool = pool or QThreadPool(self)
        if pool is None:
            self.pool.setMaxThreadCount(2)
        self.capacity = capacity
        self._images: OrderedDict[ThumbKey, QImage] = OrderedDict()
        self._failed: set[ThumbKey] = set()
        self._pending: set[ThumbKey] = set()
        self._order = count()
        self._signals = _Signals()
        self._signals.loaded.connect(self._on_loaded)
        self.closed = False

    def image(self, key: ThumbKey) -> QImage | None:
        """The cached image, or None (a load is started unless one is pending or it failed)."""
        found = self._images.get(key)
        if found is not None:
            self._images.move_to_end(key)
            return found
        if key not in self._pending and key not in self._failed and not self.closed:
            self._pending.add(key)
            # Higher priority runs first: the latest request is the row the user is looking at.
            self.pool.start(_Load(self.cache, key, self._signals), next(self._order) % 1_000_000)
        return None

    def failed(self, key: ThumbKey) -> bool:
        return key in self._failed

    def _on_loaded(self, key: ThumbKey, image: QImage) -> None:
        self._pending.discard(key)
        if self.closed:
            return
        if image.isNull():
            self._failed.add(key)
        else:
            self._images[key] = image
            while len(self._images) > self.capacity:
                self._images.popitem(last=False)
        self.ready.emit(key)

    def clear_failures(self) -> None:
        self._failed.clear()

    def shutdown(self) -> None:
        self.closed = True
        self.pool.clear()
        self.pool.waitForDone()
