"""Builds the main window's widgets: sidebar, banner, results grid, viewer, pages, status bar.

A mixin of `MainWindow` (main_window.py), which owns the state these methods use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .delegate import ThumbnailDelegate
from .results_model import ResultsModel
from .search_bar import SearchBar
from .sidebar import Sidebar
from .status import IndexPanel
from .viewer import Viewer

if TYPE_CHECKING:
    pass


PAGE_OPENING, PAGE_WELCOME, PAGE_BROWSER, PAGE_VIEWER = range(4)


class LayoutMixin:
    """Methods of `MainWindow`; see the module docstring."""

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
