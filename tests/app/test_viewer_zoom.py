"""Zoomed past the pixels decoded for viewing, the viewer decodes the whole photo and keeps the view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF

from app.gui.viewer import VIEW_SIZE
from tests.app.journeys import index_folders


def test_zooming_in_decodes_the_whole_photo_at_the_same_view(qtbot, window, tmp_path: Path):
    folder = tmp_path / "big"
    folder.mkdir()
    pixels = np.random.default_rng(0).integers(0, 255, (2000, 3000, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "big.png")
    index_folders(qtbot, window, folder)
    qtbot.waitUntil(lambda: window.views.results.rowCount() == 1 and not window.search.busy, timeout=30_000)
    window.viewer_control.open(0)
    viewer = window.views.viewer
    qtbot.waitUntil(lambda: viewer.image is not None, timeout=20_000)
    assert viewer.image.width() == VIEW_SIZE  # what opening decodes

    canvas = viewer.photo
    pointer = QPointF(canvas.width() / 3, canvas.height() / 3)
    canvas.zoom_by(1.1, pointer)  # still sharp: nothing more to decode
    assert not viewer._full_requested
    canvas.zoom_by(6.0, pointer)
    where, zoom = canvas.to_fraction(pointer), canvas.zoom
    qtbot.waitUntil(lambda: viewer.image.width() == 3000, timeout=20_000)
    # The same view, sharper: the same place under the pointer, up to the screen-sized decode's
    # height rounded to whole pixels (1365 for 1365.3: 2.4e-4 of it).
    assert canvas.zoom == zoom and canvas.to_fraction(pointer) == pytest.approx(where, abs=2e-4)
    viewer.show_hit(viewer.hit, 0, 1)  # opened again: the screen-sized decode, fitted
    qtbot.waitUntil(lambda: viewer.image is not None, timeout=20_000)
    assert viewer.image.width() == VIEW_SIZE and canvas.zoom == 1.0
