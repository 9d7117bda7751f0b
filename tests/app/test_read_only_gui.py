"""A library that cannot be written to: the window says so in one sentence, still browses and
searches, keeps what the user typed when tagging or saving an album fails, and does not index or
watch. Root can write anywhere, so the library's refusal is injected where it asks (as the engine's
integrity tests do); the real read-only folder is tested from the CLI there."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QDialogButtonBox

import engine.library as library_module
from engine.categories import Categories
from engine.config import ModelSpec
from engine.library import Library
from engine.tags import tags_of

TIMEOUT = 60_000


@pytest.fixture
def read_only_window(qtbot, tmp_path: Path, tiny_config: Path, photo_dir: Path, qsettings, monkeypatch):
    from app.gui.main_window import MainWindow
    from engine.thumbnails import ThumbnailCache

    with Library(tmp_path / "lib", model=ModelSpec(str(tiny_config), None)) as writable:
        writable.add_folders([str(photo_dir)])
        writable.index()
        Categories.for_library(writable).add("Dogs", ["a dog"])
    monkeypatch.setattr(library_module, "_writable", lambda folder: False)
    library = Library(tmp_path / "lib")
    assert library.read_only
    win = MainWindow(library, settings=qsettings, thumbnail_cache=ThumbnailCache(tmp_path / "thumbs"))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    library.close()


def _no_tracebacks(caplog) -> None:
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.WARNING]


def test_read_only_library_says_so_once_and_still_browses_and_searches(qtbot, read_only_window, caplog):
    window = read_only_window
    views = window.views
    notice = window.library_control.notice
    assert notice.isVisible()
    assert notice.text.text().startswith("This library (")
    assert "is read-only because its folder cannot be written to: you can browse and search" in notice.text.text()
    assert "\n" not in notice.text.text() and "sqlite" not in notice.text.text().lower()
    # Folders cannot be changed, and say why; nothing is indexed or watched.
    assert not views.sidebar.add_button.isEnabled() and not views.sidebar.rescan_button.isEnabled()
    assert views.sidebar.folder_buttons.toolTip() == notice.text.text()
    qtbot.waitUntil(lambda: window.state.status is not None and window.state.status.photos == 5, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "read-only library: not indexing" in views.index_panel.label.text(), timeout=TIMEOUT)
    window.indexing.start()
    assert not window.indexing.running and not window.state.indexing
    assert window.library_control.watcher is None

    # Browsing and search work.
    qtbot.waitUntil(lambda: views.results.rowCount() == 5 and not window.search.busy, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.state.model_ready, timeout=TIMEOUT)
    with qtbot.waitSignal(window.search.results_updated, timeout=TIMEOUT):
        window.search.search_text("a dog")
    qtbot.waitUntil(lambda: not window.search.busy)
    assert views.results.matches + views.results.weaker == 5  # the weaker results behind their button

    # Learning and switching models would fail only when they save: not offered, and said why.
    training = window.model_control.open_training()
    assert not training.start_button.isEnabled() and training.error.text() == notice.text.text()
    training.close()
    window.model_control.switch_model(("ViT-B-32", None))
    assert views.status_bar.currentMessage() == notice.text.text() and window.state.model_ready
    _no_tracebacks(caplog)


def test_tagging_a_read_only_library_keeps_the_typed_tag(qtbot, read_only_window, caplog):
    window = read_only_window
    views = window.views
    qtbot.waitUntil(lambda: views.results.rowCount() == 5 and not window.search.busy, timeout=TIMEOUT)
    library = window.state.library

    # Ctrl+T: the dialog stays open with the text and the reason.
    views.grid.selectionModel().select(views.results.index(0), QItemSelectionModel.SelectionFlag.Select)
    window.lists.tag_action.trigger()
    dialog = window.lists.tag_dialog
    qtbot.keyClicks(dialog.field, "holiday")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: dialog.error.isVisible(), timeout=TIMEOUT)
    assert dialog.isVisible() and dialog.field.text() == "holiday"
    assert "read-only" in dialog.error.text() and "sqlite" not in dialog.error.text().lower()
    dialog.reject()

    # The viewer's "Add tag…" field keeps the text too.
    window.viewer_control.open(0)
    panel = views.viewer.tag_panel
    path = views.viewer.hit.path
    qtbot.keyClicks(panel.field, "red car")
    qtbot.keyClick(panel.field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.error.isVisible(), timeout=TIMEOUT)
    assert panel.field.text() == "red car" and "read-only" in panel.error.text()
    assert tags_of(library.store, path) == []
    _no_tracebacks(caplog)


def test_saving_an_album_in_a_read_only_library_keeps_the_dialog(qtbot, read_only_window, caplog):
    window = read_only_window
    qtbot.waitUntil(lambda: window.state.model_ready, timeout=TIMEOUT)
    dialog = window.lists.new_category()
    dialog.name.setText("Beach")
    dialog.prompts.setPlainText("the sea")
    qtbot.waitUntil(lambda: dialog.membership is not None, timeout=TIMEOUT)  # the preview works
    dialog.save()
    qtbot.waitUntil(lambda: dialog.error.isVisible(), timeout=TIMEOUT)
    assert dialog.isVisible() and dialog.name.text() == "Beach" and dialog.prompts.toPlainText() == "the sea"
    assert "read-only" in dialog.error.text() and "\n" not in dialog.error.text()
    assert [c.name for c in Categories.for_library(window.state.library).list()] == ["Dogs"]
    _no_tracebacks(caplog)
