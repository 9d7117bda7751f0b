"""The search bar: a query field that searches as you type (debounced), recent queries, an
image-query chip, and the date, folder and sort filters."""

from __future__ import annotations

import os
from datetime import datetime, time

from PySide6.QtCore import QDate, QSettings, QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .state import SearchRequest

__all__ = ["SearchBar", "SearchRequest"]

DEBOUNCE_MS = 250
HISTORY_KEY = "search/history"
HISTORY_SIZE = 30


class SearchBar(QWidget):
    """Emits `search(SearchRequest)` after typing pauses for 250 ms, at once on Enter, and when a
    filter changes."""

    search = Signal(object)
    sort_changed = Signal(str)

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.field = QLineEdit()
        self.field.setObjectName("searchField")
        self.field.setPlaceholderText("Search your photos — e.g. “dog on a beach -people”   (Ctrl+F)")
        self.field.setClearButtonEnabled(True)
        self.history = QStringListModel(self._load_history(), self)
        completer = QCompleter(self.history, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.field.setCompleter(completer)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.emit_search)
        self.field.textEdited.connect(lambda _t: self.timer.start())
        self.field.textChanged.connect(self._text_changed)
        self.field.returnPressed.connect(self._enter)

        self.image_chip = QToolButton()
        self.image_chip.setObjectName("imageChip")
        self.image_chip.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.image_chip.setToolTip("Searching by this image; click to clear")
        self.image_chip.clicked.connect(lambda: self.set_image(None))
        self.image_chip.hide()
        self._image: str | None = None

        self.use_dates = QCheckBox("Filter by date")
        self.after = QDateEdit(QDate.currentDate().addYears(-1))
        self.before = QDateEdit(QDate.currentDate())
        for d in (self.after, self.before):
            d.setCalendarPopup(True)
            d.setDisplayFormat("d MMM yyyy")
            d.setVisible(False)
            d.dateChanged.connect(self._filters_changed)
        self.use_dates.toggled.connect(self._dates_toggled)
        self.sort = QComboBox()
        self.sort.addItem("Best match", "relevance")
        self.sort.addItem("Newest first", "date")
        self.sort.currentIndexChanged.connect(lambda _i: self.sort_changed.emit(self.sort.currentData()))
        self.scope = QLabel("")
        self.scope.setObjectName("scopeLabel")

        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.field, 1)
        top.addWidget(self.image_chip)
        filters = QHBoxLayout()
        filters.setSpacing(8)
        filters.addWidget(self.scope)
        filters.addStretch(1)
        filters.addWidget(self.use_dates)
        filters.addWidget(self.after)
        self.and_label = QLabel("and")
        self.and_label.setVisible(False)
        filters.addWidget(self.and_label)
        filters.addWidget(self.before)
        filters.addSpacing(12)
        filters.addWidget(QLabel("Sort:"))
        filters.addWidget(self.sort)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 6)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addLayout(filters)

    # -- state -------------------------------------------------------------------------------

    def request(self) -> SearchRequest:
        after = before = None
        if self.use_dates.isChecked():
            after = _day_start(self.after.date())
            before = _day_start(self.before.date()) + 86400  # the end day is included
        return SearchRequest(self.field.text(), self._image, after, before, self.sort.currentData())

    def set_text(self, text: str) -> None:
        self.field.setText(text)

    def set_image(self, path: str | None) -> None:
        """Search by an example image (None clears it); searches at once."""
        self._image = path
        self.image_chip.setVisible(path is not None)
        if path is not None:
            self.image_chip.setText(f"Similar to {os.path.basename(path)}  ✕")
        self.emit_search()

    def set_scope(self, text: str) -> None:
        self.scope.setText(text)

    def emit_search(self) -> None:
        self.timer.stop()
        self.search.emit(self.request())

    def _enter(self) -> None:
        self.remember(self.field.text())
        self.emit_search()

    def _text_changed(self, text: str) -> None:
        if not text and not self.timer.isActive():  # the clear button: show everything again
            self.timer.start()

    def _dates_toggled(self, on: bool) -> None:
        for w in (self.after, self.and_label, self.before):
            w.setVisible(on)
        self._filters_changed()

    def _filters_changed(self) -> None:
        self.timer.start()

    # -- history -----------------------------------------------------------------------------

    def _load_history(self) -> list[str]:
        value = self.settings.value(HISTORY_KEY, [])
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value] if isinstance(value, list) else []

    def remember(self, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        items = [text] + [h for h in self.history.stringList() if h != text]
        self.history.setStringList(items[:HISTORY_SIZE])
        self.settings.setValue(HISTORY_KEY, self.history.stringList())


def _day_start(day: QDate) -> float:
    return datetime.combine(datetime(day.year(), day.month(), day.day()).date(), time()).timestamp()
