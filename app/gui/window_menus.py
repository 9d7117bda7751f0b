"""The main window's menu bar and the results grid's context menu.

A mixin of `MainWindow` (main_window.py), which owns the state these methods use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:
    pass


class MenuMixin:
    """Methods of `MainWindow`; see the module docstring."""

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Add Folder…", self.choose_folder, QKeySequence.StandardKey.Open)
        self._action(file_menu, "&Rescan Folders", self.start_indexing, "F5")
        self._action(file_menu, "Photos That Could Not Be &Read…", self.show_failures)
        file_menu.addSeparator()
        self._action(file_menu, "&Settings…", self.open_settings, QKeySequence.StandardKey.Preferences)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit_menu = self.menuBar().addMenu("&Edit")
        self._action(edit_menu, "&Find", self.focus_search, QKeySequence.StandardKey.Find)
        self._action(edit_menu, "Search by &Pasted Image", self.paste_image)
        self._action(edit_menu, "Select &All", self.grid.selectAll, QKeySequence.StandardKey.SelectAll)
        edit_menu.addSeparator()
        self.tag_action = self._action(edit_menu, "&Tag Selected Photos…", self.tag_selected_photos, "Ctrl+T")
        view_menu = self.menuBar().addMenu("&View")
        self._action(view_menu, "Sort by &Relevance", lambda: self.search_bar.sort.setCurrentIndex(0))
        self._action(view_menu, "Sort by &Date", lambda: self.search_bar.sort.setCurrentIndex(1))
        tools_menu = self.menuBar().addMenu("&Tools")
        self._action(tools_menu, "&New Category…", self.new_category)
        tools_menu.addSeparator()
        self._action(tools_menu, "T&rain on My Tags…", self.open_training)
        self._action(tools_menu, "&Models…", self.open_training)

    def _action(self, menu: QMenu, text: str, slot, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _grid_menu(self, pos) -> None:
        index = self.grid.indexAt(pos)
        if not index.isValid():
            return
        hit = self.results.hit(index.row())
        assert hit is not None
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open_viewer(index.row()))
        menu.addAction("Find similar", lambda: self.find_similar(hit.path))
        menu.addAction("Tag…", self.tag_selected_photos)
        menu.addSeparator()
        self.viewer.hit = hit
        menu.addAction("Open with default app", self.viewer.open_external)
        menu.addAction("Show in folder", self.viewer.show_in_folder)
        menu.exec(self.grid.viewport().mapToGlobal(pos))
