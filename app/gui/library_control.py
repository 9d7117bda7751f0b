"""The library's lifecycle in the main window: opening it, its status, its folders, and the folder watcher.

A mixin of `MainWindow` (main_window.py), which owns the state these methods use."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMessageBox

from . import jobs
from .categories import CategoryBook
from .window_layout import PAGE_BROWSER, PAGE_OPENING, PAGE_WELCOME

if TYPE_CHECKING:
    from engine.indexer import Progress
    from engine.library import Library, Status


log = logging.getLogger(__name__)


class LibraryMixin:
    """Methods of `MainWindow`; see the module docstring."""

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
