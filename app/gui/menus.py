"""The main window's menu bar, its actions wired to the controllers."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from . import help_menu

if TYPE_CHECKING:
    from .main_window import MainWindow


def add_action(menu: QMenu, text: str, slot: Callable[[], Any], shortcut: Any = None) -> QAction:
    action = QAction(text, menu)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(lambda _checked=False: slot())
    menu.addAction(action)
    return action


def build_menus(window: MainWindow) -> None:
    views, bar = window.views, window.menuBar()
    library, search, viewer = window.library_control, window.search, window.viewer_control

    file_menu = bar.addMenu("&File")
    add_action(file_menu, "&Add Folder…", library.choose_folder, QKeySequence.StandardKey.Open)
    add_action(file_menu, "&Rescan Folders", window.indexing.start, "F5")
    add_action(file_menu, "Photos That Could Not Be &Read…", window.indexing.show_failures)
    file_menu.addSeparator()
    add_action(
        file_menu, "&Settings…", window.settings_control.open_settings, QKeySequence.StandardKey.Preferences
    )
    file_menu.addSeparator()
    add_action(file_menu, "&Quit", window.close, QKeySequence.StandardKey.Quit)

    edit_menu = bar.addMenu("&Edit")

    def find() -> None:
        viewer.close()
        search.focus()

    edit_menu.addAction(viewer.copy_action)
    add_action(edit_menu, "&Find", find, QKeySequence.StandardKey.Find)
    add_action(edit_menu, "Search by &Pasted Image", search.paste_image)
    add_action(edit_menu, "Select &All", views.grid.selectAll, QKeySequence.StandardKey.SelectAll)
    edit_menu.addSeparator()
    edit_menu.addAction(window.lists.tag_action)

    view_menu = bar.addMenu("&View")
    sort = views.search_bar.sort
    group = QActionGroup(view_menu)
    for index in range(sort.count()):  # the same words as the sort box, checked as it is
        action = add_action(view_menu, sort.itemText(index), partial(sort.setCurrentIndex, index))
        action.setCheckable(True)
        action.setChecked(index == sort.currentIndex())
        group.addAction(action)
    sort.currentIndexChanged.connect(lambda i: group.actions()[i].setChecked(True))

    def offer_sorts() -> None:  # no "Best match" without a query, as in the sort box
        for index, action in enumerate(group.actions()):
            action.setVisible(views.search_bar.sort_offered(index))

    views.search_bar.sorts_offered.connect(offer_sorts)
    offer_sorts()

    tools_menu = bar.addMenu("&Tools")
    add_action(tools_menu, "&New Category…", window.lists.new_category)
    add_action(tools_menu, "Find &Duplicates…", window.duplicates.open)
    tools_menu.addSeparator()
    add_action(tools_menu, "T&rain on My Tags…", window.model_control.open_training)
    add_action(tools_menu, "&Models…", window.model_control.open_training)

    about = bar.addMenu("&Help")
    add_action(
        about,
        "&Search Tips",
        lambda: help_menu.show_text(window, "Search Tips", help_menu.search_tips_html()),
        QKeySequence.StandardKey.HelpContents,
    )
    add_action(
        about,
        "&Keyboard Shortcuts",
        lambda: help_menu.show_text(window, "Keyboard Shortcuts", help_menu.shortcuts_html(bar)),
    )
    about.addSeparator()
    add_action(
        about,
        "&About Viewfinder",
        lambda: help_menu.show_about(
            window, window.state.model.name, window.settings_control.current_library_dir()
        ),
    )
