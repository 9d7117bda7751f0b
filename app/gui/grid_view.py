"""The results grid: a justified layout (justified.py) over the results model, with a header per
month when sorted by date, a divider above the weaker results, and a button after the matches that
opens them.

Only the rows in view are painted; the layout is recomputed from the model's aspect ratios when
the contents, the width or the row height change (never from decoded images).
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, QPoint, QRect, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QRegion,
    QResizeEvent,
)
from PySide6.QtWidgets import QAbstractItemView, QPushButton, QStyle, QStyleOptionViewItem, QWidget

from .justified import JustifiedLayout, Metrics, Section
from .results_model import ResultsModel

HEADER_HEIGHT = 44
FOOTER_HEIGHT = 64


class PhotoGrid(QAbstractItemView):
    """A QAbstractItemView over a `ResultsModel`. `weaker_button` opens or closes the weaker
    results; `headers()` are the section titles laid out now."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._layout = JustifiedLayout([], [], Metrics(1, 1))
        self._hover = QModelIndex()
        self.weaker_button = QPushButton(self.viewport())
        self.weaker_button.setObjectName("weakerButton")
        self.weaker_button.hide()
        self.weaker_button.clicked.connect(self._toggle_weaker)
        self.viewport().setMouseTracking(True)  # hover: the file name and the mark buttons
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)  # a steady width

    # -- the model ---------------------------------------------------------------------------

    def results(self) -> ResultsModel | None:
        model = self.model()
        return model if isinstance(model, ResultsModel) else None

    def setModel(self, model) -> None:  # type: ignore[override]
        old = self.results()
        if old is not None:
            for signal in self._layout_signals(old):
                signal.disconnect(self._model_changed)
        super().setModel(model)
        if isinstance(model, ResultsModel):
            for signal in self._layout_signals(model):
                signal.connect(self._model_changed)
        self.relayout()

    @staticmethod
    def _layout_signals(model: ResultsModel) -> list:
        return [model.modelReset, model.rowsInserted, model.rowsRemoved, model.layoutChanged]

    def _model_changed(self, *_args: object) -> None:
        self._hover = QModelIndex()
        self.relayout()

    def relayout(self) -> JustifiedLayout:
        """Lay the rows out again (the contents, the width or the row height changed). Done at
        once, never from inside Qt's own calls (indexAt, visualRect): those read the last layout."""
        model = self.results()
        width = self.viewport().width()
        footer = FOOTER_HEIGHT if model is not None and model.weaker else 0
        metrics = Metrics(
            width, model.thumb_size if model else 192, header_height=HEADER_HEIGHT, footer_height=footer
        )
        aspects = model.aspects() if model else []
        sections = model.sections() if model else [Section("", 0, 0)]
        self._layout = JustifiedLayout(aspects, sections, metrics, model.heights() if model else None)
        self._place_button()
        self.updateGeometries()
        self.viewport().update()
        return self._layout

    @property
    def grid_layout(self) -> JustifiedLayout:
        """Where everything is (content coordinates)."""
        return self._layout

    def hovered(self) -> QModelIndex:
        """The photo under the pointer (invalid when none)."""
        return QModelIndex(self._hover)

    def headers(self) -> list[str]:
        return [h.section.title for h in self.grid_layout.headers]

    # -- the weaker results ------------------------------------------------------------------

    def _toggle_weaker(self) -> None:
        model = self.results()
        if model is not None:
            model.set_show_weaker(not model.show_weaker)

    def _place_button(self) -> None:
        model, button = self.results(), self.weaker_button
        if model is None or not model.weaker:
            button.hide()
            return
        n, total = model.weaker, model.weaker_total
        noun = "result" if n == 1 else "results"
        some = f"the best {n:,} of {total:,} weaker results" if total > n else f"{n:,} weaker {noun}"
        if model.show_weaker:
            button.setText(f"Hide {some}" if total > n else f"Hide the {n:,} weaker {noun}")
        elif model.matches:
            button.setText(f"Show {some}")
        else:
            button.setText(f"No close matches · Show {some}")
        hint = button.sizeHint()
        y = self._layout.footer_y + (FOOTER_HEIGHT - hint.height()) // 2 - self.verticalOffset()
        button.setGeometry(QRect(QPoint((self.viewport().width() - hint.width()) // 2, y), hint))
        button.show()

    # -- geometry (QAbstractItemView's API) --------------------------------------------------

    def visualRect(self, index: QModelIndex) -> QRect:  # type: ignore[override]
        layout = self.grid_layout
        if not index.isValid() or not 0 <= index.row() < len(layout):
            return QRect()
        x, y, w, h = layout.rect(index.row())
        return QRect(x, y - self.verticalOffset(), w, h)

    def indexAt(self, point: QPoint) -> QModelIndex:
        item = self.grid_layout.item_at(point.x(), point.y() + self.verticalOffset())
        model = self.model()
        return model.index(item, 0) if item is not None and model is not None else QModelIndex()

    def scrollTo(self, index: QModelIndex, hint=QAbstractItemView.ScrollHint.EnsureVisible) -> None:  # type: ignore[override]
        if not index.isValid():
            return
        _, y, _, h = self.grid_layout.rect(index.row())
        top, view = self.verticalOffset(), self.viewport().height()
        if hint == QAbstractItemView.ScrollHint.PositionAtTop:
            self.verticalScrollBar().setValue(y)
        elif hint == QAbstractItemView.ScrollHint.PositionAtCenter:
            self.verticalScrollBar().setValue(y + h // 2 - view // 2)
        elif y < top:
            self.verticalScrollBar().setValue(y - 8)
        elif y + h > top + view:
            self.verticalScrollBar().setValue(y + h - view + 8)

    def horizontalOffset(self) -> int:
        return 0

    def verticalOffset(self) -> int:
        return self.verticalScrollBar().value()

    def isIndexHidden(self, index: QModelIndex) -> bool:  # type: ignore[override]
        return False

    def moveCursor(self, action: QAbstractItemView.CursorAction, modifiers) -> QModelIndex:  # type: ignore[override]
        model, layout = self.model(), self.grid_layout
        count = len(layout)
        if model is None or not count:
            return QModelIndex()
        current = self.currentIndex().row() if self.currentIndex().isValid() else -1
        A = QAbstractItemView.CursorAction
        if current < 0:
            return model.index(0, 0)
        x, y, w, h = layout.rect(current)
        row = layout.row_of(current)
        target = current
        if action in (A.MoveRight, A.MoveNext):
            target = current + 1
        elif action in (A.MoveLeft, A.MovePrevious):
            target = current - 1
        elif action == A.MoveDown and row + 1 < layout.rows:
            target = layout.nearest_in_row(row + 1, x + w // 2)
        elif action == A.MoveUp and row > 0:
            target = layout.nearest_in_row(row - 1, x + w // 2)
        elif action in (A.MovePageDown, A.MovePageUp):
            step = self.viewport().height() * (1 if action == A.MovePageDown else -1)
            found = layout.nearest(x + w // 2, max(0, y + h // 2 + step))
            target = current if found is None else found
        elif action == A.MoveHome:
            target = 0
        elif action == A.MoveEnd:
            target = count - 1
        return model.index(min(max(target, 0), count - 1), 0)

    def setSelection(self, rect: QRect, command: QItemSelectionModel.SelectionFlag) -> None:  # type: ignore[override]
        """Select the photos from the one at the rectangle's first corner to the one at its second,
        in reading order (a Shift+click selects a run of photos, as in a photo app)."""
        model, layout, offset = self.model(), self.grid_layout, self.verticalOffset()
        if model is None or not len(layout):
            return
        a = layout.nearest(rect.left(), rect.top() + offset)
        b = layout.nearest(rect.right(), rect.bottom() + offset)
        if a is None or b is None:
            return
        first, last = min(a, b), max(a, b)
        selection = QItemSelection(model.index(first, 0), model.index(last, 0))
        self.selectionModel().select(selection, command)

    def visualRegionForSelection(self, selection: QItemSelection) -> QRegion:
        region = QRegion()
        offset = self.verticalOffset()
        shown = self.grid_layout.items_between(offset, offset + self.viewport().height())
        for n in range(selection.count()):
            part = selection.at(n)
            for row in range(max(part.top(), shown.start), min(part.bottom() + 1, shown.stop)):
                region += self.visualRect(self.model().index(row, 0))
        return region

    def updateGeometries(self) -> None:
        bar = self.verticalScrollBar()
        view = self.viewport().height()
        bar.setRange(0, max(0, self._layout.height - view))
        bar.setPageStep(view)
        bar.setSingleStep(48)
        super().updateGeometries()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        self.viewport().scroll(dx, dy)
        self._place_button()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        model = self.results()
        if model is not None:  # shown, or moved to another screen: thumbnails for its pixels
            model.set_pixel_ratio(self.devicePixelRatioF())
        if event.size().width() != event.oldSize().width():
            self.relayout()
        else:
            self.updateGeometries()
            self._place_button()

    def sizeHint(self) -> QSize:
        return QSize(800, 600)

    # -- hover and painting ------------------------------------------------------------------

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        super().mouseMoveEvent(event)
        index = self.indexAt(event.position().toPoint())
        if index != self._hover:
            old, self._hover = self._hover, QModelIndex(index)
            for i in (old, index):
                if i.isValid():
                    self.viewport().update(self.visualRect(i))

    def leaveEvent(self, event) -> None:
        super().leaveEvent(event)
        if self._hover.isValid():
            old, self._hover = self._hover, QModelIndex()
            self.viewport().update(self.visualRect(old))

    def paintEvent(self, event: QPaintEvent) -> None:
        model, layout = self.model(), self.grid_layout
        painter = QPainter(self.viewport())
        offset = self.verticalOffset()
        area = event.rect()
        top, bottom = area.top() + offset, area.bottom() + offset + 1
        for header in layout.headers_between(top, bottom):
            self._paint_header(
                painter, header.section, QRect(0, header.y - offset, self.viewport().width(), header.height)
            )
        if model is None:
            return
        delegate = self.itemDelegate()
        selection = self.selectionModel()
        current = self.currentIndex()
        for row in layout.items_between(top, bottom):
            index = model.index(row, 0)
            option = QStyleOptionViewItem()
            self.initViewItemOption(option)
            x, y, w, h = layout.rect(row)
            option.rect = QRect(x, y - offset, w, h)  # type: ignore[attr-defined]
            state = option.state  # type: ignore[attr-defined]
            if selection is not None and selection.isSelected(index):
                state |= QStyle.StateFlag.State_Selected
            if index == self._hover:
                state |= QStyle.StateFlag.State_MouseOver
            if index == current and self.hasFocus():
                state |= QStyle.StateFlag.State_HasFocus
            option.state = state  # type: ignore[attr-defined]
            delegate.paint(painter, option, index)

    def _paint_header(self, painter: QPainter, section: Section, band: QRect) -> None:
        margin = self._layout.metrics.margin
        text = band.adjusted(margin + 4, 0, -margin, -6)
        palette = self.palette()
        painter.save()
        if section.kind == "weaker":  # a divider: the line the search drew between match and not
            painter.setFont(self.font())
            width = painter.fontMetrics().horizontalAdvance(section.title) + 24
            label = QRect(band.center().x() - width // 2, band.top(), width, band.height() - 4)
            middle = label.center().y()
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1))
            painter.drawLine(band.left() + margin, middle, label.left(), middle)
            painter.drawLine(label.right(), middle, band.right() - margin, middle)
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(label, Qt.AlignmentFlag.AlignCenter, section.title)
        else:
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.2)
            font.setWeight(QFont.Weight.DemiBold)
            painter.setFont(font)
            painter.setPen(QColor(palette.color(QPalette.ColorRole.Text)))
            count = section.end - section.start
            painter.drawText(text, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, section.title)
            title_width = painter.fontMetrics().horizontalAdvance(section.title)
            painter.setFont(self.font())
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                text.adjusted(title_width + 10, 0, 0, -1),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                f"{count:,} photo{'s' if count != 1 else ''}",
            )
        painter.restore()
