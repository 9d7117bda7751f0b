"""Paints one result in the justified grid: the thumbnail filling its cell (never above the photo's
own size), the "more like this" / "not like this" mark, and on hover the file name and the two
mark buttons."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QLinearGradient, QMouseEvent, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from .results_model import MarkRole, NativeSizeRole, PathRole, ThumbFailedRole

RADIUS = 4.0
BUTTON = 26  # diameter of a mark button
LIKE_COLOUR = QColor("#2e7d32")
UNLIKE_COLOUR = QColor("#c62828")
LIKE, UNLIKE = True, False

_Index = QModelIndex | QPersistentModelIndex


def mark_buttons(cell: QRect) -> tuple[QRect, QRect] | None:
    """Where the "more like this" and "not like this" buttons sit in a cell (None: too small)."""
    if cell.width() < 2 * BUTTON + 24 or cell.height() < BUTTON + 16:
        return None
    top = cell.top() + 6
    unlike = QRect(cell.right() - 6 - BUTTON + 1, top, BUTTON, BUTTON)
    like = unlike.translated(-(BUTTON + 4), 0)
    return like, unlike


class ThumbnailDelegate(QStyledItemDelegate):
    """`mark_clicked(path, good)`: a hover button was clicked (good: "more like this")."""

    mark_clicked = Signal(str, bool)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        rect: QRect = option.rect  # type: ignore[attr-defined]
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        state = option.state  # type: ignore[attr-defined]
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)
        mark = index.data(MarkRole)

        cell = QRectF(rect)
        shape = QPainterPath()
        shape.addRoundedRect(cell, RADIUS, RADIUS)
        placeholder = QColor(palette.color(QPalette.ColorRole.Mid))
        placeholder.setAlpha(45)
        painter.fillPath(shape, placeholder)
        image = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(image, QImage) and not image.isNull():
            target = self.image_rect(cell, image, index)
            clip = QPainterPath()
            clip.addRoundedRect(target, RADIUS, RADIUS)
            painter.setClipPath(clip)
            painter.drawImage(target, image)
            painter.setClipping(False)
        elif index.data(ThumbFailedRole):
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "Cannot read")

        if mark is UNLIKE:  # faded: the user said it is not what they look for
            painter.fillPath(shape, QColor(255, 255, 255, 150))
        if hovered:
            self._paint_name(painter, option, index, cell)
        if selected:
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(cell.adjusted(1.5, 1.5, -1.5, -1.5), RADIUS, RADIUS)
        if mark is not None:
            badge = QRect(rect.left() + 6, rect.top() + 6, BUTTON - 4, BUTTON - 4)
            self._paint_button(painter, badge, good=mark, filled=True)
        buttons = mark_buttons(rect)
        if hovered and buttons is not None:
            self._paint_button(painter, buttons[0], good=True, filled=mark is LIKE)
            self._paint_button(painter, buttons[1], good=False, filled=mark is UNLIKE)
        painter.restore()

    @staticmethod
    def image_rect(cell: QRectF, image: QImage, index: _Index) -> QRectF:
        """The image fitted into the cell, centred, never larger than the photo itself (a small
        photo is shown at its own size instead of being blown up)."""
        scale = min(cell.width() / image.width(), cell.height() / image.height())
        native = index.data(NativeSizeRole)
        own = native.width() / image.width() if native is not None and native.width() > 0 else 1.0
        scale = min(scale, own)
        w, h = image.width() * scale, image.height() * scale
        return QRectF(cell.center().x() - w / 2, cell.center().y() - h / 2, w, h)

    def _paint_name(
        self, painter: QPainter, option: QStyleOptionViewItem, index: _Index, cell: QRectF
    ) -> None:
        strip = QRectF(cell.left(), cell.bottom() - 28, cell.width(), 28)
        shade = QLinearGradient(strip.topLeft(), strip.bottomLeft())
        shade.setColorAt(0, QColor(0, 0, 0, 0))
        shade.setColorAt(1, QColor(0, 0, 0, 150))
        path = QPainterPath()
        path.addRoundedRect(cell, RADIUS, RADIUS)
        painter.save()
        painter.setClipPath(path)
        painter.fillRect(strip, shade)
        painter.restore()
        name = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        text = strip.adjusted(8, 0, -8, -4).toRect()
        metrics = option.fontMetrics  # type: ignore[attr-defined]
        painter.setPen(QColor("white"))
        painter.drawText(
            text,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
            metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, text.width()),
        )

    @staticmethod
    def _paint_button(painter: QPainter, box: QRect, *, good: bool, filled: bool) -> None:
        colour = LIKE_COLOUR if good else UNLIKE_COLOUR
        painter.setPen(QPen(QColor("white"), 1.5))
        painter.setBrush(colour if filled else QColor(0, 0, 0, 120))
        painter.drawEllipse(QRectF(box).adjusted(1, 1, -1, -1))
        # A plus for "more like this", a minus for "not like this", drawn so no font is needed.
        c, arm = QRectF(box).center(), box.width() * 0.22
        painter.setPen(QPen(QColor("white"), 2.2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawLine(QPointF(c.x() - arm, c.y()), QPointF(c.x() + arm, c.y()))
        if good:
            painter.drawLine(QPointF(c.x(), c.y() - arm), QPointF(c.x(), c.y() + arm))

    def editorEvent(self, event: QEvent, model, option: QStyleOptionViewItem, index: _Index) -> bool:  # type: ignore[override]
        """A click on a mark button marks the photo (and does not select it)."""
        kinds = (
            QEvent.Type.MouseButtonPress,
            QEvent.Type.MouseButtonRelease,
            QEvent.Type.MouseButtonDblClick,
        )
        if event.type() not in kinds or not isinstance(event, QMouseEvent):
            return super().editorEvent(event, model, option, index)
        buttons = mark_buttons(option.rect)  # type: ignore[attr-defined]
        point = event.position().toPoint()
        for good, box in zip((LIKE, UNLIKE), buttons or (), strict=False):
            if box.contains(point):
                if (
                    event.type() == QEvent.Type.MouseButtonRelease
                    and event.button() == Qt.MouseButton.LeftButton
                ):
                    self.mark_clicked.emit(str(index.data(PathRole)), good)
                return True
        return super().editorEvent(event, model, option, index)
