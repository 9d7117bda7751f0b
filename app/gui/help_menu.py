"""The Help menu's windows: what a search understands, the keys, and what is running.

A search box that reads dates, file and folder names, cameras, tags, the text in photos and "-word"
says none of it by itself; Search Tips says it, with examples. The keyboard shortcuts are read off
the menus themselves (and the viewer's own keys), so the list cannot drift from what the keys do.
"""

from __future__ import annotations

import html
from importlib import metadata

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMenu,
    QMenuBar,
    QMessageBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from .viewer import VIEWER_KEYS

# (what to type, what it finds)
SEARCH_TIPS = (
    ("dog on a beach at sunset", "Photos that show it: describe what you see, in your own words."),
    ("beach -people", "A word after a minus is left out: beaches without people."),
    ('party -"birthday cake"', "Quotes leave out a phrase."),
    ("snow 2019, june, june 2019", "Years and months find photos taken then (also: Filter by date)."),
    ("holiday, IMG_2041", "Words of file and folder names find those photos."),
    ("nikon, canon eos 40d, taken with my iphone", "The camera that took the photo."),
    ("rex, rex on the sofa", "A tag you gave finds its photos first, then the untagged look-alikes."),
    ("opening hours", "Text read in photos: signs, screenshots, documents."),
)
EXAMPLE_TIPS = (
    "Right-click a photo and choose Find similar, drop a photo onto the window, or paste one "
    "(Edit ▸ Search by Pasted Image) to find photos like it.",
    "The + and − on a thumbnail mark it “more like this” or “not like this”: the results follow.",
    "Tools ▸ New Category keeps a search described in words as a smart album.",
    "In the viewer, Heatmap shows where each word of the search is in the photo.",
    "Drop a folder onto the window to add it to the library.",
)


def search_tips_html() -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(typed)}</code></td><td>{html.escape(found)}</td></tr>"
        for typed, found in SEARCH_TIPS
    )
    more = "".join(f"<li>{html.escape(tip)}</li>" for tip in EXAMPLE_TIPS)
    return (
        "<h3>What a search understands</h3>"
        f"<table cellspacing='0' cellpadding='4'>{rows}</table>"
        "<p>The best matches come first; photos that match less well are counted below them and "
        "shown on request.</p>"
        f"<h3>Searching by example</h3><ul>{more}</ul>"
    )


def shortcut_rows(menu_bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, action, keys) for every menu action with a shortcut, in menu order."""
    rows = []
    for top in menu_bar.actions():
        menu = top.menu()
        if not isinstance(menu, QMenu):
            continue
        for action in menu.actions():
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            if keys:
                rows.append((_plain(top.text()), _plain(action.text()), keys))
    return rows


def _plain(text: str) -> str:
    return text.replace("&", "").rstrip("…").strip()


def shortcuts_html(menu_bar: QMenuBar) -> str:
    def table(rows: list[tuple[str, str]]) -> str:
        cells = "".join(
            f"<tr><td><b>{html.escape(keys)}</b></td><td>{html.escape(what)}</td></tr>" for keys, what in rows
        )
        return f"<table cellspacing='0' cellpadding='4'>{cells}</table>"

    menus = [(keys, f"{action} ({menu} menu)") for menu, action, keys in shortcut_rows(menu_bar)]
    paste = QKeySequence(QKeySequence.StandardKey.Paste).toString(QKeySequence.SequenceFormat.NativeText)
    window = [
        ("Escape", "Close the viewer, or clear the search"),
        ("Enter", "Open the selected photo"),
        (paste, "In the search box, with a photo copied: find photos like it"),
    ]
    return f"<h3>Everywhere</h3>{table(menus + window)}<h3>In the viewer</h3>{table(list(VIEWER_KEYS))}"


def show_text(parent: QWidget, title: str, body: str) -> QDialog:
    """A non-modal window of rich text with a Close button (returned, already shown)."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    view = QTextBrowser()
    view.setHtml(body)
    view.setOpenExternalLinks(True)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(view)
    layout.addWidget(buttons)
    dialog.resize(640, 520)
    dialog.show()
    return dialog


def about_html(model: str, library_dir: str) -> str:
    return (
        f"<h3>Viewfinder {html.escape(_version())}</h3>"
        "<p>Search your own photo folders by meaning. Viewfinder only reads your photos: it never "
        "changes, moves or deletes them.</p>"
        f"<p>Search model: {html.escape(model or 'not loaded')}<br>"
        f"Library: {html.escape(library_dir)}</p>"
        "<p>Built on open_clip, PyTorch, OpenVINO, hnswlib, SQLite and Qt (PySide6).</p>"
    )


def _version() -> str:
    try:
        return metadata.version("viewfinder")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(development)"


def show_about(parent: QWidget, model: str, library_dir: str) -> QMessageBox:
    """The About box (returned, already open: it does not block the window)."""
    box = QMessageBox(
        QMessageBox.Icon.NoIcon, "About Viewfinder", about_html(model, library_dir), parent=parent
    )
    box.setTextFormat(Qt.TextFormat.RichText)
    box.open()
    return box
