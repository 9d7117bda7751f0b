"""The sidebar: the library's folders, its categories (smart albums) and its tags.

A `QTreeWidget` with one top-level item per section. Folder items carry their path in PathRole;
category and tag items their name in CategoryRole / TagRole. Selecting any of them sets the scope
the grid shows (`current_scope()`); the window listens to the `*_selected` signals.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
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

from .state import SCOPE_CATEGORY, SCOPE_FOLDER, SCOPE_TAG, Scope

if TYPE_CHECKING:
    from engine.library import FolderStatus

__all__ = ["SCOPE_CATEGORY", "SCOPE_FOLDER", "SCOPE_TAG", "Scope", "Sidebar"]

PathRole = Qt.ItemDataRole.UserRole + 1
CategoryRole = Qt.ItemDataRole.UserRole + 2
TagRole = Qt.ItemDataRole.UserRole + 3
ActionRole = Qt.ItemDataRole.UserRole + 4  # an item that is a command ("New category…")
ALL_PHOTOS = ""  # the path value of the "All photos" item
NEW_CATEGORY = "new-category"

FOLDERS = "Folders"
CATEGORIES = "Categories"
TAGS = "Tags"


class Sidebar(QWidget):
    """Emits `folder_selected(path or "")`, and the add/remove/rescan requests of its buttons."""

    folder_selected = Signal(str)
    category_selected = Signal(str)
    tag_selected = Signal(str)
    new_category_requested = Signal()
    edit_category_requested = Signal(str)
    remove_category_requested = Signal(str)
    rename_tag_requested = Signal(str)
    remove_tag_requested = Signal(str)
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
        self._new_category = QTreeWidgetItem(["＋  New category…"])
        self._new_category.setData(0, ActionRole, NEW_CATEGORY)
        self._new_category.setToolTip(0, "Describe photos in words; they collect themselves")
        self._new_category.setForeground(0, self.palette().placeholderText())
        self._sections[CATEGORIES].addChild(self._new_category)
        self._placeholder(TAGS, "No tags yet")

        self.add_button = self._button("+  Add folder", "Add a photo folder…", self.add_requested.emit)
        self.remove_button = self._button("−", "Remove the selected folder from the library", self._remove)
        self.rescan_button = self._button(
            "⟳", "Rescan all folders for new or changed photos", self.rescan_requested.emit
        )
        self.folder_buttons = QWidget()  # disabled as a whole when the library is read-only
        buttons = QHBoxLayout(self.folder_buttons)
        buttons.setContentsMargins(8, 4, 8, 8)
        buttons.setSpacing(4)
        for b in (self.add_button, self.remove_button, self.rescan_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.folder_buttons)
        self.tree.setCurrentItem(self._all)
        self._indexing = False
        self._read_only = ""
        self._unreadable: dict[str, int] = {}
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

    def set_read_only(self, reason: str) -> None:
        """Folders cannot be added, removed or rescanned (`reason` says why); "" allows it again."""
        self.folder_buttons.setEnabled(not reason)
        self.folder_buttons.setToolTip(reason)
        self._read_only = reason

    def section(self, name: str) -> QTreeWidgetItem:
        """The header item of a section (Folders, Categories, Tags)."""
        return self._sections[name]

    # -- scope -------------------------------------------------------------------------------

    def current_scope(self) -> Scope:
        item = self.tree.currentItem()
        if item is not None:
            if item.data(0, CategoryRole) is not None:
                return Scope(SCOPE_CATEGORY, item.data(0, CategoryRole))
            if item.data(0, TagRole) is not None:
                return Scope(SCOPE_TAG, item.data(0, TagRole))
        return Scope(SCOPE_FOLDER, self.current_folder())

    # -- categories --------------------------------------------------------------------------

    def set_categories(self, categories: Sequence[tuple[str, int | None]]) -> None:
        """List (name, member count or None when unknown), keeping the selection if it is still there."""
        self._fill(CATEGORIES, CategoryRole, categories, keep_last=1)

    def category_names(self) -> list[str]:
        return self._values(CATEGORIES, CategoryRole)

    def category_item(self, name: str) -> QTreeWidgetItem | None:
        return self._find(CATEGORIES, CategoryRole, name)

    def select_category(self, name: str) -> None:
        item = self.category_item(name)
        if item is not None:
            self.tree.setCurrentItem(item)

    # -- tags --------------------------------------------------------------------------------

    def set_tags(self, counts: Mapping[str, int]) -> None:
        """List tag texts with how many photos carry each."""
        self._fill(TAGS, TagRole, list(counts.items()), keep_last=0)
        section = self._sections[TAGS]
        if not section.childCount():
            self._placeholder(TAGS, "No tags yet")

    def tag_names(self) -> list[str]:
        return self._values(TAGS, TagRole)

    def tag_item(self, text: str) -> QTreeWidgetItem | None:
        return self._find(TAGS, TagRole, text)

    def select_tag(self, text: str) -> None:
        item = self.tag_item(text)
        if item is not None:
            self.tree.setCurrentItem(item)

    # -- shared ------------------------------------------------------------------------------

    def _fill(self, name: str, role: int, rows: Sequence[tuple[str, int | None]], keep_last: int) -> None:
        section = self._sections[name]
        current = self.tree.currentItem()
        selected = current.data(0, role) if current is not None else None
        self.tree.blockSignals(True)
        keep = _children(section)[len(_children(section)) - keep_last :]
        section.takeChildren()
        restored = None
        for value, count in rows:
            label = value if count is None else f"{value}  ·  {count:,}"
            item = QTreeWidgetItem([label])
            item.setData(0, role, value)
            item.setToolTip(0, value)
            section.addChild(item)
            if value == selected:
                restored = item
        for item in reversed(keep):
            section.addChild(item)
        lost = selected is not None and restored is None
        if restored is not None:
            self.tree.setCurrentItem(restored)
        elif lost:
            self.tree.setCurrentItem(self._all)
        self.tree.blockSignals(False)
        if lost:  # the shown category or tag is gone: show all photos
            self.folder_selected.emit(ALL_PHOTOS)

    def _values(self, name: str, role: int) -> list[str]:
        section = self._sections[name]
        return [c.data(0, role) for c in _children(section) if c.data(0, role) is not None]

    def _find(self, name: str, role: int, value: str) -> QTreeWidgetItem | None:
        return next((c for c in _children(self._sections[name]) if c.data(0, role) == value), None)

    # -- folders -----------------------------------------------------------------------------

    def set_folders(
        self,
        folders: Sequence[FolderStatus],
        indexing: bool | None = None,
        unreadable: Mapping[str, int] | None = None,
    ) -> None:
        """List the folders with the photos the grid shows of each: `unreadable` (folder -> files
        that could not be read) are left out of the counts and said in the tooltips."""
        if indexing is not None:
            self._indexing = indexing
        if unreadable is not None:
            self._unreadable = dict(unreadable)
        self._folders = list(folders)
        elsewhere = self.current_scope().kind != SCOPE_FOLDER  # a category or tag stays selected
        current = self.current_folder()
        section = self._sections[FOLDERS]
        self.tree.blockSignals(True)
        for child in _children(section)[1:]:
            section.removeChild(child)
        total = unreadable_total = 0
        for f in folders:
            bad = self._unreadable.get(f.path, 0)
            photos = max(0, f.photos - bad)  # as many as the grid shows: unreadable files are not
            if f.available:  # the grid hides photos it cannot show
                total += photos
                unreadable_total += bad
            name = os.path.basename(f.path.rstrip(os.sep)) or f.path
            state = "unavailable" if not f.available else ("indexing…" if self._indexing else "")
            label = f"{name}  ·  {photos:,}" + (f"  ·  {state}" if state else "")
            item = QTreeWidgetItem([label])
            tip = f.path + ("\n(not available: drive unplugged or folder moved?)" if not f.available else "")
            item.setToolTip(0, tip + (f"\n{_unreadable_text(bad)}" if bad else ""))
            item.setData(0, PathRole, f.path)
            if not f.available:
                item.setForeground(0, self.palette().placeholderText())
            section.addChild(item)
            if f.path == current and not elsewhere:
                self.tree.setCurrentItem(item)
        self._all.setText(0, f"All photos  ·  {total:,}")
        self._all.setToolTip(0, _unreadable_text(unreadable_total) if unreadable_total else "")
        if not elsewhere and (current == ALL_PHOTOS or self.tree.currentItem() is None):
            self.tree.setCurrentItem(self._all)
        self.tree.blockSignals(False)
        self.remove_button.setEnabled(bool(self.current_folder()))

    def set_indexing(self, indexing: bool) -> None:
        if indexing != self._indexing:
            self.set_folders(self._folders, indexing)

    def folder_item(self, path: str) -> QTreeWidgetItem | None:
        return self._find(FOLDERS, PathRole, path)

    def folder_paths(self) -> list[str]:
        return [c.data(0, PathRole) for c in _children(self._sections[FOLDERS])[1:]]

    def current_folder(self) -> str:
        item = self.tree.currentItem()
        value = item.data(0, PathRole) if item is not None else None
        return value or ALL_PHOTOS

    def select_folder(self, path: str) -> None:
        for child in _children(self._sections[FOLDERS]):
            if (child.data(0, PathRole) or ALL_PHOTOS) == path:
                self.tree.setCurrentItem(child)
                return

    def _current_changed(self, current: QTreeWidgetItem | None, previous: QTreeWidgetItem | None) -> None:
        if current is None:
            return
        if current.data(0, ActionRole) == NEW_CATEGORY:
            # A command, not a place: go back to where we were, then ask for the dialog.
            self.tree.blockSignals(True)
            self.tree.setCurrentItem(previous if previous is not None else self._all)
            self.tree.blockSignals(False)
            self.new_category_requested.emit()
            return
        if current.data(0, CategoryRole) is not None:
            self.remove_button.setEnabled(False)
            self.category_selected.emit(current.data(0, CategoryRole))
            return
        if current.data(0, TagRole) is not None:
            self.remove_button.setEnabled(False)
            self.tag_selected.emit(current.data(0, TagRole))
            return
        if current.data(0, PathRole) is None:
            return
        self.remove_button.setEnabled(bool(current.data(0, PathRole)))
        self.folder_selected.emit(current.data(0, PathRole))

    def _remove(self) -> None:
        folder = self.current_folder()
        if folder:
            self.remove_requested.emit(folder)

    def _menu(self, pos) -> None:
        self.context_menu(self.tree.itemAt(pos)).exec(self.tree.viewport().mapToGlobal(pos))

    def context_menu(self, item: QTreeWidgetItem | None) -> QMenu:
        """The right-click menu of `item` (None: the space below the items)."""
        menu = QMenu(self)
        category = item.data(0, CategoryRole) if item is not None else None
        if category is not None:
            menu.addAction("Edit category…", lambda: self.edit_category_requested.emit(category))
            menu.addAction("Remove category", lambda: self.remove_category_requested.emit(category))
            return menu
        tag = item.data(0, TagRole) if item is not None else None
        if tag is not None:
            actions = [
                menu.addAction("Rename tag…", lambda: self.rename_tag_requested.emit(tag)),
                menu.addAction("Remove tag from all photos…", lambda: self.remove_tag_requested.emit(tag)),
            ]
        elif item is not None and (item is self._sections[CATEGORIES] or item.data(0, ActionRole)):
            menu.addAction("New category…", self.new_category_requested.emit)
            return menu
        else:
            actions = [menu.addAction("Add folder…", self.add_requested.emit)]
            if item is not None and item.data(0, PathRole):
                path = item.data(0, PathRole)
                actions.append(menu.addAction("Remove from library", lambda: self.remove_requested.emit(path)))
            actions.append(menu.addAction("Rescan folders", self.rescan_requested.emit))
        for action in actions:
            action.setEnabled(not self._read_only)
        return menu


def _unreadable_text(count: int) -> str:
    return f"Not counted: {count:,} file(s) that could not be read (listed from the status bar)."


def _children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    children = (item.child(i) for i in range(item.childCount()))
    return [c for c in children if c is not None]
