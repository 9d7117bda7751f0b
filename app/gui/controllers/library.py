"""The library's lifecycle: opening it, its status, its folders and the folder watcher; which page
(opening, welcome, browser) the window shows follows from the status."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from .. import jobs
from ..state import AppState, Event
from ..views import PAGE_BROWSER, PAGE_OPENING, PAGE_VIEWER, PAGE_WELCOME, Banner, Views
from ..workers import CoalescedJob, Relay, Runner
from . import confirmed

if TYPE_CHECKING:
    from engine.library import Library, Status
    from engine.watcher import Watcher

log = logging.getLogger(__name__)

AVAILABILITY_CHECK_MS = 3000


class LibraryController(QObject):
    """Opens the library, keeps `state.status` fresh, adds and removes folders, runs the watcher."""

    library_ready = Signal()
    status_refreshed = Signal(object)  # engine Status
    watcher_started = Signal()
    watch_progress = Signal(object)  # engine Progress of the watcher's own indexing

    def __init__(
        self,
        state: AppState,
        views: Views,
        runner: Runner,
        window: QWidget,
        *,
        watch: bool = True,
        watcher_debounce: float = 1.0,
    ):
        super().__init__(window)
        self.state, self.views, self.runner, self.window = state, views, runner, window
        self.watch = watch
        self.watcher_debounce = watcher_debounce
        self.watcher: Watcher | None = None
        self.owns_library = False
        self._watch_lock = threading.Lock()
        self._status: CoalescedJob[Status] = CoalescedJob(runner, self._status_done, self._status_failed)
        self._on_watch_progress = Relay(self.watch_progress.emit, self)
        self._on_watch_change = Relay(state.content_changed, self)
        self._availability = QTimer(self)
        self._availability.setInterval(AVAILABILITY_CHECK_MS)
        self._availability.timeout.connect(self._check_availability)
        self.notice = Banner()  # what holds for the whole library (it is read-only); placed by the window
        self.notice.setObjectName("libraryNotice")

        views.sidebar.add_requested.connect(self.choose_folder)
        views.sidebar.remove_requested.connect(self.remove_folder)
        views.welcome_button.clicked.connect(self.choose_folder)
        state.subscribe(Event.FOLDERS, self._folders_changed)
        state.subscribe(Event.CONTENT, self.refresh_status)
        state.subscribe(Event.INDEXING, lambda _running: self.refresh_status())
        state.subscribe(Event.MODEL_SWITCHED, lambda _reembed: self.refresh_status())

    # -- opening -----------------------------------------------------------------------------

    def open(self, library_dir: str | None) -> None:
        """Open the library at `library_dir` in a worker (it imports torch: seconds)."""
        self.owns_library = True
        self.runner.submit(lambda: jobs.open_library(library_dir), self.attach, self._open_failed)

    def _open_failed(self, error: Exception) -> None:
        self.views.opening_label.setText(
            f"Cannot open the library:\n{error}\n\nChoose another location in Settings."
        )

    def attach(self, library: Library) -> None:
        """Use `library`: the model loads, folders are indexed and watched (by the subscribers)."""
        if self.state.closing:
            if self.owns_library:
                library.close()
            return
        read_only = jobs.read_only_text(library)
        self.state.set_library(library, read_only)
        self.notice.show_message(read_only)
        self.views.sidebar.set_read_only(read_only)
        self.views.welcome_button.setEnabled(not read_only)
        self.views.welcome_button.setToolTip(read_only)
        self.refresh_status()
        self.restart_watcher()
        self._availability.start()
        self.library_ready.emit()

    # -- status ------------------------------------------------------------------------------

    def refresh_status(self) -> None:
        library = self.state.library
        if library is not None and not self.state.closing:
            self._status.run(library.status)

    def _status_failed(self, error: Exception) -> None:
        log.warning("cannot read the library status: %s", error)

    def _status_done(self, status: Status) -> None:
        self.state.set_status(status)
        views = self.views
        views.sidebar.set_folders(status.folders, self.state.indexing, unreadable_per_folder(status))
        views.index_panel.set_failures(status.failed)
        if not self.state.indexing:
            views.index_panel.set_idle(idle_text(status, bool(self.state.read_only)))
        if not status.folders and views.page in (PAGE_BROWSER, PAGE_OPENING):
            views.show_page(PAGE_WELCOME)
        elif status.folders and views.page in (PAGE_WELCOME, PAGE_OPENING):
            views.show_page(PAGE_BROWSER)
        views.sidebar.setVisible(bool(status.folders))
        self.status_refreshed.emit(status)

    def _check_availability(self) -> None:
        """A folder that went away (or came back) is noticed within seconds, without a rescan."""
        status = self.state.status
        if status is None or not status.folders or self.state.closing:
            return
        paths = [f.path for f in status.folders]
        known = [f.available for f in status.folders]

        def checked(now: list[bool]) -> None:
            if now != known:
                self.state.folders_changed()

        self.runner.submit(lambda: jobs.folders_available(paths), checked)

    # -- folders -----------------------------------------------------------------------------

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Add a photo folder", os.path.expanduser("~"))
        if folder:
            self.add_folders([folder])

    def add_folders(self, folders: list[str]) -> None:
        library = self.state.library
        if library is None:
            return
        if self.state.read_only:
            self.views.status_bar.showMessage(self.state.read_only, 10_000)
            return
        self.runner.submit(lambda: library.add_folders(folders), self._folders_added, self.show_error)

    def _folders_added(self, _added: list[str]) -> None:
        if self.views.page != PAGE_VIEWER:
            self.views.show_page(PAGE_BROWSER)
        self.views.sidebar.show()
        self.state.folders_changed()

    def show_error(self, error: Exception) -> None:
        QMessageBox.warning(self.window, "Viewfinder", str(error))

    def remove_folder(self, folder: str) -> None:
        question = f"Remove {folder} from the library?\nThe photos themselves stay where they are."
        if confirmed(self.window, "Remove folder", question):
            self.remove_folder_now(folder)

    def remove_folder_now(self, folder: str) -> None:
        library = self.state.library
        if library is None:
            return

        def done(_result: object) -> None:
            self.views.sidebar.select_folder("")
            self.state.folders_changed()

        self.runner.submit(lambda: library.remove_folder(folder), done, self.show_error)

    def _folders_changed(self) -> None:
        self.restart_watcher()
        self.state.content_changed()

    # -- watcher -----------------------------------------------------------------------------

    def restart_watcher(self) -> None:
        """(Re)start watching the library's folders, in a worker (scheduling inotify walks trees)."""
        library = self.state.library
        if not self.watch or library is None or self.state.closing or self.state.read_only:
            return
        self.runner.submit(lambda: self._restart_watcher(library), lambda _r: self.watcher_started.emit())

    def _restart_watcher(self, library: Library) -> None:
        from engine.watcher import Watcher

        with self._watch_lock:
            self._stop_watcher()
            if self.state.closing or not library.folders():
                return
            watcher = Watcher(
                library,
                on_progress=self._on_watch_progress,
                on_change=self._on_watch_change,
                debounce=self.watcher_debounce,
            )
            watcher.start()
            self.watcher = watcher

    def _stop_watcher(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def stop(self) -> None:
        """Stop watching (folders and their availability): the window is closing."""
        self._availability.stop()
        with self._watch_lock:
            self._stop_watcher()

    def close(self) -> None:
        """After the workers have finished: stop a watcher started meanwhile, close the library."""
        self.stop()
        if self.owns_library and self.state.library is not None:
            self.state.library.close()


def unreadable_per_folder(status: Status) -> dict[str, int]:
    """folder -> how many of its files could not be read (they are counted in `FolderStatus.photos`
    but never shown in the grid)."""
    folders = sorted((f.path for f in status.folders), key=len, reverse=True)  # the deepest first
    out: dict[str, int] = {}
    for failure in status.failures:
        folder = next((f for f in folders if failure.path.startswith(f.rstrip(os.sep) + os.sep)), None)
        if folder is not None:
            out[folder] = out.get(folder, 0) + 1
    return out


def idle_text(status: Status, read_only: bool = False) -> str:
    """The status bar's text when nothing runs."""
    if not status.folders:
        return "No folders yet"
    text = f"{status.photos:,} photos indexed"
    if read_only:
        return text + "  ·  read-only library: not indexing or watching folders"
    if status.pending:
        text += f"  ·  {status.pending:,} waiting (rescan with F5)"
    if status.target_model:
        text += f"  ·  switching to {status.target_model.split('|')[0]}"
    return text
