"""The main window: sidebar, search bar, results grid, viewer, status bar; it owns the background
work (see workers.py for the threading rule) and the folder watcher.

Construct it with a `Library` (tests, or a caller that opened one) or with none, in which case the
library is opened in a worker after the window is shown (engine.library imports torch, which takes
seconds).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.thumbnails import ThumbnailCache

from . import jobs
from . import tags as tag_jobs
from .categories import (
    CategoryBook,
    CategoryDialog,
    category_counts,
    category_hits,
    get_category,
    remove_category,
)
from .delegate import ThumbnailDelegate
from .results_model import ResultsModel
from .search_bar import SearchBar, SearchRequest
from .settings import AppSettings, SettingsDialog
from .sidebar import SCOPE_CATEGORY, SCOPE_TAG, Sidebar
from .status import FailuresDialog, IndexPanel
from .thumbnails import ThumbnailLoader
from .training import TrainingDialog
from .viewer import Viewer
from .workers import InlinePool, Runner, make_pool

if TYPE_CHECKING:
    from engine.indexer import Progress
    from engine.library import Library, Status
    from engine.search import Hit
    from engine.watcher import Watcher

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff", ".bmp", ".gif"}
STATUS_REFRESH_S = 2.0

PAGE_OPENING, PAGE_WELCOME, PAGE_BROWSER, PAGE_VIEWER = range(4)
MODEL_LOADING, MODEL_READY, MODEL_UNAVAILABLE = "loading", "ready", "unavailable"


class _Bridge(QObject):
    """Lives on the UI thread; engine threads emit these and the slots run on the UI thread."""

    index_progress = Signal(object)
    watch_progress = Signal(object)
    changed = Signal()
    download = Signal(int, int)


class MainWindow(QMainWindow):
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

    # ================================================================= UI construction

    def _build_ui(self) -> None:
        self.setWindowTitle("Viewfinder")
        self.resize(1200, 780)
        thumb = self.app_settings.thumb_size

        self.sidebar = Sidebar()
        self.sidebar.setMinimumWidth(200)
        self.sidebar.folder_selected.connect(self._folder_selected)
        self.sidebar.add_requested.connect(self.choose_folder)
        self.sidebar.remove_requested.connect(self.remove_folder)
        self.sidebar.rescan_requested.connect(self.start_indexing)
        self.sidebar.category_selected.connect(self._folder_selected)
        self.sidebar.tag_selected.connect(self._folder_selected)
        self.sidebar.new_category_requested.connect(self.new_category)
        self.sidebar.edit_category_requested.connect(self.edit_category)
        self.sidebar.remove_category_requested.connect(self.remove_category)

        self.search_bar = SearchBar(self.qsettings)
        self.search_bar.search.connect(self.request_search)
        self.search_bar.sort_changed.connect(self._sort_changed)
        self.search_bar.field.installEventFilter(self)

        self.banner = QFrame()
        self.banner.setObjectName("banner")
        self.banner_text = QLabel("")
        self.banner_text.setWordWrap(True)
        self.banner_progress = QProgressBar()
        self.banner_progress.setFixedWidth(180)
        self.banner_progress.setTextVisible(True)
        self.banner_choose = QPushButton("Choose model file…")
        self.banner_choose.clicked.connect(lambda: self.open_settings(focus_model=True))
        self.banner_retry = QPushButton("Retry")
        self.banner_retry.clicked.connect(self.load_model)
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(16, 8, 16, 8)
        banner_layout.addWidget(self.banner_text, 1)
        banner_layout.addWidget(self.banner_progress)
        banner_layout.addWidget(self.banner_choose)
        banner_layout.addWidget(self.banner_retry)
        self.banner.hide()

        self.results = ResultsModel(self.thumbnails, thumb, self)
        self.delegate = ThumbnailDelegate(thumb, self)
        self.grid = QListView()
        self.grid.setObjectName("grid")
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setModel(self.results)
        self.grid.setItemDelegate(self.delegate)
        self.grid.setUniformItemSizes(True)
        self.grid.setGridSize(self.delegate.cell_size())
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.grid.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.grid.verticalScrollBar().setSingleStep(24)
        self.grid.setMouseTracking(True)
        self.grid.setDragEnabled(True)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._grid_menu)
        self.grid.activated.connect(lambda index: self.open_viewer(index.row()))

        self.empty_label = QLabel("")
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.results_stack = QStackedWidget()
        self.results_stack.addWidget(self.grid)
        self.results_stack.addWidget(self.empty_label)

        browser = QWidget()
        browser_layout = QVBoxLayout(browser)
        browser_layout.setContentsMargins(0, 0, 0, 0)
        browser_layout.setSpacing(0)
        browser_layout.addWidget(self.search_bar)
        browser_layout.addWidget(self.results_stack, 1)

        self.viewer = Viewer(self.runner)
        self.viewer.closed.connect(self.close_viewer)
        self.viewer.step.connect(self._viewer_step)
        self.viewer.find_similar.connect(self.find_similar)
        self.viewer.tags_changed.connect(self.refresh_lists)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._opening_page())
        self.pages.addWidget(self._welcome_page())
        self.pages.addWidget(browser)
        self.pages.addWidget(self.viewer)

        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.setSpacing(0)
        content_layout.addWidget(self.banner)
        content_layout.addWidget(self.pages, 1)

        self.splitter = QSplitter()
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(content)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([240, 960])
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)

        self.index_panel = IndexPanel()
        self.index_panel.pause_toggled.connect(self.pause_indexing)
        self.index_panel.cancel_requested.connect(self.cancel_indexing)
        self.index_panel.failures_requested.connect(self.show_failures)
        self.model_label = QLabel("")
        self.model_label.setObjectName("modelLabel")
        self.statusBar().addWidget(self.index_panel, 1)
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().setSizeGripEnabled(False)

        self._build_menu()
        self.sidebar.hide()
        self.pages.setCurrentIndex(PAGE_OPENING)

    def _opening_page(self) -> QWidget:
        label = QLabel("Opening your library…")
        label.setObjectName("emptyState")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.opening_label = label
        return label

    def _welcome_page(self) -> QWidget:
        page = QWidget()
        page.setObjectName("welcome")
        title = QLabel("Welcome to Viewfinder")
        title.setObjectName("welcomeTitle")
        text = QLabel(
            "Find any photo by describing it — “kids at the beach”, “red car at night”.\n"
            "Add the folders where you keep your photos; Viewfinder indexes them in the background.\n"
            "Nothing leaves your computer."
        )
        text.setObjectName("welcomeText")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setWordWrap(True)
        button = QPushButton("Add a photo folder…")
        button.setObjectName("primaryButton")
        button.setMinimumHeight(40)
        button.clicked.connect(self.choose_folder)
        hint = QLabel("or drag folders onto this window")
        hint.setObjectName("hint")
        for w in (title, hint):
            w.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column = QVBoxLayout()
        column.setSpacing(14)
        column.addStretch(2)
        column.addWidget(title)
        column.addWidget(text)
        column.addSpacing(10)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(button)
        row.addStretch(1)
        column.addLayout(row)
        column.addWidget(hint)
        column.addStretch(3)
        page.setLayout(column)
        return page

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Add Folder…", self.choose_folder, QKeySequence.StandardKey.Open)
        self._action(file_menu, "&Rescan Folders", self.start_indexing, "F5")
        self._action(file_menu, "Photos That Could Not Be &Read…", self.show_failures)
        file_menu.addSeparator()
        self._action(file_menu, "&Settings…", self.open_settings, QKeySequence.StandardKey.Preferences)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit_menu = self.menuBar().addMenu("&Edit")
        self._action(edit_menu, "&Find", self.focus_search, QKeySequence.StandardKey.Find)
        self._action(edit_menu, "Search by &Pasted Image", self.paste_image)
        self._action(edit_menu, "Select &All", self.grid.selectAll, QKeySequence.StandardKey.SelectAll)
        edit_menu.addSeparator()
        self.tag_action = self._action(edit_menu, "&Tag Selected Photos…", self.tag_selected_photos, "Ctrl+T")
        view_menu = self.menuBar().addMenu("&View")
        self._action(view_menu, "Sort by &Relevance", lambda: self.search_bar.sort.setCurrentIndex(0))
        self._action(view_menu, "Sort by &Date", lambda: self.search_bar.sort.setCurrentIndex(1))
        tools_menu = self.menuBar().addMenu("&Tools")
        self._action(tools_menu, "&New Category…", self.new_category)
        tools_menu.addSeparator()
        self._action(tools_menu, "T&rain on My Tags…", self.open_training)
        self._action(tools_menu, "&Models…", self.open_training)

    def _action(self, menu: QMenu, text: str, slot, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    # ================================================================= library lifecycle

    def _open_library(self) -> None:
        self.runner.submit(lambda: jobs.open_library(self._library_dir), self.set_library, self._open_failed)

    def _open_failed(self, error: Exception) -> None:
        self.opening_label.setText(
            f"Cannot open the library:\n{error}\n\nChoose another location in Settings."
        )

    def set_library(self, library: Library) -> None:
        """Attach the library: show its folders, load the model, index, watch."""
        if self._closing:
            if self._owns_library:
                library.close()
            return
        self.library = library
        self.categories = CategoryBook(library)
        self.viewer.library = library
        self.sidebar.setVisible(bool(library.folders()))
        self.refresh_status()
        self.load_model()
        if self.library.folders():
            self.pages.setCurrentIndex(PAGE_BROWSER)
            if self.auto_index:
                self.start_indexing()
        else:
            self.pages.setCurrentIndex(PAGE_WELCOME)
        self.restart_watcher()
        self.run_query()
        self.refresh_lists()
        self.library_ready.emit()

    def refresh_status(self) -> None:
        if self.library is None or self._status_busy:
            return
        import time

        self._status_busy = True
        self._last_status_refresh = time.monotonic()
        library = self.library
        self.runner.submit(library.status, self._status_done, self._status_failed)

    def _status_failed(self, error: Exception) -> None:
        self._status_busy = False
        log.warning("cannot read the library status: %s", error)

    def _status_done(self, status: Status) -> None:
        self._status_busy = False
        self.status = status
        self.sidebar.set_folders(status.folders, self._index_running)
        self.index_panel.set_failures(status.failed)
        if not self._index_running:
            self.index_panel.set_idle(self._idle_text(status))
        if not status.folders and self.pages.currentIndex() == PAGE_BROWSER:
            self.pages.setCurrentIndex(PAGE_WELCOME)
        elif status.folders and self.pages.currentIndex() in (PAGE_WELCOME, PAGE_OPENING):
            self.pages.setCurrentIndex(PAGE_BROWSER)
        self.sidebar.setVisible(bool(status.folders))
        self.status_refreshed.emit(status)

    def _idle_text(self, status: Status) -> str:
        if not status.folders:
            return "No folders yet"
        text = f"{status.photos:,} photos indexed"
        if status.pending:
            text += f"  ·  {status.pending:,} waiting (rescan with F5)"
        if status.target_model:
            text += f"  ·  switching to {status.target_model.split('|')[0]}"
        return text

    # ================================================================= model

    def load_model(self) -> None:
        if self.library is None:
            return
        self._set_model_state(MODEL_LOADING)
        library = self.library
        self.runner.submit(
            lambda: jobs.load_models(library, self.bridge.download.emit),
            self._model_loaded,
            self._model_failed,
        )

    def _model_loaded(self, key: str) -> None:
        self._set_model_state(MODEL_READY)
        self.refresh_lists()  # category counts need the model's text tower
        if self._waiting_for_model:
            self._waiting_for_model = False
            self.run_query()

    def _model_failed(self, error: Exception) -> None:
        self.model_error = str(error)
        self._set_model_state(MODEL_UNAVAILABLE)
        if self._waiting_for_model:
            self._waiting_for_model = False
            self.run_query()

    def _set_model_state(self, state: str) -> None:
        self.model_state = state
        name = self.library.model.key.split("|")[0] if self.library is not None else ""
        name = os.path.basename(name)
        if state == MODEL_LOADING:
            self.model_label.setText(f"Loading model {name}…")
            self._show_banner("")
        elif state == MODEL_READY:
            self.model_label.setText(f"Model: {name}")
            self.banner.hide()
        else:
            self.model_label.setText("Model not available")
            self._show_banner(
                "Search needs the image model, and it is not on this computer: "
                f"{self.model_error}\nBrowsing your folders still works. Connect to the internet and retry, "
                "or choose a model file you already have.",
                buttons=True,
            )
        self.model_state_changed.emit(state)

    def _show_banner(self, text: str, buttons: bool = False, progress: bool = False) -> None:
        if not text and not progress:
            self.banner.hide()
            return
        self.banner_text.setText(text)
        self.banner_choose.setVisible(buttons)
        self.banner_retry.setVisible(buttons)
        self.banner_progress.setVisible(progress)
        self.banner.setProperty("kind", "error" if buttons else "info")
        self.banner.style().unpolish(self.banner)
        self.banner.style().polish(self.banner)
        self.banner.show()

    def _on_download(self, done: int, total: int) -> None:
        if self.model_state != MODEL_LOADING:
            return
        self._show_banner(
            f"Downloading the image model (one time){f' — {total / 1e6:,.0f} MB' if total else ''}…",
            progress=True,
        )
        if total > 0:
            self.banner_progress.setRange(0, 1000)
            self.banner_progress.setValue(int(1000 * done / total))
        else:
            self.banner_progress.setRange(0, 0)

    # ================================================================= search

    def focus_search(self) -> None:
        if self.pages.currentIndex() == PAGE_VIEWER:
            self.close_viewer()
        self.search_bar.field.setFocus()
        self.search_bar.field.selectAll()

    def request_search(self, request: SearchRequest) -> None:
        self._request = request
        self.viewer.query_text = request.text
        if self.pages.currentIndex() == PAGE_VIEWER:
            self.close_viewer()
        self.run_query()

    def search_text(self, text: str) -> None:
        """Type-and-Enter equivalent (for scripts and tests)."""
        self.search_bar.set_text(text)
        self.search_bar.emit_search()

    def find_similar(self, path: str) -> None:
        self.search_bar.set_text("")
        if self.pages.currentIndex() == PAGE_VIEWER:
            self.close_viewer()
        self.search_bar.set_image(path)

    def run_query(self) -> None:
        """Answer the current request (coalesced: one search in flight; the newest wins)."""
        if self.library is None:
            return
        if self._search_busy:
            self._search_again = True
            return
        request = self._request
        folder = self.sidebar.current_folder() or None
        library = self.library
        scope = self.sidebar.current_scope()
        needs_model = not request.empty or scope.kind == SCOPE_CATEGORY  # members need text vectors
        if scope.kind == SCOPE_CATEGORY and self.categories is not None:
            book, query = self.categories, jobs.make_query(request)
            work = lambda: category_hits(book, scope.value, query)  # noqa: E731
        elif scope.kind == SCOPE_TAG:
            tag_query = None if request.empty else jobs.make_query(request)
            work = lambda: tag_jobs.tagged_hits(library, scope.value, tag_query)  # noqa: E731
        elif request.empty:
            work = lambda: jobs.browse(library, folder, request)  # noqa: E731
        else:
            work = lambda: jobs.search(library, request, folder)  # noqa: E731
        if needs_model and self.model_state == MODEL_LOADING:
            self._waiting_for_model = True
            self._show_empty("Loading model…\nYour search runs as soon as it is ready.")
            return
        elif needs_model and self.model_state == MODEL_UNAVAILABLE:
            self._show_empty(
                "Search is unavailable until the model is available.\nBrowsing works: clear the search."
            )
            return
        self._search_busy = True
        self._search_generation += 1
        generation = self._search_generation
        self.runner.submit(
            work,
            lambda hits: self._search_done(generation, request, hits),
            lambda error: self._search_failed(generation, error),
            priority=5,
        )

    def _search_finished(self) -> bool:
        self._search_busy = False
        if self._search_again:
            self._search_again = False
            self.run_query()
            return False
        return True

    def _search_done(self, generation: int, request: SearchRequest, hits: list[Hit]) -> None:
        if not self._search_finished():
            return
        self.results.set_hits(hits)
        if hits:
            self.results_stack.setCurrentIndex(0)
            self.grid.scrollToTop()
        elif request.empty:
            self._show_empty(
                "No photos yet.\nThey appear here as your folders are indexed."
                if self._index_running
                else "No photos here."
            )
        else:
            self._show_empty("No photos match your search.")
        self._update_scope(request, len(hits))
        self.results_updated.emit()

    def _search_failed(self, generation: int, error: Exception) -> None:
        if not self._search_finished():
            return
        from engine.errors import ModelUnavailable

        if isinstance(error, ModelUnavailable):
            self.model_error = str(error)
            self._set_model_state(MODEL_UNAVAILABLE)
        self.results.set_hits([])
        self._show_empty(f"Cannot search: {error}")
        self.results_updated.emit()

    def _show_empty(self, text: str) -> None:
        self.results.set_hits([])
        self.empty_label.setText(text)
        self.results_stack.setCurrentIndex(1)

    def _update_scope(self, request: SearchRequest, count: int) -> None:
        scope = self.sidebar.current_scope()
        folder = self.sidebar.current_folder()
        where = os.path.basename(folder.rstrip(os.sep)) if folder else "All photos"
        if scope.kind == SCOPE_CATEGORY:
            where = f"Category “{scope.value}”"
        elif scope.kind == SCOPE_TAG:
            where = f"Tag “{scope.value}”"
        what = "photos" if request.empty else "results"
        self.search_bar.set_scope(f"{where}  ·  {count:,} {what}")

    def _sort_changed(self, key: str) -> None:
        self.results.set_sort(key)

    def _folder_selected(self, _path: str) -> None:
        if self.pages.currentIndex() == PAGE_VIEWER:
            self.close_viewer()
        self.run_query()

    # ================================================================= images as queries

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.search_bar.field
            and event.type() == QEvent.Type.KeyPress
            and event.matches(QKeySequence.StandardKey.Paste)  # type: ignore[attr-defined]
            and self.paste_image()
        ):
            return True
        return super().eventFilter(watched, event)

    def paste_image(self) -> bool:
        """Search by the clipboard's image (data or a file); False when it holds none."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return False
        for url in mime.urls() if mime.hasUrls() else []:
            if url.isLocalFile() and _is_image_file(url.toLocalFile()):
                self.find_similar(url.toLocalFile())
                return True
        if mime.hasImage():
            image = QImage(mime.imageData())
            if image.isNull():
                return False
            from engine.config import default_cache_dir

            folder = str(default_cache_dir())
            self.runner.submit(lambda: jobs.save_pasted_image(image, folder), self.find_similar)
            return True
        return False

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()) or mime.hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        folders = [p for p in paths if os.path.isdir(p)]
        images = [p for p in paths if _is_image_file(p)]
        if folders:
            self.add_folders(folders)
        elif images:
            self.find_similar(images[0])
        else:
            return
        event.acceptProposedAction()

    # ================================================================= folders

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a photo folder", os.path.expanduser("~"))
        if folder:
            self.add_folders([folder])

    def add_folders(self, folders: list[str]) -> None:
        if self.library is None:
            return
        library = self.library
        self.runner.submit(lambda: library.add_folders(folders), self._folders_added, self._folder_error)

    def _folders_added(self, added: list[str]) -> None:
        self.pages.setCurrentIndex(PAGE_BROWSER)
        self.sidebar.show()
        self.refresh_status()
        self.restart_watcher()
        self.start_indexing()

    def _folder_error(self, error: Exception) -> None:
        QMessageBox.warning(self, "Viewfinder", str(error))

    def remove_folder(self, folder: str) -> None:
        if self.library is None:
            return
        answer = QMessageBox.question(
            self,
            "Remove folder",
            f"Remove {folder} from the library?\nThe photos themselves stay where they are.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_folder_now(folder)

    def remove_folder_now(self, folder: str) -> None:
        library = self.library
        assert library is not None

        def done(_result: object) -> None:
            self.sidebar.select_folder("")
            self.refresh_status()
            self.restart_watcher()
            self.run_query()

        self.runner.submit(lambda: library.remove_folder(folder), done, self._folder_error)

    # ================================================================= indexing

    def start_indexing(self) -> None:
        """Scan and embed in the background; a request while running queues one more run."""
        if self.library is None or self._closing:
            return
        if self._index_running:
            self._index_again = True
            return
        self._index_running = True
        self._index_cancel = threading.Event()
        self._index_pause = threading.Event()
        cancel, pause, library = self._index_cancel, self._index_pause, self.library
        self.sidebar.set_indexing(True)
        self.index_panel.set_running(True)
        self.index_panel.label.setText("Looking for new and changed photos…")
        self.runner.submit(
            lambda: library.index(self.bridge.index_progress.emit, cancel, pause),
            self._index_done,
            self._index_failed,
        )

    def pause_indexing(self, paused: bool) -> None:
        if paused:
            self._index_pause.set()
        else:
            self._index_pause.clear()

    def cancel_indexing(self) -> None:
        self._index_cancel.set()
        self._index_pause.clear()
        self._index_again = False

    def _on_index_progress(self, progress: Progress) -> None:
        if self._closing or not self._index_running:
            return
        if progress.phase == "done":
            return
        self.index_panel.show_progress(progress)
        import time

        if time.monotonic() - self._last_status_refresh > STATUS_REFRESH_S:
            self.refresh_status()
            if (
                self._request.empty
                and self.pages.currentIndex() == PAGE_BROWSER
                and not self.results.rowCount()
            ):
                self.run_query()

    def _index_done(self, progress: Progress) -> None:
        self._index_running = False
        self.sidebar.set_indexing(False)
        self.index_panel.set_running(False)
        self._after_index(progress)

    def _index_failed(self, error: Exception) -> None:
        from engine.errors import ModelUnavailable

        self._index_running = False
        self.sidebar.set_indexing(False)
        self.index_panel.set_running(False)
        if isinstance(error, ModelUnavailable):
            self.model_error = str(error)
            self._set_model_state(MODEL_UNAVAILABLE)
        else:
            log.error("indexing failed: %s", error, exc_info=error)
            QMessageBox.warning(self, "Viewfinder", f"Indexing stopped: {error}")
        self._after_index(None)

    def _after_index(self, progress: Progress | None) -> None:
        self._status_busy = False  # a refresh queued behind the index job is stale: ask again
        self.refresh_status()
        self.run_query()
        self.refresh_lists()
        if progress is not None:
            self.index_finished.emit(progress)
        if self._index_again and not self._closing:
            self._index_again = False
            self.start_indexing()

    def show_failures(self) -> FailuresDialog:
        failures = self.status.failures if self.status is not None else []
        dialog = FailuresDialog(failures, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    # ================================================================= watching

    def restart_watcher(self) -> None:
        """(Re)start watching the library's folders, in a worker (scheduling inotify walks trees)."""
        if not self.watch or self.library is None or self._closing:
            return
        library = self.library
        self.runner.submit(lambda: self._restart_watcher(library), lambda _r: self.watcher_started.emit())

    def _restart_watcher(self, library: Library) -> None:
        from engine.watcher import Watcher

        with self._watch_lock:
            if self.watcher is not None:
                self.watcher.stop()
                self.watcher = None
            if self._closing or not library.folders():
                return
            watcher = Watcher(
                library,
                on_progress=self.bridge.watch_progress.emit,
                on_change=self.bridge.changed.emit,
                debounce=self.watcher_debounce,
            )
            watcher.start()
            self.watcher = watcher

    def _on_watch_progress(self, progress: Progress) -> None:
        if self._closing or self._index_running:
            return
        if progress.phase in ("indexing", "scanning"):
            self.index_panel.show_progress(progress)

    def _on_folders_changed(self) -> None:
        if self._closing:
            return
        self._status_busy = False
        self.refresh_status()
        self.run_query()
        self.refresh_lists()

    # ================================================================= viewer

    def open_viewer(self, row: int) -> None:
        hit = self.results.hit(row)
        if hit is None:
            return
        self.grid.setCurrentIndex(self.results.index(row))
        self.viewer.show_hit(hit, row, self.results.rowCount())
        self.pages.setCurrentIndex(PAGE_VIEWER)
        self.viewer.setFocus()

    def _viewer_step(self, delta: int) -> None:
        row = self.grid.currentIndex().row() + delta
        if 0 <= row < self.results.rowCount():
            self.open_viewer(row)

    def close_viewer(self) -> None:
        if self.pages.currentIndex() == PAGE_VIEWER:
            self.pages.setCurrentIndex(PAGE_BROWSER)
            self.grid.setFocus()
            if self.grid.currentIndex().isValid():
                self.grid.scrollTo(self.grid.currentIndex())

    def selected_paths(self) -> list[str]:
        return [
            self.results.paths()[i.row()] for i in sorted(self.grid.selectedIndexes(), key=lambda i: i.row())
        ]

    def _grid_menu(self, pos) -> None:
        index = self.grid.indexAt(pos)
        if not index.isValid():
            return
        hit = self.results.hit(index.row())
        assert hit is not None
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open_viewer(index.row()))
        menu.addAction("Find similar", lambda: self.find_similar(hit.path))
        menu.addAction("Tag…", self.tag_selected_photos)
        menu.addSeparator()
        self.viewer.hit = hit
        menu.addAction("Open with default app", self.viewer.open_external)
        menu.addAction("Show in folder", self.viewer.show_in_folder)
        menu.exec(self.grid.viewport().mapToGlobal(pos))

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            if self.pages.currentIndex() == PAGE_VIEWER:
                self.close_viewer()
                return
            if self.search_bar.image_chip.isVisible():
                self.search_bar.set_image(None)
                return
        super().keyPressEvent(event)

    # ================================================================= categories and tags

    def refresh_lists(self) -> None:
        """Re-read the sidebar's categories (with member counts) and tags, in a worker."""
        if self.library is None or self.categories is None or self._closing:
            return
        if self._lists_busy:
            self._lists_again = True
            return
        self._lists_busy = True
        library, book, counted = self.library, self.categories, self.model_state == MODEL_READY

        def work():
            if counted:
                categories = category_counts(book)
            else:  # no model yet: names now, counts once it has loaded
                categories = [(c.name, None) for c in book.get().list()]
            return categories, tag_jobs.tag_counts(library)

        self.runner.submit(work, self._lists_done, self._lists_failed)

    def _lists_done(self, result) -> None:
        categories, tags = result
        self._lists_busy = False
        self.sidebar.set_categories(categories)
        self.sidebar.set_tags(tags)
        if self._select_after_refresh is not None:
            kind, value = self._select_after_refresh
            self._select_after_refresh = None
            (self.sidebar.select_category if kind == SCOPE_CATEGORY else self.sidebar.select_tag)(value)
        self.lists_refreshed.emit()
        if self._lists_again:
            self._lists_again = False
            self.refresh_lists()

    def _lists_failed(self, error: Exception) -> None:
        self._lists_busy = False
        log.warning("cannot list categories and tags: %s", error)
        if self._lists_again:
            self._lists_again = False
            self.refresh_lists()

    def new_category(self) -> CategoryDialog | None:
        return self._open_category_dialog(None)

    def edit_category(self, name: str) -> None:
        """Open the dialog on a stored category (read in a worker)."""
        if self.categories is None:
            return
        book = self.categories
        self.runner.submit(lambda: get_category(book, name), self._open_category_dialog, self._folder_error)

    def _open_category_dialog(self, existing) -> CategoryDialog | None:
        if self.categories is None:
            return None
        dialog = CategoryDialog(self.runner, self.categories, existing, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.saved.connect(self._category_saved)
        dialog.destroyed.connect(lambda *_: setattr(self, "category_dialog", None))
        self.category_dialog = dialog
        dialog.open()
        return dialog

    def _category_saved(self, category) -> None:
        self._select_after_refresh = (SCOPE_CATEGORY, category.name)
        self.refresh_lists()
        if self.sidebar.current_scope().kind == SCOPE_CATEGORY:
            self.run_query()

    def remove_category(self, name: str) -> None:
        answer = QMessageBox.question(
            self, "Remove category", f"Remove the category “{name}”?\nNo photo is deleted."
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_category_now(name)

    def remove_category_now(self, name: str) -> None:
        if self.categories is None:
            return
        book = self.categories
        self.runner.submit(
            lambda: remove_category(book, name), lambda _r: self.refresh_lists(), self._folder_error
        )

    def tag_targets(self) -> list[str]:
        """The photos Ctrl+T tags: the one in the viewer, else the grid's selection."""
        if self.pages.currentIndex() == PAGE_VIEWER and self.viewer.hit is not None:
            return [self.viewer.hit.path]
        return self.selected_paths()

    def tag_selected_photos(self) -> None:
        paths = self.tag_targets()
        if not paths:
            self.statusBar().showMessage("Select photos to tag first.", 4000)
            return
        what = "this photo" if len(paths) == 1 else f"these {len(paths):,} photos"
        text, ok = QInputDialog.getText(self, "Tag photos", f"Tag {what} with:")
        if ok and text.strip():
            self.tag_paths(paths, text)

    def tag_paths(self, paths: list[str], text: str) -> None:
        """Tag photos in a worker; the sidebar's Tags and an open viewer follow."""
        if self.library is None:
            return
        library = self.library
        self.runner.submit(
            lambda: tag_jobs.tag_photos(library, paths, text), self._tagged, self._folder_error
        )

    def _tagged(self, outcome: tag_jobs.TagOutcome) -> None:
        message = f"Tagged {len(outcome.tagged):,} photo(s) “{outcome.text}”."
        if outcome.failed:
            message += f" {len(outcome.failed):,} could not be tagged: {outcome.failed[0][1]}"
        self.statusBar().showMessage(message, 8000)
        self.refresh_lists()
        if self.viewer.hit is not None and self.viewer.hit.path in outcome.tagged:
            self.viewer.reload_tags()
        self.tagged.emit(outcome)

    # ================================================================= training

    def open_training(self) -> TrainingDialog | None:
        if self.library is None:
            return None
        if self.training_dialog is None:
            dialog = TrainingDialog(self.runner, self.library, self)
            dialog.model_changed.connect(self._model_switched)
            self.training_dialog = dialog
        self.training_dialog.show()
        self.training_dialog.raise_()
        return self.training_dialog

    def _model_switched(self, reembedding: bool) -> None:
        """A training run or a Use/Roll back changed the search model."""
        self.viewer.heatmaps.clear()
        self._status_busy = False
        self.refresh_status()
        self.load_model()
        if reembedding:
            self.start_indexing()
        self.run_query()
        self.refresh_lists()

    # ================================================================= settings

    def open_settings(self, focus_model: bool = False) -> None:
        model = (
            (self.library.target_model.name, self.library.target_model.pretrained)
            if self.library
            else ("", None)
        )
        library_dir = str(self.library.path) if self.library is not None else (self._library_dir or "")
        dialog = SettingsDialog(self.app_settings, model, library_dir, self, focus_model=focus_model)
        if dialog.exec():
            self.apply_settings(dialog.result_settings(self.app_settings), dialog.model())

    def apply_settings(self, new: AppSettings, model: tuple[str, str | None] | None = None) -> None:
        """Store new settings and act on them: thumbnail size now, model switch in the background."""
        new.save(self.qsettings)
        self.app_settings = new
        if new.thumb_size != self.results.thumb_size:
            self.delegate.thumb_size = new.thumb_size
            self.grid.setGridSize(self.delegate.cell_size())
            self.results.set_thumb_size(new.thumb_size)
        if self.library is None:
            return
        self.library.device = new.device
        if model is not None:
            from engine.config import ModelSpec

            spec = ModelSpec(*model)
            if spec.key != self.library.target_model.key:
                self.set_model(spec)

    def set_model(self, spec: Any) -> None:
        """Switch the library's model: re-index in the background; search keeps the old vectors."""
        library = self.library
        assert library is not None

        def switched(_r: object) -> None:
            self.refresh_status()
            self.load_model()
            self.cancel_indexing()
            self._index_again = True
            if not self._index_running:
                self._index_again = False
                self.start_indexing()

        self.runner.submit(lambda: library.set_model(spec), switched, self._folder_error)

    def _restore_geometry(self) -> None:
        geometry = self.qsettings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)  # type: ignore[arg-type]
        splitter = self.qsettings.value("window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)  # type: ignore[arg-type]

    def sizeHint(self) -> QSize:
        return QSize(1200, 780)

    # ================================================================= shutdown

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


def _is_image_file(path: str) -> bool:
    return os.path.isfile(path) and os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES


__all__ = ["MainWindow", "InlinePool"]
