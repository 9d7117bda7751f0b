"""The search bar: a query field that searches as you type (debounced), recent queries, an
image-query chip, the marks chip, and the date and sort filters."""

from __future__ import annotations

import datetime as dt
import os
from datetime import datetime, time, timedelta

from PySide6.QtCore import QDate, QLocale, QSettings, QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCalendarWidget,
    QCheckBox,
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWidgetAction,
)

from .dates import format_day, parse_day
from .state import SORT_NEWEST, SORT_OLDEST, SORT_RELEVANCE, SearchRequest

__all__ = ["DateField", "SearchBar", "SearchRequest"]

DEBOUNCE_MS = 250
HISTORY_KEY = "search/history"
HISTORY_SIZE = 30
# The sort box's entries; "Best match" is offered only when there is something to match.
SORTS = (("Best match", SORT_RELEVANCE), ("Newest first", SORT_NEWEST), ("Oldest first", SORT_OLDEST))
DATE_HINT = "Type a day such as “1 Jan 2008”, “2008-01-31” or “31/1/2008”, or pick one with ▾."


class DateField(QWidget):
    """A day typed in words or numbers (see `dates.parse_day`), or picked in a calendar.

    QDateEdit edits one section at a time, so typing a whole date over it goes wrong ("01 Jan
    2008" became 22 Jan 2008); here the whole text is read when editing ends. Text that names no
    day is kept for the user to fix, marked invalid, and the last good day stays in force.
    """

    dateChanged = Signal(object)  # datetime.date

    def __init__(self, day: dt.date, parent: QWidget | None = None):
        super().__init__(parent)
        self._day = day
        self.edit = QLineEdit(format_day(day))
        self.edit.setObjectName("dateField")
        self.edit.setToolTip(DATE_HINT)
        self.edit.setFixedWidth(110)
        self.edit.editingFinished.connect(self._read)
        self.calendar = QCalendarWidget()
        self.calendar.setGridVisible(False)
        self.calendar.clicked.connect(self._picked)
        menu = QMenu(self)
        holder = QWidgetAction(menu)
        holder.setDefaultWidget(self.calendar)
        menu.addAction(holder)
        self.pick = QToolButton()
        self.pick.setText("▾")
        self.pick.setToolTip("Pick a day in a calendar")
        self.pick.setMenu(menu)
        self.pick.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu.aboutToShow.connect(
            lambda: self.calendar.setSelectedDate(QDate(self._day.year, self._day.month, self._day.day))
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.edit)
        layout.addWidget(self.pick)

    def date(self) -> dt.date:
        return self._day

    @property
    def valid(self) -> bool:
        return not self.edit.property("invalid")

    def set_date(self, day: dt.date) -> None:
        self._mark(invalid=False)
        self.edit.setText(format_day(day))
        if day != self._day:
            self._day = day
            self.dateChanged.emit(day)

    def _read(self) -> None:
        locale = QLocale()
        names = [
            (
                locale.monthName(m, QLocale.FormatType.LongFormat),
                locale.monthName(m, QLocale.FormatType.ShortFormat),
            )
            for m in range(1, 13)
        ]
        short = locale.dateFormat(QLocale.FormatType.ShortFormat).lower()
        day_first = short.find("d") <= short.find("m")
        day = parse_day(self.edit.text(), day_first=day_first, month_names=names)
        if day is None:
            self._mark(invalid=True)
        else:
            self.set_date(day)

    def _picked(self, picked: QDate) -> None:
        self.pick.menu().close()
        self.set_date(dt.date(picked.year(), picked.month(), picked.day()))

    def _mark(self, invalid: bool) -> None:
        self.edit.setProperty("invalid", invalid)
        self.edit.setToolTip(f"Not a day I can read. {DATE_HINT}" if invalid else DATE_HINT)
        self.edit.style().unpolish(self.edit)
        self.edit.style().polish(self.edit)


