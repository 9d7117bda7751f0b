"""The photo viewer: one photo large and upright, its metadata, previous/next and actions.

The photo is decoded in a pool thread (engine.photos.thumbnail at screen size, which applies the
EXIF orientation and decodes JPEGs at a reduced scale) and arrives as a QImage.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage, QKeySequence, QPixmap, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .results_model import format_time
from .workers import Runner

if TYPE_CHECKING:
    from engine.search import Hit

VIEW_SIZE = 2048  # longest side decoded for the viewer: sharp on most screens, cheap to decode


def load_view_image(path: str, size: int = VIEW_SIZE) -> QImage:
    """Decode an upright photo for display. Runs in a worker thread (QImage is thread-safe)."""
    from PIL.ImageQt import ImageQt

    from engine.photos import thumbnail

    image = thumbnail(path, size).convert("RGB")
    return QImage(ImageQt(image)).copy()  # copy: detach from the PIL buffer before it is freed


def describe_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def metadata_rows(hit: Hit) -> list[tuple[str, str]]:
    """(label, value) pairs shown beside the photo."""
    p = hit.photo
    rows = [("File", os.path.basename(hit.path))]
    if p.taken_at is not None:
        rows.append(("Taken", format_time(p.taken_at)))
    else:
        rows.append(("Modified", format_time(p.mtime)))
    camera = " ".join(x for x in (p.camera_make, p.camera_model) if x)
    if camera:
        rows.append(("Camera", camera))
    if p.width and p.height:
        rows.append(("Size", f"{p.width} × {p.height}  ·  {describe_size(p.size)}"))
    else:
        rows.append(("Size", describe_size(p.size)))
    if p.latitude is not None and p.longitude is not None:
        rows.append(("Location", f"{p.latitude:.5f}, {p.longitude:.5f}"))
    rows.append(("Folder", os.path.dirname(hit.path)))
    return rows


class PhotoLabel(QLabel):
    """Shows a QImage scaled to fit, keeping its aspect ratio, as the widget resizes."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(QSize(200, 200))
        self._pixmap: QPixmap | None = None

    def set_image(self, image: QImage | None) -> None:
        self._pixmap = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        self._rescale()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None:
            self.setPixmap(QPixmap())
            return
        self.setPixmap(
            self._pixmap.scaled(
                self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )


class Viewer(QWidget):
    """Emits `closed`, `step(+1/-1)` and `find_similar(path)`; the window owns navigation."""

    closed = Signal()
    step = Signal(int)
    find_similar = Signal(str)

    def __init__(self, runner: Runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("viewer")
        self.runner = runner
        self.hit: Hit | None = None
        self.image: QImage | None = None
        self._generation = 0

        self.photo = PhotoLabel()
        self.photo.setObjectName("viewerPhoto")
        self.message = QLabel("")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setObjectName("viewerMessage")

        self.back_button = QPushButton("← Back")
        self.prev_button = QPushButton("‹ Previous")
        self.next_button = QPushButton("Next ›")
        self.position = QLabel("")
        self.back_button.clicked.connect(self.closed.emit)
        self.prev_button.clicked.connect(lambda: self.step.emit(-1))
        self.next_button.clicked.connect(lambda: self.step.emit(1))
        top = QHBoxLayout()
        top.addWidget(self.back_button)
        top.addStretch(1)
        top.addWidget(self.position)
        top.addStretch(1)
        top.addWidget(self.prev_button)
        top.addWidget(self.next_button)

        self.details = QFormLayout()
        self.details.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.details.setVerticalSpacing(8)
        self.similar_button = QPushButton("Find similar")
        self.similar_button.setObjectName("primaryButton")
        self.open_button = QPushButton("Open with default app")
        self.folder_button = QPushButton("Show in folder")
        self.similar_button.clicked.connect(self._find_similar)
        self.open_button.clicked.connect(self.open_external)
        self.folder_button.clicked.connect(self.show_in_folder)
        side = QVBoxLayout()
        side.setSpacing(8)
        side.addLayout(self.details)
        side.addSpacing(12)
        for b in (self.similar_button, self.open_button, self.folder_button):
            side.addWidget(b)
        side.addStretch(1)
        panel = QFrame()
        panel.setObjectName("viewerPanel")
        panel.setLayout(side)
        panel.setFixedWidth(300)

        body = QHBoxLayout()
        body.setSpacing(12)
        stage = QVBoxLayout()
        stage.addWidget(self.photo, 1)
        stage.addWidget(self.message)
        body.addLayout(stage, 1)
        body.addWidget(panel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addLayout(top)
        layout.addLayout(body, 1)

        for key, slot in (
            (Qt.Key.Key_Left, lambda: self.step.emit(-1)),
            (Qt.Key.Key_Right, lambda: self.step.emit(1)),
            (Qt.Key.Key_Escape, self.closed.emit),
            (Qt.Key.Key_Backspace, self.closed.emit),
        ):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    def show_hit(self, hit: Hit, position: int, count: int) -> None:
        self.hit = hit
        self.image = None
        self.photo.set_image(None)
        self.message.setText("Loading…")
        self.position.setText(f"{position + 1:,} of {count:,}")
        self.prev_button.setEnabled(position > 0)
        self.next_button.setEnabled(position + 1 < count)
        while self.details.rowCount():
            self.details.removeRow(0)
        for label, value in metadata_rows(hit):
            field = QLabel(value)
            field.setWordWrap(True)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.details.addRow(f"{label}:", field)
        self._generation += 1
        generation = self._generation
        path = hit.path
        self.runner.submit(
            lambda: load_view_image(path),
            lambda image: self._loaded(generation, image),
            lambda error: self._failed(generation, error),
            priority=10,
        )

    def metadata(self) -> dict[str, str]:
        """What the details panel shows, label -> value (for tests and accessibility)."""
        out = {}
        for row in range(self.details.rowCount()):
            label = self.details.itemAt(row, QFormLayout.ItemRole.LabelRole).widget()
            field = self.details.itemAt(row, QFormLayout.ItemRole.FieldRole).widget()
            out[label.text().rstrip(":")] = field.text()  # type: ignore[attr-defined]
        return out

    def _loaded(self, generation: int, image: QImage) -> None:
        if generation != self._generation:
            return
        self.image = image
        self.message.setText("")
        self.photo.set_image(image)

    def _failed(self, generation: int, error: Exception) -> None:
        if generation != self._generation:
            return
        reason = getattr(error, "reason", None) or str(error)
        self.message.setText(f"This photo cannot be shown: {reason}")

    def _find_similar(self) -> None:
        if self.hit is not None:
            self.find_similar.emit(self.hit.path)

    def open_external(self) -> None:
        if self.hit is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.hit.path))

    def show_in_folder(self) -> None:
        if self.hit is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(self.hit.path)))
