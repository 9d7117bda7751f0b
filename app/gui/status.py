"""The status bar's indexing panel, and the dialog listing photos that could not be read."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from engine.indexer import Progress
    from engine.library import Failure


def describe_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return "less than a minute left"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min left"
    return f"about {minutes / 60:.1f} h left"


def describe_progress(p: Progress, paused: bool = False) -> str:
    if paused:  # no rate or time left: nothing moves while paused
        return f"Paused  ·  {p.done:,} of {p.total:,} indexed" if p.phase == "indexing" else "Paused"
    if p.phase == "scanning":
        return "Looking for new and changed photos…"
    if p.phase == "indexing":
        parts = [f"Indexing {p.done:,} of {p.total:,}"]
        if p.rate > 0:
            parts.append(f"{p.rate:.1f} photos/s")
        eta = describe_eta(p.eta)
        if eta:
            parts.append(eta)
        return "  ·  ".join(parts)
    if p.phase == "reading text":
        parts = [f"Reading text in photos {p.done:,} of {p.total:,}"]
        if p.rate > 0:
            parts.append(f"{p.rate:.2f} photos/s")
        return "  ·  ".join(parts)
    return ""


class IndexPanel(QWidget):
    """Progress of the indexing job with pause/resume and cancel, and the failures button."""

    pause_toggled = Signal(bool)
    cancel_requested = Signal()
    failures_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel("")
        self.label.setObjectName("statusText")
        self.bar = QProgressBar()
        self.bar.setFixedWidth(160)
        self.bar.setFixedHeight(8)
        self.bar.setTextVisible(False)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self._pause_toggled)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        self.failures_button = QPushButton("")
        self.failures_button.setObjectName("failuresButton")
        self.failures_button.setFlat(True)
        self.failures_button.clicked.connect(self.failures_requested.emit)
        for b in (self.pause_button, self.cancel_button, self.failures_button):
            b.setCursor(Qt.CursorShape.PointingHandCursor)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 0)
        layout.setSpacing(10)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.pause_button)
        layout.addWidget(self.cancel_button)
        layout.addWidget(self.failures_button)
        self._last: Progress | None = None
        self.set_idle("")
        self.set_failures(0)

    def _pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        if self._last is not None:  # say so at once, not at the next progress report
            self.label.setText(describe_progress(self._last, paused))
        self.pause_toggled.emit(paused)

    def set_running(self, running: bool) -> None:
        for w in (self.bar, self.pause_button, self.cancel_button):
            w.setVisible(running)
        if not running:
            self.pause_button.blockSignals(True)
            self.pause_button.setChecked(False)
            self.pause_button.setText("Pause")
            self.pause_button.blockSignals(False)

    def show_progress(self, p: Progress) -> None:
        self.set_running(True)
        self._last = p
        paused = self.pause_button.isChecked()
        text = describe_progress(p, paused)
        self.label.setText(text)
        if p.phase in ("indexing", "reading text") and p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(p.done)
        else:
            self.bar.setRange(0, 0)  # busy

    def set_idle(self, text: str) -> None:
        self.set_running(False)
        self.label.setText(text)

    def set_failures(self, count: int) -> None:
        self.failures_button.setVisible(count > 0)
        self.failures_button.setText(
            f"{count:,} could not be read…" if count != 1 else "1 could not be read…"
        )


class FailuresModel(QAbstractTableModel):
    """Table of (file name, folder, reason) over the library's failures."""

    HEADERS = ("File", "Reason", "Folder")

    def __init__(self, failures: Sequence[Failure] = (), parent=None):
        super().__init__(parent)
        self._rows = list(failures)

    def set_failures(self, failures: Sequence[Failure]) -> None:
        self.beginResetModel()
        self._rows = list(failures)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 3

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if not index.isValid():
            return None
        f = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (os.path.basename(f.path), f.reason, os.path.dirname(f.path))[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{f.path}\n{f.reason}"
        if role == Qt.ItemDataRole.UserRole:
            return f.path
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None


class FailuresDialog(QDialog):
    def __init__(self, failures: Sequence[Failure], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Photos that could not be read")
        self.resize(760, 420)
        self.model = FailuresModel(failures, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        count = len(failures)
        intro = QLabel(
            "Every photo in your folders could be read."
            if not count
            else f"{'One file' if count == 1 else f'{count:,} files'} in your folders could not be read."
            " They are skipped; fix or replace a file and it is picked up again automatically."
        )
        intro.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
