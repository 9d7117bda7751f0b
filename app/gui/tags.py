"""Personal tags in the app: the viewer's tag panel (chips, "Add tag…", highlight tools) and the
library work behind tagging, which runs in workers (engine.tags owns the SQL)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .canvas import MODE_BOX, MODE_BRUSH, MODE_ERASE, MODE_VIEW, mark_colour

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search import Hit
    from engine.tags import Highlight, Tag

_WORD = re.compile(r"\w+", re.UNICODE)


# -- worker jobs (no widgets) -------------------------------------------------------------------


@dataclass(frozen=True)
class TagOutcome:
    """What tagging several photos did: the photos tagged, and (path, reason) for the others."""

    text: str
    tagged: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


def tag_photos(library: Library, paths: Sequence[str], text: str) -> TagOutcome:
    """Tag every photo in `paths` with `text`; a photo that cannot be tagged is reported, not fatal."""
    from engine.errors import ViewfinderError
    from engine.tags import add_tag, normalise_text

    tagged, failed = [], []
    for path in paths:
        try:
            add_tag(library.store, path, text)
            tagged.append(path)
        except ViewfinderError as e:
            failed.append((path, str(e)))
    return TagOutcome(normalise_text(text), tuple(tagged), tuple(failed))


def tags_of(library: Library, path: str) -> list[Tag]:
    from engine.tags import tags_of as engine_tags_of

    return engine_tags_of(library.store, path)


def remove_tag(library: Library, path: str, text: str) -> list[Tag]:
    from engine.tags import remove_tags

    remove_tags(library.store, path, text)
    return tags_of(library, path)


def save_highlight(
    library: Library,
    path: str,
    text: str,
    phrase: str,
    box: tuple[float, float, float, float] | None = None,
    mask: bytes | None = None,
) -> list[Tag]:
    """Store (or replace) the highlight of `phrase` on the photo's tag `text`; the photo's tags."""
    from engine.tags import Highlight, add_tag

    add_tag(library.store, path, text, [Highlight(phrase, box=box, mask=mask)])
    return tags_of(library, path)


def rename_tag(library: Library, old: str, new: str) -> int:
    from engine.tags import rename_tag as engine_rename_tag

    return engine_rename_tag(library.store, old, new)


def remove_tag_everywhere(library: Library, text: str) -> int:
    from engine.tags import remove_tag_everywhere as engine_remove

    return engine_remove(library.store, text)


def tag_counts(library: Library) -> dict[str, int]:
    from engine.tags import tag_texts

    return tag_texts(library.store)


def tagged_hits(library: Library, text: str, query=None) -> list[Hit]:
    """Photos carrying tag `text`: newest first, or ranked by `query` (an engine Query) when given."""
    from engine.search import Hit
    from engine.tags import list_tags

    paths: set[str] = set()
    for tag in list_tags(library.store):
        if tag.text == text:
            paths.update(tag.paths)
    if query is not None and not query.empty:
        from dataclasses import replace

        hits = library.search(replace(query, k=max(query.k, len(paths) + 50)))
        return [h for h in hits if h.path in paths]
    rows = [library.store.photos.by_path(p) for p in paths]
    found = [r for r in rows if r is not None]
    found.sort(key=lambda r: -(r.taken_at if r.taken_at is not None else r.mtime))
    return [Hit(r.path, math.nan, r) for r in found]


def phrases_of(text: str) -> list[str]:
    """What part of a tag can be highlighted: each distinct word, then the whole text."""
    words: list[str] = []
    for w in _WORD.findall(text):
        if w not in words:
            words.append(w)
    if len(words) > 1:
        words.append(text)
    return words


def highlight_label(tag: str, phrase: str) -> str:
    """How a highlight is labelled on the photo: its tag, and the word marked when only part of it."""
    return tag if phrase == tag else f"{tag}: {phrase}"


# -- tagging photos from the grid ---------------------------------------------------------------


class TagDialog(QDialog):
    """Asks what to tag some photos with. `submitted(text)` asks for the tagging; the dialog stays
    open, with the text, until `done()` closes it or `failed(message)` says why it could not be done."""

    submitted = Signal(str)

    def __init__(self, count: int, known: Sequence[str] = (), parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Tag photos")
        what = "this photo" if count == 1 else f"these {count:,} photos"
        self.prompt = QLabel(f"Tag {what} with:")
        self.field = QLineEdit()
        completer = QCompleter(list(known), self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.field.setCompleter(completer)
        self.error = QLabel("")
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt)
        layout.addWidget(self.field)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(360)

    def text(self) -> str:
        return " ".join(self.field.text().split())

    def submit(self) -> None:
        if not self.text():
            return
        self.error.hide()
        self.buttons.setEnabled(False)
        self.submitted.emit(self.text())

    def done_tagging(self) -> None:
        self.buttons.setEnabled(True)
        self.accept()

    def failed(self, message: str) -> None:
        self.buttons.setEnabled(True)
        self.error.setText(message)
        self.error.show()


# -- the viewer's tag panel ---------------------------------------------------------------------


class TagPanel(QWidget):
    """The photo's tags as chips (click: choose it for highlighting; ×: remove) and an "Add tag…"
    field; below, the highlight tools for the chosen tag.

    Signals: add_requested(text), remove_requested(text), selection_changed() (tag or phrase),
    tool_changed(mode) with a canvas mode.
    """

    add_requested = Signal(str)
    remove_requested = Signal(str)
    selection_changed = Signal()
    tool_changed = Signal(str)
    brush_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._tags: list[Tag] = []
        self.title = QLabel("Tags")
        self.title.setObjectName("panelTitle")
        self.chips_box = QWidget()
        self.chips_layout = QVBoxLayout(self.chips_box)
        self.chips_layout.setContentsMargins(0, 0, 0, 0)
        self.chips_layout.setSpacing(4)
        self.chips = QButtonGroup(self)
        self.chips.setExclusive(False)  # clicking the chosen chip again shows every tag once more
        self.chips.buttonClicked.connect(self._chip_clicked)
        self.empty = QLabel("No tags yet.")
        self.empty.setObjectName("hint")
        self.field = QLineEdit()
        self.field.setObjectName("addTag")
        self.field.setPlaceholderText("Add tag…")
        self.field.setClearButtonEnabled(True)
        self.completions = QStringListModel(self)
        completer = QCompleter(self.completions, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.field.setCompleter(completer)
        self.field.returnPressed.connect(self._add)
        self.error = QLabel("")
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        self.error.hide()

        self.highlight_box = QFrame()
        self.highlight_box.setObjectName("highlightBox")
        self.highlight_title = QLabel("")
        self.highlight_title.setWordWrap(True)
        self.phrase = QComboBox()
        self.phrase.currentIndexChanged.connect(lambda _i: self.selection_changed.emit())
        self.tools = QButtonGroup(self)
        self.tools.setExclusive(False)  # clicking the checked tool again turns drawing off
        tool_row = QHBoxLayout()
        tool_row.setSpacing(4)
        self.tool_buttons: dict[str, QToolButton] = {}
        for mode, label, tip in (
            (MODE_BOX, "Box", "Drag a box around it on the photo"),
            (MODE_BRUSH, "Brush", "Paint over it on the photo"),
            (MODE_ERASE, "Eraser", "Erase part of the painted highlight"),
        ):
            b = QToolButton()
            b.setObjectName("toolButton")
            b.setText(label)
            b.setToolTip(tip)
            b.setCheckable(True)
            b.setProperty("mode", mode)
            self.tools.addButton(b)
            self.tool_buttons[mode] = b
            tool_row.addWidget(b)
        tool_row.addStretch(1)
        self.tools.buttonClicked.connect(self._tool_clicked)
        self.brush = QSlider(Qt.Orientation.Horizontal)
        self.brush.setRange(1, 15)
        self.brush.setValue(4)
        self.brush.setToolTip("Brush size")
        self.brush.valueChanged.connect(lambda v: self.brush_changed.emit(v / 100))
        self.brush_label = QLabel("Brush size")
        self.brush_label.setObjectName("hint")
        brush_row = QHBoxLayout()
        brush_row.addWidget(self.brush_label)
        brush_row.addWidget(self.brush, 1)
        self.highlight_status = QLabel("")
        self.highlight_status.setObjectName("hint")
        self.highlight_status.setWordWrap(True)
        box_layout = QVBoxLayout(self.highlight_box)
        box_layout.setContentsMargins(0, 4, 0, 0)
        box_layout.setSpacing(6)
        box_layout.addWidget(self.highlight_title)
        box_layout.addWidget(self.phrase)
        box_layout.addLayout(tool_row)
        box_layout.addLayout(brush_row)
        box_layout.addWidget(self.highlight_status)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.title)
        layout.addWidget(self.chips_box)
        layout.addWidget(self.empty)
        layout.addWidget(self.field)
        layout.addWidget(self.error)
        layout.addWidget(self.highlight_box)
        self.set_tags([])
        self.set_tool(MODE_VIEW)

    # -- contents ----------------------------------------------------------------------------

    def set_known_texts(self, texts: Sequence[str]) -> None:
        self.completions.setStringList(list(texts))

    def set_tags(self, tags: Sequence[Tag]) -> None:
        """Show these tags, keeping the chosen one (and its phrase) when it is still there."""
        chosen, phrase = self.current_tag_text(), self.current_phrase()
        self._tags = list(tags)
        for button in self.chips.buttons():
            self.chips.removeButton(button)
        while self.chips_layout.count():
            item = self.chips_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for place, tag in enumerate(self._tags):
            self.chips_layout.addWidget(self._chip(tag, tag.text == chosen, place))
        self.empty.setVisible(not self._tags)
        self._chosen(keep_phrase=phrase)

    def _chip(self, tag: Tag, checked: bool, place: int) -> QWidget:
        frame = QFrame()
        frame.setObjectName("tagChip")
        row = QHBoxLayout(frame)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        if tag.highlights:  # the colour of its boxes on the photo
            dot = QLabel("●")
            dot.setObjectName("tagColour")
            dot.setStyleSheet(f"color: {mark_colour(place).name()}; padding-right: 4px;")
            row.addWidget(dot)
        label = QToolButton()
        label.setObjectName("chip")
        marks = f"  ·  {len(tag.highlights)} highlighted" if tag.highlights else ""
        label.setText(tag.text + marks)
        label.setToolTip("Show only this tag, and mark where it is in the photo (click again: all tags)")
        label.setCheckable(True)
        label.setChecked(checked)
        label.setProperty("tagText", tag.text)
        self.chips.addButton(label)
        remove = QToolButton()
        remove.setObjectName("chipRemove")
        remove.setText("×")
        remove.setToolTip(f"Remove the tag “{tag.text}” from this photo")
        remove.setProperty("tagText", tag.text)
        remove.clicked.connect(lambda _c=False, t=tag.text: self.remove_requested.emit(t))
        row.addWidget(label)
        row.addWidget(remove)
        row.addStretch(1)
        return frame

    def tag_texts(self) -> list[str]:
        return [t.text for t in self._tags]

    def remove_button(self, text: str) -> QToolButton | None:
        for b in self.chips_box.findChildren(QToolButton, "chipRemove"):
            if b.property("tagText") == text:
                return b
        return None

    def choose(self, text: str | None, phrase: str | None = None) -> None:
        """Choose a tag (and a phrase of it) for highlighting, as a click on its chip does; None
        goes back to showing every tag's highlights."""
        for b in self.chips.buttons():
            b.setChecked(b.property("tagText") == text)
        self._chosen(keep_phrase=phrase)

    def _chip_clicked(self, button) -> None:
        self.choose(button.property("tagText") if button.isChecked() else None)

    def shown_highlights(self) -> list[tuple[str, Highlight, int]]:
        """(label, highlight, the tag's place in the list) of the stored highlights to show beside
        the one being edited: every tag's when no tag is chosen (labelled with the tag), else the
        chosen tag's other phrases."""
        tag, phrase = self.current_tag(), self.current_phrase()
        if tag is None:
            return [
                (highlight_label(t.text, h.phrase), h, i) for i, t in enumerate(self._tags) for h in t.highlights
            ]
        place = self._tags.index(tag)
        return [(h.phrase, h, place) for h in tag.highlights if h.phrase != phrase]

    def current_tag(self) -> Tag | None:
        checked = [b for b in self.chips.buttons() if b.isChecked()]  # not checkedButton(): non-exclusive
        text = checked[0].property("tagText") if checked else None
        return next((t for t in self._tags if t.text == text), None)

    def current_tag_text(self) -> str | None:
        tag = self.current_tag()
        return tag.text if tag is not None else None

    def current_phrase(self) -> str | None:
        if self.current_tag() is None:
            return None
        return self.phrase.currentText() or None

    def current_highlight(self):
        """The stored highlight of the chosen tag and phrase, if any."""
        tag, phrase = self.current_tag(), self.current_phrase()
        if tag is None or phrase is None:
            return None
        return next((h for h in tag.highlights if h.phrase == phrase), None)

    def tool(self) -> str:
        for mode, b in self.tool_buttons.items():
            if b.isChecked():
                return mode
        return MODE_VIEW

    def set_tool(self, mode: str) -> None:
        for m, b in self.tool_buttons.items():
            b.setChecked(m == mode)
        painting = mode in (MODE_BRUSH, MODE_ERASE)
        self.brush.setVisible(painting)
        self.brush_label.setVisible(painting)
        hints = {
            MODE_BOX: "Drag a box on the photo.",
            MODE_BRUSH: "Paint over the photo; each stroke is saved.",
            MODE_ERASE: "Erase part of the painted area.",
        }
        self.highlight_status.setText(hints.get(mode, ""))
        self.tool_changed.emit(mode)

    # -- slots -------------------------------------------------------------------------------

    def _add(self) -> None:
        """Ask for the typed tag; the text stays in the field until `added` says it was stored."""
        text = " ".join(self.field.text().split())
        if text:
            self.show_error("")
            self.add_requested.emit(text)

    def added(self) -> None:
        self.field.clear()
        self.show_error("")

    def show_error(self, text: str) -> None:
        """Why the last change could not be made ("" hides it); what was typed stays."""
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def _chosen(self, keep_phrase: str | None = None) -> None:
        tag = self.current_tag()
        self.highlight_box.setVisible(tag is not None)
        self.phrase.blockSignals(True)
        self.phrase.clear()
        if tag is not None:
            self.highlight_title.setText(f"Show where “{tag.text}” is:")
            phrases = phrases_of(tag.text)
            self.phrase.addItems(phrases)
            # The phrase kept, else one already marked, else the whole tag (not its first word).
            marked = [h.phrase for h in tag.highlights if h.phrase in phrases]
            self.phrase.setCurrentText(
                keep_phrase if keep_phrase in phrases else (marked[0] if marked else phrases[-1])
            )
        self.phrase.blockSignals(False)
        if tag is None and self.tool() != MODE_VIEW:
            self.set_tool(MODE_VIEW)
        self.selection_changed.emit()

    def _tool_clicked(self, button) -> None:
        mode = button.property("mode") if button.isChecked() else MODE_VIEW
        self.set_tool(mode)
