"""Lazy thumbnails for the results grid: disk cache -> QImage in pool threads -> in-memory LRU.

Only rows the view paints ask for a thumbnail, so scrolling through thousands of results decodes
only what is seen. The newest request runs first, and at most `max_pending` wait: scrolling fast
through 100,000 photos takes back the oldest requests (rows long scrolled past) instead of decoding
them all.
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
        max_pending: int = 200,
    ):
        super().__init__(parent)
        self.cache = cache
        self.pool = pool or QThreadPool(self)
        if pool is None:
            self.pool.setMaxThreadCount(2)
        self.capacity = capacity
        self._images: OrderedDict[ThumbKey, QImage] = OrderedDict()
        self._failed: set[ThumbKey] = set()
        self._pending: OrderedDict[ThumbKey, _Load] = OrderedDict()  # oldest request first
        self.max_pending = max_pending
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
            load = _Load(self.cache, key, self._signals)
            self._pending[key] = load
            # Higher priority runs first: the latest request is the row the user is looking at.
            self.pool.start(load, next(self._order) % 1_000_000)
            self._drop_stale()
        return None

    def _drop_stale(self) -> None:
        """Take back the oldest waiting requests beyond `max_pending` (one that already runs stays)."""
        for key in list(self._pending)[: max(0, len(self._pending) - self.max_pending)]:
            if self.pool.tryTake(self._pending[key]):
                del self._pending[key]  # asked for again if its row is painted again

    @property
    def pending(self) -> int:
        return len(self._pending)

    def failed(self, key: ThumbKey) -> bool:
        return key in self._failed

    def _on_loaded(self, key: ThumbKey, image: QImage) -> None:
        self._pending.pop(key, None)
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
