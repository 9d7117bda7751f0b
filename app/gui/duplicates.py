"""The Duplicates window: groups of copies side by side, best copy marked, each file openable.

Viewfinder never changes a photo, so there is no delete or trash button here: the user opens or
reveals a file and decides in their own file manager. The window only emits what the user asks
for; `controllers/duplicates.py` finds the groups in a worker and hands them in.
"""

from __future__ import annotations

import datetime as dt
import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.duplicates import DEFAULT_THRESHOLD, Copy, DuplicateGroup

from .thumbnails import ThumbKey, ThumbnailLoader

THUMB = 160


def describe(copy: Copy) -> str:
    """The lines under a copy's thumbnail: name, folder, pixels, file size, date, how alike."""
    p = copy.photo
    when = dt.datetime.fromtimestamp(p.taken_at if p.taken_at is not None else p.mtime)
    pixels = f"{p.width} × {p.height}" if p.width and p.height else "size unknown"
    if copy.best:
        how = "Best copy"
    elif copy.exact:
        how = "Same file content"
    else:
        how = f"{copy.similarity:.0%} alike"
    lines = [
        os.path.basename(p.path),
        os.path.dirname(p.path),
        f"{pixels}, {p.size / 1e6:.1f} MB",
        f"{when:%Y-%m-%d %H:%M}",
        how,
    ]
    lines += [f"with {os.path.basename(c)}" for c in copy.companions]
    return "\n".join(lines)


class CopyCard(QFrame):
    """One file of a group: its thumbnail, facts, and Open / Show in Folder buttons."""

    open_requested = Signal(str)
    reveal_requested = Signal(str)

    def __init__(self, copy: Copy, parent: QWidget | None = None):
        super().__init__(parent)
        self.copy = copy
        self.setFrameShape(QFrame.Shape.StyledPanel)
        if copy.best:
            self.setStyleSheet("CopyCard { border: 2px solid palette(highlight); }")
        layout = QVBoxLayout(self)
        self.image = QLabel("…")
        self.image.setFixedSize(THUMB, THUMB)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.image)
        self.facts = QLabel(describe(copy))
        self.facts.setWordWrap(True)
        self.facts.setMaximumWidth(THUMB + 40)
        self.facts.setToolTip(copy.photo.path)
        layout.addWidget(self.facts)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open")
        self.reveal_button = QPushButton("Show in Folder")
        self.open_button.clicked.connect(lambda: self.open_requested.emit(copy.photo.path))
        self.reveal_button.clicked.connect(lambda: self.reveal_requested.emit(copy.photo.path))
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.reveal_button)
        layout.addLayout(buttons)

    @property
    def key(self) -> ThumbKey:
        return ThumbKey(self.copy.photo.path, self.copy.photo.mtime, THUMB)

    def show_image(self, image: QImage | None, failed: bool) -> None:
        if image is not None and not image.isNull():
            self.image.setPixmap(QPixmap.fromImage(image))  # on the UI thread
        elif failed:
            self.image.setText("cannot show")


class DuplicatesDialog(QDialog):
    """Shows duplicate groups; `find_requested(threshold)` asks for them again."""

    find_requested = Signal(float)
    open_requested = Signal(str)
    reveal_requested = Signal(str)

    def __init__(self, thumbnails: ThumbnailLoader, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Duplicates")
        self.resize(900, 640)
        self.thumbnails = thumbnails
        self.cards: list[CopyCard] = []
        self.groups: list[DuplicateGroup] = []

        top = QHBoxLayout()
        top.addWidget(QLabel("How alike (0–1):"))
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.5, 1.0)
        self.threshold.setSingleStep(0.01)
        self.threshold.setDecimals(2)
        self.threshold.setValue(DEFAULT_THRESHOLD)
        self.threshold.setToolTip("1 finds only identical pictures; lower values also find edited or cropped copies")
        top.addWidget(self.threshold)
        self.find_button = QPushButton("Find Duplicates")
        self.find_button.clicked.connect(lambda: self.find_requested.emit(self.threshold.value()))
        top.addWidget(self.find_button)
        top.addStretch(1)

        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.body = QWidget()
        self.rows = QVBoxLayout(self.body)
        self.rows.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.body)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(scroll, 1)
        thumbnails.ready.connect(self._thumbnail_ready)

    def set_busy(self, text: str) -> None:
        self.find_button.setEnabled(False)
        self.summary.setText(text)

    def show_error(self, text: str) -> None:
        self.find_button.setEnabled(True)
        self.summary.setText(text)

    def set_groups(self, groups: list[DuplicateGroup]) -> None:
        """Show these groups, one row each, the best copy first (left)."""
        self.find_button.setEnabled(True)
        self.groups = list(groups)
        while self.rows.count() > 1:  # keep the trailing stretch
            item = self.rows.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.cards = []
        for number, group in enumerate(self.groups, 1):
            row = QFrame()
            line = QHBoxLayout(row)
            line.addWidget(QLabel(f"{number}."), 0, Qt.AlignmentFlag.AlignTop)
            for copy in group.copies:
                card = CopyCard(copy)
                card.open_requested.connect(self.open_requested)
                card.reveal_requested.connect(self.reveal_requested)
                self.cards.append(card)
                line.addWidget(card)
                card.show_image(self.thumbnails.image(card.key), self.thumbnails.failed(card.key))
            line.addStretch(1)
            self.rows.insertWidget(self.rows.count() - 1, row)
        extra = sum(len(g.copies) - 1 for g in self.groups)
        self.summary.setText(
            f"{len(self.groups)} groups, {extra} extra copies. The best copy (most pixels, largest, oldest,"
            " original name) is outlined. Viewfinder changes nothing: open or reveal a file to decide."
            if self.groups
            else "No duplicates found."
        )

    def _thumbnail_ready(self, key: ThumbKey) -> None:
        for card in self.cards:
            if card.key == key:
                card.show_image(self.thumbnails.image(key), self.thumbnails.failed(key))
