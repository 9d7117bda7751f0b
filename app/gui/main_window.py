"""The main window: sidebar, search bar, results grid, viewer, status bar; it owns the background
work (see workers.py for the threading rule) and the folder watcher.

`MainWindow` holds the state and the Qt event handlers; its behaviour lives in one mixin per
concern: window_layout.py (widgets), window_menus.py (menus), library_control.py (library, folders,
watcher), indexing_control.py, search_control.py (search, results, viewer), lists_control.py
(categories and tags), model_control.py (model state, banner, training) and settings_control.py.

Construct it with a `Library` (tests, or a caller that opened one) or with none, in which case the
library is opened in a worker after the window is shown (engine.library imports torch, which takes
seconds).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QMainWindow

from engine.thumbnails import ThumbnailCache

from .categories import CategoryBook, CategoryDialog
from .indexing_control import STATUS_REFRESH_S, IndexingMixin
from .library_control import LibraryMixin
from .lists_control import ListsMixin
from .model_control import MODEL_LOADING, MODEL_READY, MODEL_UNAVAILABLE, ModelMixin
from .search_bar import SearchRequest
from .search_control import IMAGE_SUFFIXES, SearchMixin, is_image_file
from .settings import AppSettings
from .settings_control import SettingsMixin
from .thumbnails import ThumbnailLoader
from .training import TrainingDialog
from .window_layout import PAGE_BROWSER, PAGE_OPENING, PAGE_VIEWER, PAGE_WELCOME, LayoutMixin
from .window_menus import MenuMixin
from .workers import InlinePool, Runner, make_pool

if TYPE_CHECKING:
    from engine.library import Library, Status
    from engine.watcher import Watcher


class _Bridge(QObject):
    """Lives on the UI thread; engine threads emit these and the slots run on the UI thread."""

    index_progress = Signal(object)
    watch_progress = Signal(object)
    changed = Signal()
    download = Signal(int, int)


class MainWindow(
    LayoutMixin,
    MenuMixin,
    LibraryMixin,
    IndexingMixin,
    SearchMixin,
    ListsMixin,
    ModelMixin,
    SettingsMixin,
    QMainWindow,
):
    """The application window; see the module docstring for where each concern lives."""

    library_ready = Signal()
    status_refreshed = Signal(object)  # engine Status
    results_updated = Signal()  # the results model holds the answer to the latest request
    index_finished = Signal(object)  # engine Progress
    model_state_changed = Signal(str)
    watcher_started = Signal()
    lists_refreshed = Signal()  # the sidebar's categories and tags are up to date
    tagged = Signal(object)  # tags.TagOutcome after tagging photos from the grid

    def __init__(
        self,
        library: Library | None = None,
        *,
        library_dir: str | None = None,
        settings: QSettings | None = None,
        pool: Any = None,
        thumbnail_pool: Any = None,
        thumbnail_cache: ThumbnailCache | None = None,
        watch: bool = True,
        auto_index: bool = True,
        watcher_debounce: float = 1.0,
    ):
        super().__init__()
        self.qsettings = settings if settings is not None else QSettings()
        self.app_settings = AppSettings.load(self.qsettings)
        self.library: Library | None = None
        self._owns_library = library is None
        self._library_dir = library_dir or self.app_settings.library_dir
        self.watch = watch
        self.auto_index = auto_index
        self.watcher_debounce = watcher_debounce
        self.watcher: Watcher | None = None
        self._watch_lock = threading.Lock()
        self._closing = False
        self._closed = False

        self.runner = Runner(pool if pool is not None else make_pool(4), self)
        cache = thumbnail_cache or ThumbnailCache()
        self.thumbnails = ThumbnailLoader(cache, thumbnail_pool, parent=self)
        self.bridge = _Bridge(self)
        self.bridge.index_progress.connect(self._on_index_progress)
        self.bridge.watch_progress.connect(self._on_watch_progress)
        self.bridge.changed.connect(self._on_folders_changed)
        self.bridge.download.connect(self._on_download)

        self.model_state = MODEL_LOADING
        self.model_error = ""
        self.status: Status | None = None
        self._request = SearchRequest()
        self._search_generation = 0
        self._search_busy = False
        self._search_again = False
        self._waiting_for_model = False
        self._index_cancel = threading.Event()
        self._index_pause = threading.Event()
        self._index_running = False
        self._index_again = False
        self._last_status_refresh = 0.0
        self._status_busy = False
        self.categories: CategoryBook | None = None
        self._lists_busy = False
        self._lists_again = False
        self._select_after_refresh: tuple[str, str] | None = None
        self.category_dialog: CategoryDialog | None = None
        self.training_dialog: TrainingDialog | None = None

        self._build_ui()
        self._restore_geometry()
        self.setAcceptDrops(True)
        if library is not None:
            self.set_library(library)
        else:
            self._open_library()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.search_bar.field
            and event.type() == QEvent.Type.KeyPress
            and event.matches(QKeySequence.StandardKey.Paste)  # type: ignore[attr-defined]
            and self.paste_image()
        ):
            return True
        return super().eventFilter(watched, event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()) or mime.hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        folders = [p for p in paths if os.path.isdir(p)]
        images = [p for p in paths if is_image_file(p)]
        if folders:
            self.add_folders(folders)
        elif images:
            self.find_similar(images[0])
        else:
            return
        event.acceptProposedAction()

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            if self.pages.currentIndex() == PAGE_VIEWER:
                self.close_viewer()
                return
            if self.search_bar.image_chip.isVisible():
                self.search_bar.set_image(None)
                return
        super().keyPressEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(1200, 780)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Cancel indexing, stop the watcher, wait for every worker; idempotent."""
        if self._closed:
            return
        self._closing = True
        self.qsettings.setValue("window/geometry", self.saveGeometry())
        self.qsettings.setValue("window/splitter", self.splitter.saveState())
        self.qsettings.sync()
        self._index_cancel.set()
        self._index_pause.clear()
        if self.training_dialog is not None:
            self.training_dialog.cancel()
        with self._watch_lock:
            if self.watcher is not None:
                self.watcher.stop()
                self.watcher = None
        self.runner.shutdown()
        with self._watch_lock:  # a restart that was already running when we stopped
            if self.watcher is not None:
                self.watcher.stop()
                self.watcher = None
        self.thumbnails.shutdown()
        if self._owns_library and self.library is not None:
            self.library.close()
        self._closed = True


__all__ = [
    "IMAGE_SUFFIXES",
    "MODEL_LOADING",
    "MODEL_READY",
    "MODEL_UNAVAILABLE",
    "PAGE_BROWSER",
    "PAGE_OPENING",
    "PAGE_VIEWER",
    "PAGE_WELCOME",
    "STATUS_REFRESH_S",
    "InlinePool",
    "MainWindow",
]
