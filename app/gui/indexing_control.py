"""Background indexing from the main window: start, pause, cancel, progress and the failures dialog.

A mixin of `MainWindow` (main_window.py), which owns the state these methods use."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from .model_control import MODEL_UNAVAILABLE
from .status import FailuresDialog
from .window_layout import PAGE_BROWSER

if TYPE_CHECKING:
    from engine.indexer import Progress


log = logging.getLogger(__name__)

STATUS_REFRESH_S = 2.0


class IndexingMixin:
    """Methods of `MainWindow`; see the module docstring."""

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