class SearchBar(QWidget):
    """Emits `search(SearchRequest)` after typing pauses for 250 ms, at once on Enter, and when a
    filter changes; `sort_changed(key)` when the order changes (no new search is needed);
    `clear_marks` when the user drops the "more / not like this" marks."""

    search = Signal(object)
    sort_changed = Signal(str)
    sorts_offered = Signal()  # "Best match" was offered or withdrawn (see `sort_offered`)
    clear_marks = Signal()

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
        self.marks_chip = QToolButton()
        self.marks_chip.setObjectName("imageChip")
        self.marks_chip.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.marks_chip.setToolTip("The ranking follows your marks; click to clear them")
        self.marks_chip.clicked.connect(self.clear_marks.emit)
        self.marks_chip.hide()
        self._marked = False
        self._ranked_scope = False

        self.use_dates = QCheckBox("Filter by date")
        today = dt.date.today()
        self.after = DateField(today - timedelta(days=365))
        self.before = DateField(today)
        for d in (self.after, self.before):
            d.setVisible(False)
            d.dateChanged.connect(self._filters_changed)
        self.use_dates.toggled.connect(self._dates_toggled)
        self.sort = QComboBox()
        for text, key in SORTS:
            self.sort.addItem(text, key)
        self._sort_for = {True: SORT_RELEVANCE, False: SORT_NEWEST}  # the last choice with / without a query
        self._offering_best = True
        self.sort.currentIndexChanged.connect(self._sort_picked)
        self.scope = QLabel("")
        self.scope.setObjectName("scopeLabel")

        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.field, 1)
        top.addWidget(self.image_chip)
        top.addWidget(self.marks_chip)
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
        self._offer_sorts()

    # -- state -------------------------------------------------------------------------------

    def request(self) -> SearchRequest:
        after = before = None
        if self.use_dates.isChecked():
            after = _day_start(self.after.date())
            before = _day_start(self.before.date()) + 86400  # the end day is included
        return SearchRequest(self.field.text(), self._image, after, before, self.sort.currentData())

    @property
    def has_query(self) -> bool:
        """Whether there is something to rank by: text, an example image, marked photos, or a
        scope whose photos come ranked (a smart album)."""
        return bool(self.field.text().strip() or self._image or self._marked or self._ranked_scope)

    def set_ranked_scope(self, ranked: bool) -> None:
        """The grid shows a scope whose photos have a relevance of their own (a smart album)."""
        self._ranked_scope = ranked
        self._offer_sorts()

    def set_text(self, text: str) -> None:
        self.field.setText(text)

    def set_image(self, path: str | None) -> None:
        """Search by an example image (None clears it); searches at once."""
        self._image = path
        self.image_chip.setVisible(path is not None)
        if path is not None:
            self.image_chip.setText(f"Similar to {os.path.basename(path)}  ✕")
        self._offer_sorts()
        self.emit_search()

    def set_marks(self, likes: int, unlikes: int) -> None:
        """Show how many photos are marked "more like this" / "not like this" (a chip that clears)."""
        parts = [f"{likes} more like" if likes else "", f"{unlikes} not like" if unlikes else ""]
        self._marked = bool(likes)  # photos marked "more like this" are a query of their own
        self.marks_chip.setVisible(bool(likes or unlikes))
        self.marks_chip.setText("Marked: " + ", ".join(p for p in parts if p) + "  ✕")
        self._offer_sorts()

    def set_scope(self, text: str) -> None:
        self.scope.setText(text)

    def emit_search(self) -> None:
        self.timer.stop()
        self.search.emit(self.request())

    def sort_offered(self, index: int) -> bool:
        """Whether the sort box offers its entry `index` now (no "Best match" without a query)."""
        return self.sort.itemData(index) != SORT_RELEVANCE or self._offering_best

    def _offer_sorts(self) -> None:
        """Offer "Best match" only with a query, and go back to the order last chosen for this case."""
        offer = self.has_query
        if offer == self._offering_best:
            return
        self._offering_best = offer
        best = self.sort.findData(SORT_RELEVANCE)
        model, view = self.sort.model(), self.sort.view()
        if isinstance(model, QStandardItemModel):
            model.item(best).setEnabled(offer)
        if isinstance(view, QListView):
            view.setRowHidden(best, not offer)
        self.sort.setCurrentIndex(self.sort.findData(self._sort_for[offer]))
        self.sorts_offered.emit()

    def _sort_picked(self, _index: int) -> None:
        key = self.sort.currentData()
        self._sort_for[self._offering_best] = key
        self.sort_changed.emit(key)

    def _enter(self) -> None:
        self.remember(self.field.text())
        self.emit_search()

    def _text_changed(self, text: str) -> None:
        self._offer_sorts()
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


def _day_start(day: dt.date) -> float:
    return datetime.combine(day, time()).timestamp()
