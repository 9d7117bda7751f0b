"""The main window's widgets, built once and handed to the controllers that drive them.

`build_views` creates every widget and lays them out; it connects no behaviour: each controller
(controllers/) connects the signals of the widgets it is responsible for.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from .delegate import ThumbnailDelegate
from .grid_view import PhotoGrid
from .results_model import ResultsModel
from .search_bar import SearchBar
from .sidebar import Sidebar
from .status import IndexPanel
from .thumbnails import ThumbnailLoader
from .viewer import Viewer
from .workers import Runner

PAGE_OPENING, PAGE_WELCOME, PAGE_BROWSER, PAGE_VIEWER = range(4)
RESULTS_GRID, RESULTS_EMPTY = range(2)


class Banner(QFrame):
    """A strip above the pages: model download progress, or a problem with buttons to fix it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(180)
        self.progress.setTextVisible(True)
        self.choose = QPushButton("Choose model file…")
        self.retry = QPushButton("Retry")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 8, 16, 8)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.choose)
        layout.addWidget(self.retry)
        self.hide()

    def show_message(self, text: str, *, problem: bool = False, progress: bool = False) -> None:
        if not text and not progress:
            self.hide()
            return
        self.text.setText(text)
        self.choose.setVisible(problem)
        self.retry.setVisible(problem)
        self.progress.setVisible(progress)
        self.setProperty("kind", "error" if problem else "info")
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()


def _welcome_page() -> tuple[QWidget, QPushButton]:
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
    hint = QLabel("or drag folders onto this window")
    hint.setObjectName("hint")
    for w in (title, hint):
        w.setAlignment(Qt.AlignmentFlag.AlignCenter)
    column = QVBoxLayout(page)
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
    return page, button


def _grid(results: ResultsModel, delegate: ThumbnailDelegate) -> PhotoGrid:
    grid = PhotoGrid()
    grid.setObjectName("grid")
    grid.setModel(results)
    grid.setItemDelegate(delegate)
    grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    grid.setDragEnabled(True)
    grid.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
    grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    return grid


@dataclass
class Views:
    """Every widget of the main window that a controller drives."""

    sidebar: Sidebar
    search_bar: SearchBar
    banner: Banner
    results: ResultsModel
    delegate: ThumbnailDelegate
    grid: PhotoGrid
    empty_label: QLabel
    results_stack: QStackedWidget
    viewer: Viewer
    opening_label: QLabel
    welcome_button: QPushButton
    pages: QStackedWidget
    splitter: QSplitter
    index_panel: IndexPanel
    model_label: QLabel
    status_bar: QStatusBar

    def show_page(self, page: int) -> None:
        self.pages.setCurrentIndex(page)

    @property
    def page(self) -> int:
        return self.pages.currentIndex()


def build_views(
    settings: QSettings, runner: Runner, thumbnails: ThumbnailLoader, thumb_size: int, status_bar: QStatusBar
) -> Views:
    search_bar = SearchBar(settings)
    sidebar = Sidebar()
    sidebar.setMinimumWidth(200)
    banner = Banner()
    results = ResultsModel(thumbnails, thumb_size)
    delegate = ThumbnailDelegate()
    grid = _grid(results, delegate)
    results.setParent(grid)
    delegate.setParent(grid)

    empty_label = QLabel("")
    empty_label.setObjectName("emptyState")
    empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    empty_label.setWordWrap(True)
    results_stack = QStackedWidget()
    results_stack.addWidget(grid)
    results_stack.addWidget(empty_label)

    browser = QWidget()
    browser_layout = QVBoxLayout(browser)
    browser_layout.setContentsMargins(0, 0, 0, 0)
    browser_layout.setSpacing(0)
    browser_layout.addWidget(search_bar)
    browser_layout.addWidget(results_stack, 1)

    viewer = Viewer(runner)
    opening_label = QLabel("Opening your library…")
    opening_label.setObjectName("emptyState")
    opening_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    opening_label.setWordWrap(True)
    welcome, welcome_button = _welcome_page()
    pages = QStackedWidget()
    for page in (opening_label, welcome, browser, viewer):
        pages.addWidget(page)

    content = QWidget()
    content_layout = QVBoxLayout(content)
    content_layout.setContentsMargins(0, 0, 0, 0)
    content_layout.setSpacing(0)
    content_layout.addWidget(banner)
    content_layout.addWidget(pages, 1)

    splitter = QSplitter()
    splitter.addWidget(sidebar)
    splitter.addWidget(content)
    splitter.setStretchFactor(1, 1)
    splitter.setSizes([240, 960])
    splitter.setChildrenCollapsible(False)

    index_panel = IndexPanel()
    model_label = QLabel("")
    model_label.setObjectName("modelLabel")
    status_bar.addWidget(index_panel, 1)
    status_bar.addPermanentWidget(model_label)
    status_bar.setSizeGripEnabled(False)
    sidebar.hide()
    pages.setCurrentIndex(PAGE_OPENING)
    return Views(
        sidebar=sidebar,
        search_bar=search_bar,
        banner=banner,
        results=results,
        delegate=delegate,
        grid=grid,
        empty_label=empty_label,
        results_stack=results_stack,
        viewer=viewer,
        opening_label=opening_label,
        welcome_button=welcome_button,
        pages=pages,
        splitter=splitter,
        index_panel=index_panel,
        model_label=model_label,
        status_bar=status_bar,
    )
