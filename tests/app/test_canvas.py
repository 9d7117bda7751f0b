"""The viewer's photo surface: a photo is fitted to the viewer whatever its size, zooms about the
pointer and moves with a drag, and the pointer's position is read in fractions of the photo."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QImage

from app.gui.canvas import PhotoCanvas


def test_a_photo_is_fitted_to_the_viewer_small_ones_enlarged(qtbot):
    canvas = PhotoCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(900, 600)
    for size in (QSize(64, 64), QSize(4000, 3000), QSize(300, 900)):
        canvas.set_image(QImage(size, QImage.Format.Format_RGB32))
        rect = canvas.image_rect()
        scale = min(900 / size.width(), 600 / size.height())
        assert abs(rect.width() - size.width() * scale) < 1e-6
        assert abs(rect.height() - size.height() * scale) < 1e-6
        assert rect.center() == QPointF(450, 300)
    canvas.set_image(QImage(QSize(64, 64), QImage.Format.Format_RGB32))  # 600 x 600, from x = 150
    assert canvas.to_fraction(QPointF(150 + 150, 450)) == (0.25, 0.75)
    assert canvas.to_fraction(QPointF(100, 300)) is None  # beside the photo


def test_zooming_keeps_the_point_under_the_pointer_and_a_drag_moves_the_photo(qtbot):
    canvas = PhotoCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(800, 600)
    canvas.set_image(QImage(QSize(1600, 1200), QImage.Format.Format_RGB32))  # fitted: 800 x 600
    pointer = QPointF(200, 150)
    before = canvas.to_fraction(pointer)
    canvas.zoom_by(2.0, pointer)
    assert canvas.image_rect().width() == 1600
    after = canvas.to_fraction(pointer)
    assert after is not None and before is not None
    assert abs(after[0] - before[0]) < 1e-9 and abs(after[1] - before[1]) < 1e-9
    # Zoomed at a corner, the photo still covers the widget: no gap at its edge.
    canvas.zoom_by(1.0, QPointF(0, 0))
    rect = canvas.image_rect()
    assert rect.left() <= 0 and rect.top() <= 0 and rect.right() >= 800 and rect.bottom() >= 600

    # A drag moves the photo with the pointer (not a box: the canvas is in view mode).
    left = canvas.image_rect().left()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(400, 300))
    qtbot.mouseMove(canvas, QPoint(300, 300))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(300, 300))
    assert canvas.image_rect().left() == left - 100 and canvas.box is None
    # No further than the photo's edge; zoomed out, fitted again; a new photo starts fitted.
    canvas.zoom_by(1 / 100)
    assert canvas.zoom == 1.0 and canvas.image_rect() == QRectF(0, 0, 800, 600)
    canvas.zoom_by(8.0)
    canvas.set_image(QImage(QSize(1600, 1200), QImage.Format.Format_RGB32))
    assert canvas.zoom == 1.0 and canvas.image_rect().width() == 800


def test_a_double_click_shows_the_photo_at_its_own_pixels_and_back(qtbot):
    canvas = PhotoCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(800, 600)
    canvas.set_image(QImage(QSize(2400, 1800), QImage.Format.Format_RGB32))
    qtbot.mouseDClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(400, 300))
    assert canvas.image_rect().width() == 2400  # one photo pixel to one screen pixel
    qtbot.mouseDClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(400, 300))
    assert canvas.zoom == 1.0 and canvas.image_rect().width() == 800
