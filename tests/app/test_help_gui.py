"""The Help menu: Search Tips that tell the truth, the keys as the menus bind them, and About."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox, QTextBrowser

from app.gui.help_menu import SEARCH_TIPS, shortcut_rows
from engine.query_words import parse_words
from engine.search import Query, parse_query_text
from tests.app.journeys import index_folders


def _help_action(window, text: str):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    return next(a for a in menu.actions() if a.text().replace("&", "") == text)


def _open_text(window, qtbot, title: str) -> str:
    _help_action(window, title).trigger()
    dialog = next(
        w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.windowTitle() == title
    )
    qtbot.waitUntil(dialog.isVisible)
    text = dialog.findChild(QTextBrowser).toPlainText()
    dialog.close()
    return text


def test_search_tips_show_what_the_search_box_reads(qtbot, window):
    text = _open_text(window, qtbot, "Search Tips")
    for typed, _found in SEARCH_TIPS:
        assert typed in text
    assert "Find similar" in text and "New Category" in text


def test_the_tips_examples_are_read_as_they_say(qtbot, window, photo_dir: Path):
    tips = dict(SEARCH_TIPS)
    assert "beach -people" in tips and parse_query_text("beach -people") == ("beach", ("people",))
    assert parse_query_text('party -"birthday cake"') == ("party", ("birthday cake",))
    assert parse_words("snow 2019").years == (2019,) and parse_words("june").months == (6,)
    # The camera tip on real camera files: the Canon and the two Nikons (a D70 and a Coolpix) among
    # the test photos are matches by their camera (the test's model at random init knows no words).
    index_folders(qtbot, window, photo_dir)
    library = window.state.library
    for query, files in (
        ("canon eos 40d", {"Canon_40D.jpg"}),
        ("taken with my nikon", {"Nikon_D70.jpg", "DSCN0010.jpg"}),
    ):
        hits = library.search(Query(text=query, k=5))
        assert {Path(h.path).name for h in hits if "camera" in h.matched and h.relevance >= 0.5} == files


def test_keyboard_shortcuts_are_read_off_the_menus(qtbot, window):
    rows = shortcut_rows(window.menuBar())
    keys = {action: shortcut for _menu, action, shortcut in rows}
    native = QKeySequence.SequenceFormat.NativeText
    assert keys["Find"] == QKeySequence(QKeySequence.StandardKey.Find).toString(native)
    assert keys["Rescan Folders"] == "F5" and "Copy Photos" in keys
    text = _open_text(window, qtbot, "Keyboard Shortcuts")
    assert "Rescan Folders (File menu)" in text and "Double-click" in text and "Previous / next photo" in text


def test_about_names_the_model_and_the_library(qtbot, window, library):
    _help_action(window, "About Viewfinder").trigger()
    box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
    assert "Viewfinder" in box.text() and str(library.path) in box.text()
    qtbot.waitUntil(lambda: bool(window.state.model.name), timeout=30_000)
    box.close()
    _help_action(window, "About Viewfinder").trigger()
    box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
    assert window.state.model.name in box.text()
    box.close()
