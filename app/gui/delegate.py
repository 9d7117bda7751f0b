"""Paints one result: the thumbnail fitted into a rounded square, the file name beneath."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from .results_model import ThumbFailedRole

PADDING = 6
CAPTION = 20
RADIUS = 8.0


class ThumbnailDelegate(QStyledItemDelegate):
    def __init__(self, thumb_size: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.thumb_size = thumb_size

    def cell_size(self) -> QSize:
        return QSize(self.thumb_size + 2 * PADDING, self.thumb_size + 2 * PADDING + CAPTION)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell_size()

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        rect = option.rect  # type: ignore[attr-defined]
        palette = option.palette  # type: ignore[attr-defined]
        state = option.state  # type: ignore[attr-defined]
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)

        cell = QRectF(rect).adjusted(2, 2, -2, -2)
        if selected or hovered:
            colour = QColor(palette.color(QPalette.ColorRole.Highlight))
            colour.setAlpha(90 if selected else 35)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(cell, RADIUS + 2, RADIUS + 2)

        box = QRect(rect.x() + PADDING, rect.y() + PADDING, self.thumb_size, self.thumb_size)
        image = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(image, QImage) and not image.isNull():
            scaled = image.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRectF(
                box.x() + (box.width() - scaled.width()) / 2,
                box.y() + (box.height() - scaled.height()) / 2,
                scaled.width(),
                scaled.height(),
            )
            clip = QPainterPath()
            clip.addRoundedRect(target, RADIUS, RADIUS)
            painter.setClipPath(clip)
            painter.drawImage(target, image)
            painter.setClipping(False)
        else:
            placeholder = QColor(palette.color(QPalette.ColorRole.Mid))
            placeholder.setAlpha(60)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(placeholder)
            painter.drawRoundedRect(QRectF(box).adjusted(8, 8, -8, -8), RADIUS, RADIUS)
            if index.data(ThumbFailedRole):
                painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
                painter.drawText(box, Qt.AlignmentFlag.AlignCenter, "Cannot read")

        caption = QRect(rect.x() + PADDING, box.bottom() + 3, self.thumb_size, CAPTION - 4)
        name = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        metrics = option.fontMetrics  # type: ignore[attr-defined]
        painter.setPen(
            palette.color(QPalette.ColorRole.Text if selected else QPalette.ColorRole.PlaceholderText)
        )
        painter.drawText(
            caption,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, caption.width()),
        )
        painter.restore()
