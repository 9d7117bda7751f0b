"""Searching and browsing from the main window: requests, coalesced queries, results, images as queries and
the viewer.

A mixin of `MainWindow` (main_window.py), which owns the state these methods use."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtGui import QGuiApplication, QImage

from . import jobs
from . import tags as tag_jobs
from .categories import category_hits
from .model_control import MODEL_LOADING, MODEL_UNAVAILABLE
from .search_bar import SearchRequest
from .sidebar import SCOPE_CATEGORY, SCOPE_TAG
from .window_layout import PAGE_BROWSER, PAGE_VIEWER

if TYPE_CHECKING:
    from engine.search import Hit


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff", ".bmp", ".gif"}


class SearchMixin:
    """Methods of `MainWindow`; see the module docstring."""

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

    def paste_image(self) -> bool:
        """Search by the clipboard's image (data or a file); False when it holds none."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return False
        for url in mime.urls() if mime.hasUrls() else []:
            if url.isLocalFile() and is_image_file(url.toLocalFile()):
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


def is_image_file(path: str) -> bool:
    """Whether `path` is an existing file with an image suffix we can search by."""
    return os.path.isfile(path) and os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES
