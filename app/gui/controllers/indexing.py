"""Background indexing: start (coalesced), pause, cancel, the status bar's progress and the
failures dialog."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from ..settings import AppSettings, cluster_config
from ..state import AppState, Event, ModelState
from ..status import FailuresDialog
from ..views import Views
from ..workers import CoalescedJob, Relay, Runner

if TYPE_CHECKING:
    from engine.indexer import Progress
    from engine.library import Status
    from engine.ocr import OcrProgress

log = logging.getLogger(__name__)

STATUS_REFRESH_S = 2.0  # while indexing, the status (and an empty grid) refresh this often


class IndexingController(QObject):
    """Runs `Library.index` in a worker; a request while it runs queues one more run. After a run
    that was not cancelled, the OCR pass (`Library.read_text`) runs as a second, low-priority job."""

    finished = Signal(object)  # engine Progress of a completed run
    text_finished = Signal(object)  # engine OcrProgress of a completed OCR pass
    progressed = Signal()  # throttled: some photos were indexed since the last emission

    def __init__(
        self,
        state: AppState,
        views: Views,
        runner: Runner,
        window: QWidget,
        *,
        auto_index: bool = True,
        settings: Callable[[], AppSettings] = AppSettings,
    ):
        super().__init__(window)
        self.state, self.views, self.window = state, views, window
        self.auto_index = auto_index
        self.settings = settings  # read as each run starts: where to index (here or a Ray cluster)
        self._job = CoalescedJob["Progress"](
            runner, self._done, self._failed, drop_stale=False, on_start=self._starting
        )
        self._pause = threading.Event()
        self._cancel = threading.Event()  # the run in progress
        self._last_progress = 0.0
        self._on_progress = Relay(self._progress, self)
        self._text_job = CoalescedJob["OcrProgress"](
            runner, self._text_done, self._text_failed, drop_stale=False, priority=-10, on_start=self._text_starting
        )
        self._text_cancel = threading.Event()

        panel = views.index_panel
        panel.pause_toggled.connect(self.pause)
        panel.cancel_requested.connect(self.cancel)
        panel.failures_requested.connect(self.show_failures)
        views.sidebar.rescan_requested.connect(self.start)
        self._index_on_status = False
        state.subscribe(Event.LIBRARY, lambda _library: setattr(self, "_index_on_status", auto_index))
        state.subscribe(Event.STATUS, self._first_status)
        state.subscribe(Event.FOLDERS, self.start)
        state.subscribe(Event.MODEL_SWITCHED, self._model_switched)

    def _first_status(self, status: Status) -> None:
        """A library that has folders is brought up to date once it is opened."""
        if self._index_on_status:
            self._index_on_status = False
            if status.folders:
                self.start()

    @property
    def running(self) -> bool:
        return self._job.busy

    def start(self) -> None:
        """Scan and embed in the background."""
        library = self.state.library
        if library is None or self.state.closing or self.state.read_only:
            return
        pause, progress = self._pause, self._on_progress
        settings = self.settings()
        # `_cancel` is read as the run starts: `_starting` has just made it, on the UI thread,
        # and it is not replaced before this run ends.
        self._job.run(
            lambda: library.index(
                progress, self._cancel, pause, cluster=cluster_config(settings.cluster, settings.path_map)
            )
        )

    def _starting(self) -> None:
        self._cancel = threading.Event()
        self._set_running(True)

    def read_text(self) -> None:
        """The OCR pass over embedded photos whose text is not known yet, in the background."""
        library = self.state.library
        if library is None or self.state.closing or self.state.read_only:
            return
        progress = self._on_progress
        # `_text_cancel` is read as the run starts, like `_cancel` (see `start`).
        self._text_job.run(lambda: library.read_text(progress=progress, cancel=self._text_cancel))

    def _text_starting(self) -> None:
        self._text_cancel = threading.Event()

    def _text_done(self, progress: OcrProgress) -> None:
        if not self._job.busy:
            self.views.index_panel.set_running(False)
        self.state.content_changed()
        self.text_finished.emit(progress)

    def _text_failed(self, error: Exception) -> None:
        log.warning("reading the text in photos stopped: %s", error)
        if not self._job.busy:
            self.views.index_panel.set_running(False)
        self.views.index_panel.label.setText(f"Text in photos is not available: {error}")

    def restart(self) -> None:
        """Cancel the run in progress (if any) and index again (a new model: re-embed)."""
        self.cancel()
        self.start()

    def shutdown(self) -> None:
        self.cancel()

    def pause(self, paused: bool) -> None:
        if paused:
            self._pause.set()
        else:
            self._pause.clear()

    def cancel(self) -> None:
        self._cancel.set()
        self._job.drop_queued()
        self._text_cancel.set()
        self._text_job.drop_queued()
        self._pause.clear()

    def _set_running(self, running: bool) -> None:
        self.views.sidebar.set_indexing(running)
        self.views.index_panel.set_running(running)
        if running:
            self.views.index_panel.label.setText("Looking for new and changed photos…")
        self.state.set_indexing(running)

    def _progress(self, progress: Progress) -> None:
        busy = self._job.busy or (self._text_job.busy and progress.phase == "reading text")
        if self.state.closing or not busy or progress.phase == "done":
            return
        self.views.index_panel.show_progress(progress)
        if time.monotonic() - self._last_progress > STATUS_REFRESH_S:
            self._last_progress = time.monotonic()
            self.progressed.emit()

    def show_watch_progress(self, progress: Progress) -> None:
        """The watcher indexes changes itself; show its progress when no run of ours does, and read
        the text of the photos it embedded."""
        if not self.state.closing and not self._job.busy and progress.phase in ("indexing", "scanning"):
            self.views.index_panel.show_progress(progress)
        if progress.phase == "done" and progress.done and not progress.cancelled and not self._job.busy:
            self.read_text()

    def _ended(self) -> None:
        if not self._job.queued:
            self._pause.clear()
            self._set_running(False)
        self.state.content_changed()

    def _done(self, progress: Progress) -> None:
        self._ended()
        self.finished.emit(progress)
        if not progress.cancelled and not self._job.queued:  # else after the queued run
            self.read_text()

    def _failed(self, error: Exception) -> None:
        from engine.errors import ModelUnavailable

        self._ended()
        if isinstance(error, ModelUnavailable):
            self.state.update_model(state=ModelState.UNAVAILABLE, problem=str(error))
        else:
            log.error("indexing failed: %s", error, exc_info=error)
            QMessageBox.warning(self.window, "Viewfinder", f"Indexing stopped: {error}")

    def _model_switched(self, reembedding: bool) -> None:
        if reembedding:
            self.restart()

    def show_failures(self) -> FailuresDialog:
        status = self.state.status
        dialog = FailuresDialog(status.failures if status is not None else [], self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog
