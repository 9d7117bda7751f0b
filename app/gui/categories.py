"""Categories (smart albums) in the app: the library work behind them, run in workers, and the
dialog that creates or edits one with a live preview of how many photos are in and which.

The dialog computes a `Membership` once per definition (in a worker: it encodes the texts); the
threshold slider then calls `Membership.count_at` (a binary search, cheap enough for every move)
and asks a worker which photos sit just inside and just below the line (album_preview.py).
"""

from __future__ import annotations

import logging
import math
import os
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from .album_preview import PREVIEW_PHOTOS, LinePhotos, PhotoStrip, photos_at_line
from .state import AppState
from .thumbnails import ThumbnailLoader
from .workers import CoalescedJob, Runner

if TYPE_CHECKING:
    from engine.categories import Categories, Category, Membership
    from engine.library import Library
    from engine.search import Hit, Query

log = logging.getLogger(__name__)

SLIDER_STEPS = 1000
PREVIEW_DELAY_MS = 400  # typing pauses this long before the preview is recomputed


# -- worker jobs (no widgets) -------------------------------------------------------------------


class CategoryBook:
    """The window's `Categories` for the open library, rebuilt when the library's search model
    changes (an engine `Categories` is bound to one model). `get()` reads the library: call it in
    a worker. Thread-safe like the object it wraps."""

    def __init__(self, state: AppState):
        self.state = state
        self._categories: Categories | None = None

    @property
    def library(self) -> Library:
        library = self.state.library
        if library is None:
            raise RuntimeError("no library is open")
        return library

    def get(self) -> Categories:
        from engine.categories import Categories

        current, library = self._categories, self.library
        if current is None or current.store is not library.store or current.model != library.model.key:
            current = self._categories = Categories.for_library(library)
        return current


def category_counts(book: CategoryBook, hidden: frozenset[str] = frozenset()) -> list[tuple[str, int | None]]:
    """(name, member count) for every category; count None when it cannot be computed (no model).
    Members in `hidden` folders (gone for now: the grid does not show them) are not counted."""
    categories = book.get()
    prefixes = tuple(f.rstrip(os.sep) + os.sep for f in hidden)
    out: list[tuple[str, int | None]] = []
    for category in categories.list():
        try:
            if prefixes:  # rare (a drive unplugged): count the members one by one
                members = categories.members(category.name)
                out.append((category.name, sum(not m.path.startswith(prefixes) for m in members)))
                continue
            out.append((category.name, categories.membership(category.name).count))
        except Exception as e:  # one bad category (or a missing model) must not hide the others
            log.warning("cannot count category %s: %s", category.name, e)
            out.append((category.name, None))
    return out


def category_hits(book: CategoryBook, name: str, query: Query | None = None) -> list[Hit]:
    """The category's members, best first; with a non-empty query, the query among its members."""
    from engine.search import Hit

    categories = book.get()
    if query is not None and not query.empty:
        return categories.search(query, name)
    members = categories.members(name)
    if query is not None and (query.after is not None or query.before is not None or query.folder):
        members = [m for m in members if _passes(m.photo, query)]
    return [Hit(m.path, m.score, m.photo) for m in members]


def _passes(photo, query: Query) -> bool:
    when = photo.taken_at if photo.taken_at is not None else photo.mtime
    too_early = query.after is not None and when < query.after
    too_late = query.before is not None and when >= query.before
    return not (too_early or too_late)


def preview_membership(book: CategoryBook, definition: Category) -> Membership:
    """The membership a category *would* have, for a definition not (or not yet so) stored."""
    return book.get().membership_for(definition)


def save_category(
    book: CategoryBook,
    name: str,
    prompts: list[str],
    negatives: list[str],
    threshold: float | None,
    editing: str | None = None,
) -> Category:
    """Create the category, or update the one named `editing` (renaming it when `name` differs)."""
    categories = book.get()
    if editing is None:
        return categories.add(name, prompts, negatives, threshold)
    if " ".join(name.split()) != editing:
        # The engine has no rename: add the new name first so a clash leaves the old one intact.
        created = categories.add(name, prompts, negatives, threshold)
        categories.remove(editing)
        return created
    return categories.update(name, prompts=prompts, negatives=negatives, threshold=threshold)


def remove_category(book: CategoryBook, name: str) -> None:
    book.get().remove(name)


def get_category(book: CategoryBook, name: str) -> Category:
    return book.get().get(name)


# -- the dialog ---------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class CategoryDialog(QDialog):
    """New category / edit category: name, descriptions, "not" descriptions, threshold with a live
    count. `preview_ready` is emitted whenever a new Membership arrives; `saved(Category)` after
    the category is stored (in a worker)."""

    preview_ready = Signal()
    photos_ready = Signal()  # the strips show the photos at the line for the current threshold
    saved = Signal(object)

    def __init__(
        self,
        runner: Runner,
        book: CategoryBook,
        existing: Category | None = None,
        parent: QWidget | None = None,
        thumbnails: ThumbnailLoader | None = None,
        thumb_size: int = 192,
    ):
        super().__init__(parent)
        self.runner = runner
        self.book = book
        self.existing = existing
        self.membership: Membership | None = None
        self._user_threshold: float | None = existing.threshold if existing is not None else None
        self._range = (-0.1, 0.1)
        self._generation = 0
        self.setWindowTitle("Edit category" if existing else "New category")
        self.setMinimumWidth(460)

        self.name = QLineEdit(existing.name if existing else "")
        self.name.setPlaceholderText("e.g. Dogs")
        self.prompts = QPlainTextEdit("\n".join(existing.prompts) if existing else "")
        self.prompts.setPlaceholderText("One description per line, e.g.\nmy dog\na brown labrador")
        self.prompts.setFixedHeight(84)
        self.negatives = QPlainTextEdit("\n".join(existing.negatives) if existing else "")
        self.negatives.setPlaceholderText("Optional, e.g.\na cat")
        self.negatives.setFixedHeight(60)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._slider_moved)
        self.auto_button = QPushButton("Automatic")
        self.auto_button.setToolTip("Let Viewfinder choose where to draw the line")
        self.auto_button.clicked.connect(self.use_automatic)
        self.count_label = QLabel("Describe the category to see which photos are in.")
        self.count_label.setObjectName("previewCount")
        self.threshold_label = QLabel("")
        self.threshold_label.setObjectName("hint")
        self.inside_title = QLabel("In")
        self.inside_title.setObjectName("hint")
        self.inside = PhotoStrip(thumbnails, thumb_size)
        self.outside_title = QLabel("Just below the line: out")
        self.outside_title.setObjectName("hint")
        self.outside = PhotoStrip(thumbnails, thumb_size)
        self.photos_box = QWidget()
        photos_layout = QVBoxLayout(self.photos_box)
        photos_layout.setContentsMargins(0, 0, 0, 0)
        photos_layout.setSpacing(4)
        for w in (self.inside_title, self.inside, self.outside_title, self.outside):
            photos_layout.addWidget(w)
        self.photos_box.hide()
        self._line_job: CoalescedJob[LinePhotos] = CoalescedJob(runner, self._photos_done, self._photos_failed)
        self.error = QLabel("")
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        self.error.hide()

        form = QFormLayout()
        form.addRow("Name:", self.name)
        form.addRow("Describe it:", self.prompts)
        form.addRow("But not:", self.negatives)
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("More photos"))
        slider_row.addWidget(self.slider, 1)
        slider_row.addWidget(QLabel("Fewer, surer"))
        slider_row.addWidget(self.auto_button)
        form.addRow("Strictness:", slider_row)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.count_label)
        layout.addWidget(self.threshold_label)
        layout.addWidget(self.photos_box)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.refresh_preview)
        for edit in (self.prompts, self.negatives):
            edit.textChanged.connect(self._timer.start)
        self.name.textChanged.connect(self._name_changed)
        self._update_buttons()
        if existing is not None or self.definition() is not None:
            self.refresh_preview()

    # -- definition --------------------------------------------------------------------------

    def definition(self) -> Category | None:
        """The category as currently typed (threshold: the user's, None = automatic)."""
        from engine.categories import Category

        name = " ".join(self.name.text().split())
        prompts = tuple(_lines(self.prompts.toPlainText())) or ((name,) if name else ())
        if not prompts:
            return None
        return Category(name or prompts[0], prompts, tuple(_lines(self.negatives.toPlainText())))

    def threshold(self) -> float | None:
        """The threshold the slider shows (the automatic one until the user moves it)."""
        if self._user_threshold is not None:
            return self._user_threshold
        return self.membership.auto_threshold if self.membership is not None else None

    def preview_count(self) -> int | None:
        t = self.threshold()
        return self.membership.count_at(t) if self.membership is not None and t is not None else None

    def _name_changed(self) -> None:
        self._update_buttons()
        if not _lines(self.prompts.toPlainText()):  # the name is the description
            self._timer.start()

    def _update_buttons(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(bool(self.name.text().strip()))

    # -- preview -----------------------------------------------------------------------------

    def refresh_preview(self) -> None:
        """Recompute the membership for the typed definition (in a worker)."""
        self._timer.stop()
        definition = self.definition()
        if definition is None:
            self.membership = None
            self.slider.setEnabled(False)
            self.count_label.setText("Describe the category to see which photos are in.")
            return
        self._generation += 1
        generation, book = self._generation, self.book
        self.count_label.setText("Counting…")
        self.runner.submit(
            lambda: preview_membership(book, definition),
            lambda m: self._preview_done(generation, m),
            lambda e: self._preview_failed(generation, e),
        )

    def _preview_failed(self, generation: int, error: Exception) -> None:
        if generation == self._generation:
            self.count_label.setText(f"Cannot preview: {error}")

    def _preview_done(self, generation: int, membership: Membership) -> None:
        if generation != self._generation:
            return
        self.membership = membership
        # The slider moves evenly in log-odds: relevance crowds near 0 and 1, log-odds spread out.
        scores = membership.scores
        if len(scores):
            low, high = _log_odds(float(scores.min())), _log_odds(float(scores.max()))
        else:
            low, high = -1.0, 1.0
        auto = _log_odds(membership.auto_threshold)
        low, high = min(low, auto), max(high, auto)
        pad = max(1e-4, (high - low) * 0.02)
        self._range = (low - pad, high + pad)
        self.slider.setEnabled(len(scores) > 0)
        self._set_slider(self.threshold())
        self._show_count()
        self.preview_ready.emit()

    def _set_slider(self, threshold: float | None) -> None:
        if threshold is None:
            return
        self.slider.blockSignals(True)
        self.slider.setValue(self._to_step(threshold))
        self.slider.blockSignals(False)

    def _to_step(self, threshold: float) -> int:
        low, high = self._range
        value = _log_odds(threshold)
        return round(min(1.0, max(0.0, (value - low) / (high - low))) * SLIDER_STEPS)

    def _to_threshold(self, step: int) -> float:
        low, high = self._range
        return 1.0 / (1.0 + math.exp(-(low + (high - low) * step / SLIDER_STEPS)))

    def _slider_moved(self, step: int) -> None:
        self._user_threshold = self._to_threshold(step)
        self._show_count()

    def set_threshold(self, threshold: float) -> None:
        """Fix the threshold (as moving the slider does, without its step rounding)."""
        self._user_threshold = threshold
        self._set_slider(threshold)
        self._show_count()

    def use_automatic(self) -> None:
        self._user_threshold = None
        self._set_slider(self.threshold())
        self._show_count()

    def _show_count(self) -> None:
        count, t = self.preview_count(), self.threshold()
        if count is None or t is None or self.membership is None:
            return
        total = int(self.membership.weights.sum()) if len(self.membership.weights) else 0
        self.count_label.setText(
            f"{count:,} of {total:,} photos are in" if total else "No indexed photos yet"
        )
        self.threshold_label.setText(
            "Viewfinder chose where the line is." if self._user_threshold is None else "You set where the line is."
        )
        self.threshold_label.setToolTip(f"Photos scoring {t:.4f} or more are in.")
        self._show_photos(count, t)

    # -- the photos at the line ----------------------------------------------------------------

    def _show_photos(self, count: int, threshold: float) -> None:
        """Ask (in a worker: it reads the library) which photos sit just inside and below the line."""
        membership, book = self.membership, self.book
        if membership is None or not len(membership.scores):
            self.photos_box.hide()
            return
        shown = min(count, PREVIEW_PHOTOS)
        self.inside_title.setText(
            f"In: the {shown} nearest the line" if count > PREVIEW_PHOTOS else ("In" if count else "In: none")
        )
        self._line_job.run(lambda: photos_at_line(book.get(), membership, threshold))

    def _photos_done(self, photos: LinePhotos) -> None:
        if not isValid(self.inside) or photos.threshold != self.threshold():
            return  # the dialog closed, or the slider moved on (its own run follows)
        self.inside.set_photos(photos.inside)
        self.outside.set_photos(photos.outside)
        self.outside_title.setText("Just below the line: out" if photos.outside else "Below the line: none")
        self.photos_box.show()
        self.photos_ready.emit()

    def _photos_failed(self, error: Exception) -> None:
        log.warning("cannot show the photos at the line: %s", error)

    # -- saving ------------------------------------------------------------------------------

    def save(self) -> None:
        definition = self.definition()
        name = " ".join(self.name.text().split())
        if definition is None or not name:
            self._show_error("Give the category a name.")
            return
        book, editing = self.book, self.existing.name if self.existing else None
        prompts = list(definition.prompts)
        negatives = list(definition.negatives)
        threshold = self._user_threshold
        if threshold is not None and not math.isfinite(threshold):
            threshold = None
        self.buttons.setEnabled(False)
        self.runner.submit(
            lambda: save_category(book, name, prompts, negatives, threshold, editing),
            self._saved,
            self._save_failed,
        )

    def _saved(self, category: Category) -> None:
        self.buttons.setEnabled(True)
        self.saved.emit(category)
        self.accept()

    def _save_failed(self, error: Exception) -> None:
        self.buttons.setEnabled(True)
        self._show_error(str(error))

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()


__all__ = [
    "CategoryBook",
    "CategoryDialog",
    "category_counts",
    "category_hits",
    "preview_membership",
]


def _log_odds(relevance: float) -> float:
    """Relevance 0..1 -> log-odds (finite: kept a hair inside 0 and 1)."""
    p = min(max(relevance, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))
