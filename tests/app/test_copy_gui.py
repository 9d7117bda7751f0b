"""Ctrl+C copies the selected photos (or the one in the viewer) as files and paths; in the search
box it still copies text."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QGuiApplication

from tests.app.journeys import index_folders


def _clipboard() -> tuple[list[str], str]:
    mime = QGuiApplication.clipboard().mimeData()
    return [url.toLocalFile() for url in mime.urls()], mime.text()


def test_copy_puts_the_selected_photos_on_the_clipboard(qtbot, window, photo_dir: Path):
    index_folders(qtbot, window, photo_dir)
    qtbot.waitUntil(lambda: window.views.results.rowCount() == 5 and not window.search.busy, timeout=30_000)
    views, copy = window.views, window.viewer_control.copy_action
    QGuiApplication.clipboard().setText("before")
    copy.trigger()  # nothing selected: nothing copied, and the status bar says why
    assert _clipboard() == ([], "before") and "Select photos" in views.status_bar.currentMessage()

    chosen = views.results.paths()[1:3]
    for path in chosen:
        index = views.results.index(views.results.row_of(path))
        views.grid.selectionModel().select(index, QItemSelectionModel.SelectionFlag.Select)
    views.grid.setFocus()
    qtbot.keyClick(views.grid, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert _clipboard() == (chosen, "\n".join(chosen))
    assert views.status_bar.currentMessage() == "Copied 2 photos."

    window.viewer_control.open(4)  # the viewer's photo, whatever the grid had selected
    copy.trigger()
    assert _clipboard()[0] == [views.results.paths()[4]]
    window.viewer_control.close()

    field = views.search_bar.field
    field.setText("beach")
    field.selectAll()
    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "beach"
