"""The sidebar's categories and tags as the main window drives them: listing, category dialogs, tagging
photos.

A mixin of `MainWindow` (main_window.py), which owns the state these methods use."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

from . import tags as tag_jobs
from .categories import CategoryDialog, category_counts, get_category, remove_category
from .model_control import MODEL_READY
from .sidebar import SCOPE_CATEGORY
from .window_layout import PAGE_VIEWER

if TYPE_CHECKING:
    pass


log = logging.getLogger(__name__)


class ListsMixin:
    """Methods of `MainWindow`; see the module docstring."""

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
