"""Text in photos in the app: the OCR pass runs after indexing, the viewer shows the text and boxes."""

from __future__ import annotations

from pathlib import Path

from tests.text_images import noise_background, render_text

TIMEOUT = 120_000


def test_text_is_read_after_indexing_and_shown_in_the_viewer(qtbot, window, tmp_path: Path):
    folder = tmp_path / "signs"
    folder.mkdir()
    render_text("HARBOUR", size=44, background=noise_background((480, 360), 1)).save(folder / "sign.png")
    noise_background((480, 360), 2).save(folder / "wall.png")

    with qtbot.waitSignal(window.indexing.text_finished, timeout=TIMEOUT) as done:
        window.library_control.add_folders([str(folder)])
    assert done.args[0].found == 1 and done.args[0].skipped == 1

    with qtbot.waitSignal(window.search.results_updated, timeout=30_000):
        window.search.search_text("harbour")
    qtbot.waitUntil(lambda: not window.search.busy)
    assert window.views.results.paths()[0] == str(folder / "sign.png")  # the match
    window.views.results.set_show_weaker(True)  # the wall is a weaker result
    paths = window.views.results.paths()
    viewer = window.views.viewer
    with qtbot.waitSignal(viewer.text_loaded, timeout=10_000):
        window.viewer_control.open(paths.index(str(folder / "sign.png")))
    assert viewer.text_label.text() == "HARBOUR" and viewer.text_label.isVisibleTo(window)
    assert len(viewer.photo.text_boxes) == 1
    viewer.text_boxes_toggle.setChecked(False)
    assert viewer.photo.text_boxes == []

    with qtbot.waitSignal(viewer.text_loaded, timeout=10_000):
        window.viewer_control.open(paths.index(str(folder / "wall.png")))
    assert not viewer.text_label.isVisibleTo(window) and viewer.photo.text_boxes == []
