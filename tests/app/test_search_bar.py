"""The search bar's date filter (typed days in many forms, whatever the locale) and its sort box
(no "Best match" without a query)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from PySide6.QtCore import QLocale, QSettings, Qt

from app.gui.dates import format_day, parse_day
from app.gui.search_bar import SearchBar

JAN_1_2008 = date(2008, 1, 1)


@pytest.mark.parametrize(
    "text",
    ["01 Jan 2008", "1 jan 2008", "1 January 2008", "Jan 1, 2008", "January 1st 2008", "2008-01-01",
     "2008/1/1", "01/01/2008", "1.1.2008", "01-Jan-2008", "  1 JAN. 2008 ", "20080101", "Jan 2008", "2008",
     "1 janv. 2008", "1. Januar 2008"],
)  # fmt: skip
def test_typed_days_are_read(text: str):
    # Month names beyond English come from the caller (QLocale's): here German and French forms.
    assert parse_day(text, month_names=[("Januar", "janv.")]) == JAN_1_2008


def test_day_order_and_nonsense():
    assert parse_day("3/4/2008") == date(2008, 4, 3)  # day first by default
    assert parse_day("3/4/2008", day_first=False) == date(2008, 3, 4)
    assert parse_day("13/4/2008", day_first=False) == date(2008, 4, 13)  # only one reading is a day
    assert parse_day("4/13/2008") == date(2008, 4, 13)
    assert parse_day("22 Jan 08") == date(2008, 1, 22)
    assert parse_day("31 Feb 2008") is None
    for text in ("", "tomorrow", "1 Jan", "Ju 2008", "1 2 3 4", "32/1/2008"):
        assert parse_day(text) is None, text
    assert format_day(date(2008, 1, 1)) == "1 Jan 2008" and parse_day(format_day(date(2019, 6, 30))) == date(
        2019, 6, 30
    )


def test_a_typed_day_filters_from_that_day_whatever_the_locale(qtbot, qsettings: QSettings):
    saved = QLocale()
    QLocale.setDefault(QLocale(QLocale.Language.German, QLocale.Country.Germany))
    try:
        bar = SearchBar(qsettings)
        qtbot.addWidget(bar)
        bar.use_dates.setChecked(True)
        seen = []
        bar.after.dateChanged.connect(seen.append)
        field = bar.after.edit
        field.selectAll()
        qtbot.keyClicks(field, "01 Jan 2008")
        qtbot.keyClick(field, Qt.Key.Key_Return)
        assert seen == [JAN_1_2008] and field.text() == "1 Jan 2008"
        assert bar.request().after == datetime(2008, 1, 1).timestamp()
        field.setText("3. März 2009")  # the locale's own month names work too
        field.editingFinished.emit()
        assert bar.after.date() == date(2009, 3, 3)
        field.setText("the day after")  # kept for the user to fix; the last good day stays
        field.editingFinished.emit()
        assert (
            not bar.after.valid and field.text() == "the day after" and bar.after.date() == date(2009, 3, 3)
        )
    finally:
        QLocale.setDefault(saved)


def test_best_match_is_offered_only_with_a_query(qtbot, qsettings: QSettings):
    bar = SearchBar(qsettings)
    qtbot.addWidget(bar)
    orders: list[str] = []
    bar.sort_changed.connect(orders.append)
    offered = lambda: [bar.sort.itemText(i) for i in range(bar.sort.count()) if bar.sort_offered(i)]  # noqa: E731
    assert offered() == ["Newest first", "Oldest first"] and bar.sort.currentText() == "Newest first"
    bar.field.setText("beach")
    assert (
        offered() == ["Best match", "Newest first", "Oldest first"] and bar.sort.currentText() == "Best match"
    )
    bar.sort.setCurrentIndex(bar.sort.findText("Oldest first"))  # chosen with a query: kept for queries
    bar.field.setText("")
    assert bar.sort.currentText() == "Newest first" and "Best match" not in offered()
    bar.field.setText("dog")
    assert bar.sort.currentText() == "Oldest first"
    bar.field.setText("")
    bar.set_marks(likes=1, unlikes=0)  # photos marked "more like this" are a query too
    assert "Best match" in offered() and bar.marks_chip.isVisibleTo(bar)
    assert orders[-1] == "oldest" and bar.request().sort == "oldest"
