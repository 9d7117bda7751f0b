"""The viewer's photo surface: the upright photo fitted to the widget (zoomed with the wheel, a
double-click or + / -, and dragged about when zoomed), an optional heatmap overlay, and the highlight
tools (drag a box, paint or erase with a brush).

Positions are reported as fractions of the upright photo (0..1, top-left origin), the unit tags
and heatmaps use, so nothing outside this widget cares about zoom or letterboxing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFontMetrics,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

MODE_VIEW, MODE_BOX, MODE_BRUSH, MODE_ERASE = "view", "box", "brush", "erase"
MASK_SIZE = 512  # longest side of a brush mask: finer than any model's patch grid, small as PNG
MAX_ZOOM = 8.0  # times the fitted size
ZOOM_STEP = 1.25  # per wheel notch or key press
HIGHLIGHT_COLOUR = QColor(47, 111, 222)
TEXT_BOX_COLOUR = QColor(240, 170, 20)

Fraction = tuple[float, float]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Mark:
    """A stored highlight shown on the photo with its label: a box, or a painted mask (PNG) whose
    `box` is then the painted area's bounds (where the label goes)."""

    label: str
    box: Box | None
    mask: QImage | None = None
    colour: QColor = field(default_factory=lambda: QColor(HIGHLIGHT_COLOUR))


# One colour per tag of a photo (in the order the panel lists them), so that boxes tell apart.
MARK_COLOURS = (
    HIGHLIGHT_COLOUR,
    QColor(234, 88, 12),
    QColor(22, 163, 74),
    QColor(192, 38, 211),
    QColor(13, 148, 136),
    QColor(220, 38, 38),
)


def mark_colour(place: int) -> QColor:
    """The colour of the highlights of a photo's `place`-th tag."""
    return MARK_COLOURS[place % len(MARK_COLOURS)]


def make_mark(label: str, box: Box | None, mask_png: bytes | None, colour_index: int = 0) -> Mark | None:
    """The mark of a stored highlight (None when it has neither a box nor a readable mask)."""
    colour = mark_colour(colour_index)
    if mask_png:
        mask = _load_mask(mask_png)
        bounds = _bounds(mask) if mask is not None else None
        if mask is not None and bounds is not None:
            return Mark(label, bounds, mask, colour)
    return Mark(label, box, None, colour) if box is not None else None


