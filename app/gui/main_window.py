"""The main window: the composition root of the desktop app.

It builds the application state (state.py, no Qt), the widgets (views.py), the controllers
(controllers/, one per concern, each wiring the signals of the widgets it drives) and the menus
(menus.py); it handles only window-level events (drop, keys, close). See docs/app-architecture.md.

Construct it with a `Library` (tests, or a caller that opened one) or with none, in which case the
library is opened in a worker after the window is shown (engine.library imports torch: seconds).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QBoxLayout, QMainWindow, QWidget

from engine.thumbnails import ThumbnailCache

from .categories import CategoryBook
from .controllers.duplicates import DuplicatesController
from .controllers.indexing import STATUS_REFRESH_S, IndexingController
from .controllers.library import LibraryController
from .controllers.lists import ListsController
from .controllers.model import ModelController
from .controllers.search import IMAGE_SUFFIXES, SearchController, is_image_file
from .controllers.settings import SettingsController
from .controllers.viewer import ViewerController
from .menus import build_menus
from .settings import AppSettings
from .state import AppState, ModelState
from .thumbnails import ThumbnailLoader
from .views import PAGE_BROWSER, PAGE_OPENING, PAGE_VIEWER, PAGE_WELCOME, build_views
from .workers import InlinePool, Runner, make_pool

if TYPE_CHECKING:
    from engine.library import Library


class MainWindow(QMainWindow):
    """The application window. `state` holds what the window knows; `views` its widgets; the
    controllers (`library_control`, `indexing`, `search`, `viewer_control`, `lists`,
    `model_control`, `settings_control`) what it does."""

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
        app_settings = AppSettings.load(self.qsettings)
        self.state = AppState()
        self.runner = Runner(pool if pool is not None else make_pool(4), self)
        self.thumbnails = ThumbnailLoader(thumbnail_cache or ThumbnailCache(), thumbnail_pool, parent=self)
        self.views = build_views(
            self.qsettings, self.runner, self.thumbnails, app_settings.thumb_size, self.statusBar()
        )
        self.setCentralWidget(self.views.splitter)
        self.setWindowTitle("Viewfinder")
        self.resize(1200, 780)

        state, views, runner = self.state, self.views, self.runner
        categories = CategoryBook(state)
        self.model_control = ModelController(state, views, runner, self)
        self.settings_control = SettingsController(
            state,
            views,
            self.model_control,
            self.qsettings,
            app_settings,
            library_dir or app_settings.library_dir,
            self,
        )
        self.library_control = LibraryController(
            state, views, runner, self, watch=watch, watcher_debounce=watcher_debounce
        )
        self.indexing = IndexingController(
            state, views, runner, self, auto_index=auto_index, settings=lambda: self.settings_control.settings
        )
        self.search = SearchController(state, views, runner, categories, self)
        self.viewer_control = ViewerController(state, views, self.search, self)
        self.lists = ListsController(
            state, views, runner, categories, self.viewer_control, self, thumbnails=self.thumbnails
        )
        self.lists.looked_closer.connect(self.search.tag_looked_at)
        self.duplicates = DuplicatesController(state, runner, self.thumbnails, self)
        _place_above(self.library_control.notice, views.banner)
        self.library_control.watch_progress.connect(self.indexing.show_watch_progress)
        self.indexing.progressed.connect(self.library_control.refresh_status)
        build_menus(self)

        views.search_bar.field.installEventFilter(self)
        self._restore_geometry()
        self.setAcceptDrops(True)
        self._closed = False
        if library is not None:
            self.library_control.attach(library)
        else:
            self.library_control.open(self.settings_control.library_dir)

    # -- window-level events -----------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.views.search_bar.field
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.matches(QKeySequence.StandardKey.Paste)
            and self.search.paste_image()
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
            self.library_control.add_folders(folders)
        elif images:
            self.search.find_similar(images[0])
        else:
            return
        event.acceptProposedAction()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            if self.viewer_control.is_open:
                self.viewer_control.close()
                return
            bar = self.views.search_bar
            if bar.image_chip.isVisible():
                bar.set_image(None)
                return
            if bar.field.text():  # Escape clears the search and shows everything again
                bar.field.clear()
                bar.emit_search()
                return
        super().keyPressEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(1200, 780)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Cancel indexing and training, stop the watcher, wait for every worker; idempotent."""
        if self._closed:
            return
        self.qsettings.setValue("window/geometry", self.saveGeometry())
        self.qsettings.setValue("window/splitter", self.views.splitter.saveState())
        self.qsettings.sync()
        self.indexing.shutdown()
        self.lists.stop_looking()
        self.state.closing = True
        self.model_control.shutdown()
        self.library_control.stop()
        self.runner.shutdown()
        self.library_control.close()  # also stops a watcher started while we waited
        self.thumbnails.shutdown()
        self._closed = True

    def _restore_geometry(self) -> None:
        geometry = self.qsettings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)  # type: ignore[arg-type]
        splitter = self.qsettings.value("window/splitter")
        if splitter is not None:
            self.views.splitter.restoreState(splitter)  # type: ignore[arg-type]


def _place_above(widget: QWidget, below: QWidget) -> None:
    """Put `widget` just above `below` in its parent's (box) layout."""
    parent = below.parentWidget()
    layout = parent.layout() if parent is not None else None
    if isinstance(layout, QBoxLayout):
        layout.insertWidget(layout.indexOf(below), widget)


__all__ = [
    "IMAGE_SUFFIXES",
    "PAGE_BROWSER",
    "PAGE_OPENING",
    "PAGE_VIEWER",
    "PAGE_WELCOME",
    "STATUS_REFRESH_S",
    "InlinePool",
    "MainWindow",
    "ModelState",
]
