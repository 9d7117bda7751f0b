"""The Duplicates window's behaviour: find groups in a worker, open or reveal a file."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from engine.duplicates import DuplicateGroup, DuplicateSettings

from .. import desktop
from ..duplicates import DuplicatesDialog
from ..state import AppState, Event
from ..thumbnails import ThumbnailLoader
from ..workers import CoalescedJob, Runner


class DuplicatesController(QObject):
    """Opens the Duplicates window and answers its requests; never changes a photo."""

    groups_found = Signal(object)  # list[DuplicateGroup], after each search

    def __init__(self, state: AppState, runner: Runner, thumbnails: ThumbnailLoader, window: QWidget):
        super().__init__(window)
        self.state, self.runner, self.thumbnails, self.window = state, runner, thumbnails, window
        self.dialog: DuplicatesDialog | None = None
        self._job = CoalescedJob[list[DuplicateGroup]](runner, self._done, self._failed)
        state.subscribe(Event.CONTENT, lambda *_args: self._refresh_if_open())

    def open(self) -> None:
        if self.dialog is None:
            self.dialog = DuplicatesDialog(self.thumbnails, self.window)
            self.dialog.find_requested.connect(self.find)
            self.dialog.open_requested.connect(self.open_file)
            self.dialog.reveal_requested.connect(self.reveal_file)
        self.dialog.show()
        self.dialog.raise_()
        self.find(self.dialog.threshold.value())

    def find(self, threshold: float) -> None:
        library = self.state.library
        if library is None or self.dialog is None:
            return
        self.dialog.set_busy("Looking for duplicates…")
        settings = DuplicateSettings(threshold=threshold)
        self._job.run(lambda: library.duplicates(settings))

    def _refresh_if_open(self) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.find(self.dialog.threshold.value())

    def _done(self, groups: list[DuplicateGroup]) -> None:
        if self.dialog is not None:
            self.dialog.set_groups(groups)
        self.groups_found.emit(groups)

    def _failed(self, error: Exception) -> None:
        if self.dialog is not None:
            self.dialog.show_error(f"Could not look for duplicates: {error}")

    def open_file(self, path: str) -> None:
        if not desktop.open_with_default_app(path) and self.dialog is not None:
            self.dialog.summary.setText(desktop.cannot_open_text(path, "open it"))

    def reveal_file(self, path: str) -> None:
        if not desktop.show_in_folder(path) and self.dialog is not None:
            self.dialog.summary.setText(desktop.cannot_open_text(path, "show its folder"))