class PhotoCanvas(QWidget):
    """Paints a QImage scaled to fit (aspect kept), an overlay stretched over it, and highlights.

    Signals: `hovered((fx, fy) | None)` as the pointer moves over the photo; `box_drawn(box)` when
    a box drag ends (fractions x0, y0, x1, y1); `mask_edited()` when a brush or eraser stroke ends.
    """

    hovered = Signal(object)
    box_drawn = Signal(object)
    mask_edited = Signal()
    zoomed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(QSize(200, 200))
        self.setMouseTracking(True)
        self._pixmap: QPixmap | None = None
        self._overlay: QPixmap | None = None
        self.overlay_opacity = 0.5
        self.mode = MODE_VIEW
        self.brush_radius = 0.04  # fraction of the photo's longer side
        self.box: Box | None = None  # the stored (or just drawn) box of the chosen phrase
        self.mask: QImage | None = None  # type: ignore[assignment]  # Grayscale8, white = highlighted
        self.text_boxes: list[tuple[Fraction, ...]] = []  # lines of text read in the photo (corners)
        self.marks: list[Mark] = []  # stored highlights shown with their labels (not being edited)
        self.highlight_label = ""  # the label of the highlight being edited (box / mask)
        self._drag_start: Fraction | None = None
        self._drag_now: Fraction | None = None
        self._painting = False
        self.zoom = 1.0  # times the fitted size
        self._focus: Fraction = (0.5, 0.5)  # the point of the photo at the widget's centre
        self._pan: tuple[QPointF, Fraction] | None = None  # where a drag of the photo began

    # -- content -----------------------------------------------------------------------------

    def set_image(self, image: QImage | None, keep_view: bool = False) -> None:
        """Show `image`, fitted; or, with keep_view, at the zoom and place of the one before (the
        same photo decoded sharper)."""
        self._pixmap = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        if keep_view:
            self.update()
        else:
            self.fit()

    def drawn_scale(self) -> float:
        """Screen pixels per pixel of the image shown (above 1: enlarged)."""
        rect = self.image_rect()
        return rect.width() / self._pixmap.width() if self._pixmap is not None else 0.0

    def has_image(self) -> bool:
        return self._pixmap is not None

    def set_overlay(self, image: QImage | None) -> None:
        self._overlay = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        self.update()

    def has_overlay(self) -> bool:
        return self._overlay is not None

    def set_overlay_opacity(self, opacity: float) -> None:
        self.overlay_opacity = max(0.0, min(1.0, opacity))
        self.update()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        cursor = Qt.CursorShape.ArrowCursor if mode == MODE_VIEW else Qt.CursorShape.CrossCursor
        self.setCursor(cursor)

    def set_highlight(self, box: Box | None, mask_png: bytes | None, label: str = "") -> None:
        """Show the stored highlight the tools edit (or none), labelled `label`."""
        self.box = box
        self.mask = _load_mask(mask_png) if mask_png else None
        self.highlight_label = label
        self.update()

    def clear_highlight(self) -> None:
        self.set_highlight(None, None)

    def set_marks(self, marks: list[Mark]) -> None:
        """Show these stored highlights, each with its label."""
        self.marks = list(marks)
        self.update()

    def set_text_boxes(self, boxes: list[tuple[Fraction, ...]]) -> None:
        """Outline these quadrilaterals (corners as fractions of the photo): where text was read."""
        self.text_boxes = list(boxes)
        self.update()

    def mask_png(self) -> bytes | None:
        """The brush mask as PNG bytes, or None when nothing is painted."""
        if self.mask is None or _is_blank(self.mask):
            return None
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        self.mask.save(buffer, "PNG")  # type: ignore[call-overload]
        buffer.close()
        return bytes(data.data())

    # -- geometry ----------------------------------------------------------------------------

    def image_rect(self) -> QRectF:
        """Where the photo is drawn, in widget coordinates (empty without a photo)."""
        if self._pixmap is None:
            return QRectF()
        # Fitted, small photos enlarged too: a 200-pixel photo at its own size is a stamp in the
        # middle of the viewer, its heatmap and highlight labels unreadable.
        # In floats: QSize.scaled rounds to whole pixels, so the screen-sized decode and the whole
        # photo would fit a pixel apart, and at 6x zoom the view would jump when the photo arrives.
        scale = min(self.width() / self._pixmap.width(), self.height() / self._pixmap.height())
        w, h = self._pixmap.width() * scale * self.zoom, self._pixmap.height() * scale * self.zoom
        return QRectF(_place(self.width(), w, self._focus[0]), _place(self.height(), h, self._focus[1]), w, h)

    def zoom_by(self, factor: float, at: QPointF | None = None) -> None:
        """Zoom by `factor` (1 to MAX_ZOOM times the fitted size), keeping the point of the photo
        under `at` (the widget's centre when None) where it is."""
        rect = self.image_rect()
        if rect.isEmpty():
            return
        at = at if at is not None else QPointF(self.width() / 2, self.height() / 2)
        fx, fy = (at.x() - rect.x()) / rect.width(), (at.y() - rect.y()) / rect.height()
        self.zoom = min(MAX_ZOOM, max(1.0, self.zoom * factor))
        after = self.image_rect()  # the new size (placed at the old focus)
        w, h = after.width(), after.height()
        self._focus = (fx - (at.x() - self.width() / 2) / w, fy - (at.y() - self.height() / 2) / h)
        self._settle()
        self.zoomed.emit()

    def fit(self) -> None:
        self.zoom, self._focus = 1.0, (0.5, 0.5)
        self.update()

    def _settle(self) -> None:
        """The focus the photo is drawn at, once kept from leaving a gap beside it."""
        rect = self.image_rect()
        self._focus = (
            (self.width() / 2 - rect.x()) / rect.width(),
            (self.height() / 2 - rect.y()) / rect.height(),
        )
        self.update()

    def to_fraction(self, pos: QPointF, clamp: bool = False) -> Fraction | None:
        rect = self.image_rect()
        if rect.isEmpty():
            return None
        fx = (pos.x() - rect.x()) / rect.width()
        fy = (pos.y() - rect.y()) / rect.height()
        if clamp:
            return (min(1.0, max(0.0, fx)), min(1.0, max(0.0, fy)))
        if not (0.0 <= fx < 1.0 and 0.0 <= fy < 1.0):
            return None
        return (fx, fy)

    def to_widget(self, fx: float, fy: float) -> QPointF:
        rect = self.image_rect()
        return QPointF(rect.x() + fx * rect.width(), rect.y() + fy * rect.height())

    # -- painting ----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._pixmap is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        rect = self.image_rect()
        painter.drawPixmap(rect, self._pixmap, QRectF(self._pixmap.rect()))
        if self._overlay is not None and self.overlay_opacity > 0:
            painter.setOpacity(self.overlay_opacity)
            painter.drawPixmap(rect, self._overlay, QRectF(self._overlay.rect()))
            painter.setOpacity(1.0)
        for mark in self.marks:
            self._paint_highlight(painter, mark)
        if self.mask is not None:
            self._paint_mask(painter, self.mask, HIGHLIGHT_COLOUR)
        if self.text_boxes:
            painter.setPen(QPen(TEXT_BOX_COLOUR, 2))
            painter.setBrush(QColor(240, 170, 20, 35))
            for corners in self.text_boxes:
                painter.drawPolygon(QPolygonF([self.to_widget(x, y) for x, y in corners]))
        box = self._pending_box() or self.box
        if box is not None:
            pen = QPen(HIGHLIGHT_COLOUR, 2)
            if self._drag_start is not None:
                pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(QColor(47, 111, 222, 40))
            painter.drawRect(QRectF(self.to_widget(box[0], box[1]), self.to_widget(box[2], box[3])))
        label_box = box if box is not None else (_bounds(self.mask) if self.mask is not None else None)
        if self.highlight_label and label_box is not None and self._drag_start is None:
            self._paint_label(painter, label_box, self.highlight_label, HIGHLIGHT_COLOUR)
        painter.end()

    def _paint_mask(self, painter: QPainter, mask: QImage, colour: QColor) -> None:
        tint = QImage(mask.size(), QImage.Format.Format_ARGB32_Premultiplied)
        tint.fill(colour)
        tint.setAlphaChannel(mask)
        painter.setOpacity(0.45)
        painter.drawImage(self.image_rect(), tint)
        painter.setOpacity(1.0)

    def _paint_highlight(self, painter: QPainter, mark: Mark) -> None:
        box = mark.box
        if mark.mask is not None:
            self._paint_mask(painter, mark.mask, mark.colour)
        elif box is not None:
            fill = QColor(mark.colour)
            fill.setAlpha(40)
            painter.setPen(QPen(mark.colour, 2))
            painter.setBrush(fill)
            painter.drawRect(QRectF(self.to_widget(box[0], box[1]), self.to_widget(box[2], box[3])))
        if box is not None and mark.label:
            self._paint_label(painter, box, mark.label, mark.colour)

    def _paint_label(self, painter: QPainter, box: Box, label: str, colour: QColor) -> None:
        """The label in a filled tab on the box's top edge (inside the photo when the box touches its top)."""
        metrics = QFontMetrics(painter.font())
        width, height = metrics.horizontalAdvance(label) + 10, metrics.height() + 4
        corner = self.to_widget(box[0], box[1])
        top = corner.y() - height if corner.y() - height >= self.image_rect().top() else corner.y()
        tab = QRectF(corner.x(), top, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRect(tab)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(tab, Qt.AlignmentFlag.AlignCenter, label)

    # -- mouse -------------------------------------------------------------------------------

    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / 120
        if notches and self._pixmap is not None:
            self.zoom_by(ZOOM_STEP**notches, event.position())
            event.accept()
        else:
            super().wheelEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """Fitted -> the photo's own pixels (at least twice the fitted size) there, and back."""
        if self.mode != MODE_VIEW or self._pixmap is None or event.button() != Qt.MouseButton.LeftButton:
            super().mouseDoubleClickEvent(event)
        elif self.zoom > 1.0:
            self.fit()
        else:
            self.zoom_by(max(2.0, self._pixmap.width() / self.image_rect().width()), event.position())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.mode == MODE_VIEW and self.zoom > 1.0:
            self._pan = (event.position(), self._focus)
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() != Qt.MouseButton.LeftButton or self.mode == MODE_VIEW:
            super().mousePressEvent(event)
            return
        point = self.to_fraction(event.position(), clamp=True)
        if point is None:
            return
        if self.mode == MODE_BOX:
            self._drag_start = self._drag_now = point
        else:
            self._painting = True
            self._paint_at(point)
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        # Drags are tracked by our own state, not event.buttons(): synthetic test events and some
        # tablets report no buttons on moves.
        if self._pan is not None:
            (start, (fx, fy)), rect = self._pan, self.image_rect()
            moved = event.position() - start
            self._focus = (fx - moved.x() / rect.width(), fy - moved.y() / rect.height())
            self._settle()
        elif self._drag_start is not None:
            self._drag_now = self.to_fraction(event.position(), clamp=True)
            self.update()
        elif self._painting:
            point = self.to_fraction(event.position(), clamp=True)
            if point is not None:
                self._paint_at(point)
        self.hovered.emit(self.to_fraction(event.position()))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan is not None:
            self._pan = None
            self.unsetCursor()
        elif self._drag_start is not None:
            self._drag_now = self.to_fraction(event.position(), clamp=True)
            box = self._pending_box()
            self._drag_start = self._drag_now = None
            if box is not None and box[2] - box[0] > 0.005 and box[3] - box[1] > 0.005:
                self.box = box
                self.mask = None
                self.box_drawn.emit(box)
            self.update()
        elif self._painting:
            self._painting = False
            self.mask_edited.emit()
        else:
            super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:
        self.hovered.emit(None)
        super().leaveEvent(event)

    def _pending_box(self) -> Box | None:
        if self._drag_start is None or self._drag_now is None:
            return None
        (ax, ay), (bx, by) = self._drag_start, self._drag_now
        return (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))

    def _paint_at(self, point: Fraction) -> None:
        if self._pixmap is None:
            return
        if self.mask is None:
            size = self._pixmap.size().scaled(MASK_SIZE, MASK_SIZE, Qt.AspectRatioMode.KeepAspectRatio)
            self.mask = QImage(size, QImage.Format.Format_Grayscale8)
            self.mask.fill(0)
            self.box = None
        w, h = self.mask.width(), self.mask.height()
        radius = self.brush_radius * max(w, h)
        painter = QPainter(self.mask)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0) if self.mode == MODE_ERASE else QColor(255, 255, 255))
        painter.drawEllipse(QPointF(point[0] * w, point[1] * h), radius, radius)
        painter.end()
        self.update()


def _load_mask(png: bytes) -> QImage | None:
    image = QImage.fromData(QByteArray(png))
    return None if image.isNull() else image.convertToFormat(QImage.Format.Format_Grayscale8)


def _bounds(mask: QImage) -> Box | None:
    """The painted area's bounds as fractions of the mask, or None when nothing is painted."""
    w, h = mask.width(), mask.height()
    rows = np.frombuffer(bytes(mask.constBits()), np.uint8).reshape(h, mask.bytesPerLine())[:, :w]
    ys, xs = np.nonzero(rows)
    if not len(xs):
        return None
    return (xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h)


def _is_blank(mask: QImage) -> bool:
    return not bytes(mask.constBits()).strip(b"\0")


def _place(room: float, length: float, focus: float) -> float:
    """Where a photo `length` long starts in a widget `room` long, to show its point `focus` (a
    fraction) at the centre: centred when it fits, else never leaving a gap at either end."""
    if length <= room:
        return (room - length) / 2
    return min(0.0, max(room - length, room / 2 - focus * length))
