"""The sidebar: the library's folders, and the sections later work fills (Categories, Tags).

A `QTreeWidget` with one top-level item per section. Folder items carry their path in UserRole;
sections other than Folders are empty placeholders that `section(name)` hands out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QMenu,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from engine.library import FolderStatus

PathRole = Qt.ItemDataRole.UserRole + 1
ALL_PHOTOS = ""  # the path value of the "All photos" item

FOLDERS = "Folders"
CATEGORIES = "Categories"
TAGS = "Tags"


class Sidebar(QWidget):
    """Emits `folder_selected(path or "")`, and the add/remove/rescan requests of its buttons."""

    folder_selected = Signal(str)
    add_requested = Signal()
    remove_requested = Signal(str)
    rescan_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setIndentation(12)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._menu)
        self.tree.currentItemChanged.connect(self._current_changed)
        self._sections: dict[str, QTreeWidgetItem] = {}
        for name in (FOLDERS, CATEGORIES, TAGS):
            item = QTreeWidgetItem([name.upper()])
            font = QFont(item.font(0))
            font.setBold(True)
            font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
            item.setFont(0, font)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
            self._sections[name] = item
        self._all = QTreeWidgetItem(["All photos"])
        self._all.setData(0, PathRole, ALL_PHOTOS)
        self._sections[FOLDERS].addChild(self._all)
        self._placeholder(CATEGORIES, "Coming soon")
        self._placeholder(TAGS, "Coming soon")

        self.add_button = self._button("+  Add folder", "Add a photo folder…", self.add_requested.emit)
        self.remove_button = self._button("−", "Remove the selected folder from the library", self._remove)
        self.rescan_button = self._button(
            "⟳", "Rescan all folders for new or changed photos", self.rescan_requested.emit
        )
        buttons = QHBoxLayout()
        buttons.setContentsMargins(8, 4, 8, 8)
        buttons.setSpacing(4)
        for b in (self.add_button, self.remove_button, self.rescan_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        self.tree.setCurrentItem(self._all)
        self._indexing = False
        self._folders: list[FolderStatus] = []

    def _button(self, text: str, tip: str, slot) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.setAutoRaise(True)
        b.clicked.connect(slot)
        return b

    def _placeholder(self, section: str, text: str) -> None:
        item = QTreeWidgetItem([text])
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        self._sections[section].addChild(item)

    def section(self, name: str) -> QTreeWidgetItem:
        """The header item of a section, for later features to fill (Categories, Tags)."""
        return self._sections[name]

    # -- folders -----------------------------------------------------------------------------

    def set_folders(self, folders: Sequence[FolderStatus], indexing: bool | None = None) -> None:
        if indexing is not None:
            self._indexing = indexing
        self._folders = list(folders)
        current = self.current_folder()
        section = self._sections[FOLDERS]
        self.tree.blockSignals(True)
        while section.childCount() > 1:
            section.removeChild(section.child(1))
        total = 0
        for f in folders:
            total += f.photos
            name = os.path.basename(f.path.rstrip(os.sep)) or f.path
            state = "unavailable" if not f.available else ("indexing…" if self._indexing else "")
            label = f"{name}  ·  {f.photos:,}" + (f"  ·  {state}" if state else "")
            item = QTreeWidgetItem([label])
            item.setToolTip(
                0, f.path + ("\n(not available: drive unplugged or folder moved?)" if not f.available else "")
            )
            item.setData(0, PathRole, f.path)
            if not f.available:
                item.setForeground(0, self.palette().placeholderText())
            section.addChild(item)
            if f.path == current:
                self.tree.setCurrentItem(item)
        self._all.setText(0, f"All photos  ·  {total:,}")
        if current == ALL_PHOTOS or self.tree.currentItem() is None:
            self.tree.setCurrentItem(self._all)
        self.tree.blockSignals(False)
        self.remove_button.setEnabled(bool(self.current_folder()))

    def set_indexing(self, indexing: bool) -> None:
        if indexing != self._indexing:
            self.set_folders(self._folders, indexing)

    def folder_paths(self) -> list[str]:
        section = self._sections[FOLDERS]
        return [section.child(i).data(0, PathRole) for i in range(1, section.childCount())]

    def current_folder(self) -> str:
        item = self.tree.currentItem()
        value = item.data(0, PathRole) if item is not None else None
        return value or ALL_PHOTOS

    def select_folder(self, path: str) -> None:
        section = self._sections[FOLDERS]
        for i in range(section.childCount()):
            if (section.child(i).data(0, PathRole) or ALL_PHOTOS) == path:
                self.tree.setCurrentItem(section.child(i))
                return

    def _current_changed(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if current is None or current.data(0, PathRole) is None:
            return
        self.remove_button.setEnabled(bool(current.data(0, PathRole)))
        self.folder_selected.emit(current.data(0, PathRole))

    def _remove(self) -> None:
        folder = self.current_folder()
        if folder:
            self.remove_requested.emit(folder)

    def _menu(self, pos) -> None:
        item = self.tree.itemAt(pos)
        menu = QMenu(self)
        menu.addAction("Add folder…", self.add_requested.emit)
        if item is not None and item.data(0, PathRole):
            path = item.data(0, PathRole)
            menu.addAction("Remove from library", lambda: self.remove_requested.emit(path))
        menu.addAction("Rescan folders", self.rescan_requested.emit)
        menu.exec(self.tree.viewport().mapToGlobal(pos))
