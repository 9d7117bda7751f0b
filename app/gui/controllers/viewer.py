"""Going between the grid and the viewer: open a result, previous/next, back; the grid's context
menu."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPoint
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from ..results_model import photos_mime
from ..state import AppState, Event
from ..views import PAGE_BROWSER, PAGE_VIEWER, Views
from .search import SearchController


class ViewerController(QObject):
    """Owns the viewer page; a new query or scope goes back to the grid."""

    def __init__(self, state: AppState, views: Views, search: SearchController, window: QWidget):
        super().__init__(window)
        self.state, self.views, self.search, self.window = state, views, search, window
        self.grid_actions: list[QAction] = []  # other controllers' entries in the grid's menu (Tag…)
        self.copy_action = QAction("&Copy Photos", window)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)  # the search box keeps its own
        self.copy_action.triggered.connect(lambda _checked=False: self.copy())
        viewer = views.viewer
        viewer.closed.connect(self.close)
        viewer.step.connect(self.step)
        viewer.find_similar.connect(search.find_similar)
        viewer.handoff_failed.connect(lambda text: QMessageBox.warning(window, "Viewfinder", text))
        views.grid.activated.connect(lambda index: self.open(index.row()))
        views.grid.customContextMenuRequested.connect(self._grid_menu)
        state.subscribe(Event.LIBRARY, lambda library: setattr(viewer, "library", library))
        state.subscribe(Event.QUERY, self._query_changed)
        state.subscribe(Event.MODEL_SWITCHED, lambda _reembed: viewer.heatmaps.clear())

    @property
    def is_open(self) -> bool:
        return self.views.page == PAGE_VIEWER

    def open(self, row: int) -> None:
        views = self.views
        hit = views.results.hit(row)
        if hit is None:
            return
        views.grid.setCurrentIndex(views.results.index(row))
        views.viewer.show_hit(hit, row, views.results.rowCount())
        views.show_page(PAGE_VIEWER)
        views.viewer.setFocus()

    def step(self, delta: int) -> None:
        row = self.views.grid.currentIndex().row() + delta
        if 0 <= row < self.views.results.rowCount():
            self.open(row)

    def close(self) -> None:
        views = self.views
        if self.is_open:
            views.show_page(PAGE_BROWSER)
            views.grid.setFocus()
            if views.grid.currentIndex().isValid():
                views.grid.scrollTo(views.grid.currentIndex())

    def _query_changed(self) -> None:
        self.views.viewer.query_text = self.state.request.text
        self.close()

    def selected_paths(self) -> list[str]:
        views = self.views
        rows = sorted(i.row() for i in views.grid.selectedIndexes())
        paths = views.results.paths()
        return [paths[row] for row in rows]

    def targets(self) -> list[str]:
        """The photos an action applies to: the one in the viewer, else the grid's selection."""
        hit = self.views.viewer.hit
        if self.is_open and hit is not None:
            return [hit.path]
        return self.selected_paths()

    def copy(self) -> None:
        """Put the photos an action applies to on the clipboard, to paste into a file manager,
        a mail or a chat (the files) or a terminal (their paths)."""
        paths = self.targets()
        if not paths:
            self.views.status_bar.showMessage("Select photos to copy first.", 4000)
            return
        QGuiApplication.clipboard().setMimeData(photos_mime(paths))
        count = "one photo" if len(paths) == 1 else f"{len(paths):,} photos"
        self.views.status_bar.showMessage(f"Copied {count}.", 4000)

    def _grid_menu(self, pos: QPoint) -> None:
        index: QModelIndex = self.views.grid.indexAt(pos)
        hit = self.views.results.hit(index.row()) if index.isValid() else None
        if hit is None:
            return
        menu = QMenu(self.window)
        menu.addAction("Open", lambda: self.open(index.row()))
        menu.addAction("Find similar", lambda: self.search.find_similar(hit.path))
        menu.addSeparator()
        for action in self.search.mark_actions:  # re-rank the search by the selected photos
            menu.addAction(action)
        menu.addSeparator()
        for action in self.grid_actions:
            menu.addAction(action)
        menu.addSeparator()
        viewer = self.views.viewer
        viewer.hit = hit
        menu.addAction("Open with default app", viewer.open_external)
        menu.addAction("Show in folder", viewer.show_in_folder)
        menu.addAction(self.copy_action)
        menu.exec(self.views.grid.viewport().mapToGlobal(pos))
