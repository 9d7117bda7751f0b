"""Heatmaps in the viewer: the toggle overlays the query's map, one chip per word plus the whole
text (and one per tag the text names), and the value under the pointer is the engine's map value in
that patch-grid cell."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from personal_bench import build_library
from personal_world import make_concepts, personal_world, pointing_hit
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel

from app.gui.heatmap import TAG_MAP, WHOLE_TEXT, HeatmapBar, HeatmapResult, compute_overlays
from engine.heatmaps import compute_heatmap
from engine.photos import open_image
from tests.app.journeys import index_folders

INDEX_TIMEOUT = 120_000


def _index(qtbot, window, folder: Path) -> None:
    index_folders(qtbot, window, folder)


def _hover(qtbot, canvas, fx: float, fy: float) -> tuple[float, float]:
    """Move the pointer to about (fx, fy) of the photo; returns the fractions actually pointed at."""
    rect = canvas.image_rect()
    point = QPoint(round(rect.x() + fx * rect.width()), round(rect.y() + fy * rect.height()))
    qtbot.mouseMove(canvas, point)
    return (point.x() - rect.x()) / rect.width(), (point.y() - rect.y()) / rect.height()


def _cell(grid, fx: float, fy: float) -> float:
    rows, cols = grid.shape
    return float(grid[int(fy * rows), int(fx * cols)])


def test_heatmap_toggle_overlays_the_query_with_chips_and_hover_values(qtbot, window, photo_dir: Path):
    window.resize(1000, 700)
    width = window.width()
    _index(qtbot, window, photo_dir)
    with qtbot.waitSignal(window.search.results_updated, timeout=30_000):
        window.search.search_text("a red car on the street")
    qtbot.waitUntil(lambda: not window.search.busy)
    window.views.results.set_show_weaker(True)  # a random tiny model may match nothing
    window.viewer_control.open(0)
    viewer = window.views.viewer
    qtbot.waitUntil(lambda: viewer.image is not None, timeout=20_000)
    assert not viewer.photo.has_overlay()

    with qtbot.waitSignal(viewer.heatmap_ready, timeout=30_000):
        viewer.set_heatmap(True)
    assert viewer.photo.has_overlay()
    assert viewer.heatmap_bar.chip_keys() == [WHOLE_TEXT, "red", "car", "street"]
    assert viewer.heatmap_bar.current_key() == WHOLE_TEXT

    encoder = window.state.library.encoder()
    image, _ = open_image(viewer.hit.path, min_size=encoder.image_size)
    expected = compute_heatmap(encoder, image, "a red car on the street")
    fx, fy = _hover(qtbot, viewer.photo, 0.3, 0.7)
    assert viewer.hover_value == pytest.approx(_cell(expected.text_map, fx, fy), abs=1e-4)

    # A word's chip switches the map (and the overlay image) the hover reads.
    whole = viewer.photo._overlay.toImage()
    qtbot.mouseClick(viewer.heatmap_bar.chip("car"), Qt.MouseButton.LeftButton)
    assert viewer.heatmap_bar.current_key() == "car"
    assert viewer.photo._overlay.toImage() != whole
    fx, fy = _hover(qtbot, viewer.photo, 0.8, 0.2)
    assert viewer.hover_value == pytest.approx(_cell(expected.maps["car"], fx, fy), abs=1e-4)

    # The controls never widen the window, whatever the text; no debug readout is shown.
    long_text = "Canon_40D photo of a red car parked on a wet street at night under orange lamps"
    with qtbot.waitSignal(viewer.heatmap_ready, timeout=30_000):
        viewer.heatmap_bar.text.setText(long_text)
        viewer.heatmap_bar.text.returnPressed.emit()
    assert "Canon_40D" in viewer.heatmap_bar.chip_keys()  # a whole word, not its tokenizer pieces
    qtbot.wait(50)
    assert window.width() == width and window.minimumSizeHint().width() <= width
    assert not any(":" in label.text() for label in viewer.heatmap_bar.findChildren(QLabel))

    # Opacity only repaints; a text typed in the viewer replaces the query; off removes the overlay.
    viewer.heatmap_bar.opacity.setValue(80)
    assert viewer.photo.overlay_opacity == pytest.approx(0.8)
    with qtbot.waitSignal(viewer.heatmap_ready, timeout=30_000):
        viewer.heatmap_bar.text.setText("blue sky")
        viewer.heatmap_bar.text.returnPressed.emit()
    assert viewer.heatmap_bar.chip_keys() == [WHOLE_TEXT, "blue", "sky"]
    assert viewer.heatmaps.get(viewer.hit.path, "a red car on the street") is not None  # cached
    viewer.set_heatmap(False)
    assert not viewer.photo.has_overlay() and viewer.heat is None


def test_a_tag_name_gets_a_chip_of_where_its_tagged_photos_find_it(qtbot, tmp_path, make_library, personal_encoder):
    world = personal_world(make_concepts(["rex"], 11), seed=11, tagged=20, held_out=12, decoys=24, generic=60)
    wl = build_library(world, tmp_path, functools.partial(make_library, encoder=personal_encoder))
    rex = sorted(world.relevant("rex"))
    results = [compute_overlays(wl.library, wl.paths[i], "rex on a sofa") for i in rex]
    assert list(results[0].images) == [WHOLE_TEXT, "rex", "sofa", "rex" + TAG_MAP]
    bar = HeatmapBar()
    qtbot.addWidget(bar)
    bar.set_chips([key for key in results[0].images if key != WHOLE_TEXT])
    assert bar.chip("rex" + TAG_MAP).toolTip() == "Where the photos you tagged “rex” find it"
    # The tag's map points at Rex in photos nobody tagged.
    hits = [pointing_hit(r.map_of("rex" + TAG_MAP), world.library[i].box) for r, i in zip(results, rex, strict=True)]
    assert sum(hits) >= 0.9 * len(hits)


def test_a_text_naming_a_tag_opens_on_its_tag_map_until_another_is_picked(qtbot, window):
    """The model's own map of a name it never learnt points anywhere: the tag's map is shown first.
    A chip the user picks stays picked from photo to photo of the same text."""
    viewer, bar = window.views.viewer, window.views.viewer.heatmap_bar
    image = QImage(8, 8, QImage.Format.Format_RGB32)

    def ready(path: str, text: str, *keys: str) -> str:
        viewer._heat_ready(HeatmapResult(path, text, None, {k: image for k in (WHOLE_TEXT, *keys)}))  # type: ignore[arg-type]
        return bar.current_key()

    assert ready("a.jpg", "rex", "rex", "rex" + TAG_MAP) == "rex" + TAG_MAP
    assert ready("a.jpg", "a red car", "red", "car") == WHOLE_TEXT
    assert ready("a.jpg", "rex on a sofa", "rex", "sofa", "rex" + TAG_MAP) == "rex" + TAG_MAP
    bar.chip("sofa").click()
    assert ready("b.jpg", "rex on a sofa", "rex", "sofa", "rex" + TAG_MAP) == "sofa"
    bar.chip(WHOLE_TEXT).click()
    assert ready("c.jpg", "rex on a sofa", "rex", "sofa", "rex" + TAG_MAP) == WHOLE_TEXT
    assert ready("c.jpg", "rex", "rex", "rex" + TAG_MAP) == "rex" + TAG_MAP  # a new text: its own default
