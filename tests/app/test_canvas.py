"""The viewer's photo surface: a photo is fitted to the viewer whatever its size, and the pointer's
position is read in fractions of the photo."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QSize
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
