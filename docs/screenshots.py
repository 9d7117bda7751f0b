"""Drive the real app through its main journeys and save a screenshot of each into docs/screenshots/.

Run it in an X server, e.g. a virtual one:

    xvfb-run -s "-screen 0 1280x860x24" .venv/bin/python docs/screenshots.py

Journeys: the first run offline (the banner), choosing a model file (the tiny test model stands in
for a downloaded one), adding a folder, a search, the viewer with its heatmap, tags with boxes, the
smart-album editor with its preview, the training dialog, a read-only library. The library lives in
a temporary folder; the sample photos (the largest of tests/data) are copied, never modified.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"
TINY = (
    str(ROOT / "tests" / "assets" / "tiny-clip.json"),
    str(ROOT / "tests" / "assets" / "pretrained-tiny.safetensors"),
)
MAX_WIDTH = 1000  # modest PNGs
SAMPLES = ROOT / "tests" / "data" / "photos" / "jpg"
# The sample photos big enough to look like photos (most camera samples there are 100 px wide).
PHOTOS = (
    "mobile/jolla.jpg",  # an autumn leaf
    "exif-org/nikon-e950.jpg",  # a cannon before a white building
    "gps/DSCN0021.jpg",  # a park with a statue
    "gps/DSCN0012.jpg",  # a path under autumn trees
    "gps/DSCN0010.jpg",  # a village on a hill
    "exif-org/kodak-dc240.jpg",  # a dog asleep on a rug
    "exif-org/canon-ixus.jpg",  # a wedding
    "orientation/landscape_1.jpg",  # a waterfall
    "Canon_PowerShot_S40.jpg",  # a frangipani flower
)
DOG = "kodak-dc240.jpg"


def main() -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QWidget

    import engine.library as engine_library
    from app.gui.canvas import MODE_BOX, MODE_VIEW
    from app.gui.main import create_app
    from app.gui.main_window import MainWindow
    from engine.config import ModelSpec
    from engine.library import Library
    from engine.thumbnails import ThumbnailCache

    app = create_app()
    tmp = Path(tempfile.mkdtemp(prefix="vf-shots-"))
    photos = tmp / "Holiday photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copyfile(SAMPLES / name, photos / Path(name).name)
    OUT.mkdir(parents=True, exist_ok=True)

    def wait(predicate: Callable[[], bool], timeout: float = 300.0) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            app.processEvents()
            time.sleep(0.01)
            if time.monotonic() > end:
                raise TimeoutError(predicate)
        settle()

    def settle(seconds: float = 0.6) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def shot(widget: QWidget, name: str) -> None:
        settle()
        image = widget.grab()
        if image.width() > MAX_WIDTH:
            image = image.scaledToWidth(MAX_WIDTH, mode=_smooth())
        image.save(str(OUT / f"{name}.png"), "PNG")
        print(f"saved docs/screenshots/{name}.png")

    def open_window(library: Library) -> MainWindow:
        """The app's window on `library`, with this run's own settings and thumbnails, shown."""
        window = MainWindow(
            library,
            settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat),
            thumbnail_cache=ThumbnailCache(tmp / "thumbs"),
        )
        window.resize(1200, 780)
        window.show()
        return window

    # 1. First run with no network: the default model is not on this computer.
    library = Library(tmp / "library", model=ModelSpec("ViT-B-32", "datacomp_xl_s13b_b90k"))
    window = open_window(library)
    state, views = window.state, window.views
    wait(lambda: state.model.state.value == "unavailable", 120)
    shot(window, "1-first-run-offline")

    # 2. Choosing a model file: it is used at once.
    window.model_control.switch_model(TINY)
    wait(lambda: state.model_ready, 300)
    shot(window, "2-model-file-chosen")

    # 3. Adding a folder: indexed in the background, browsable at once.
    window.library_control.add_folders([str(photos)])
    wait(lambda: views.results.rowCount() > 0 and not window.indexing.running, 600)
    wait(lambda: state.status is not None and state.status.photos > 0)
    settle(2.0)  # thumbnails
    shot(window, "3-folder-added")

    # 4. A search: the matches, then a button for the weaker results.
    window.search.search_text("something red")  # the tiny test model knows colours, not dogs
    wait(lambda: not window.search.busy and views.results.matches + views.results.weaker > 0)
    settle(1.5)
    shot(window, "4-search")

    # 4b. The weaker results opened, the weakest marked "more like this" and the second match "not
    # like this" (the search re-ranks and re-cuts at once); the pointer shows a photo's buttons.
    views.results.set_show_weaker(True)
    window.search.mark([views.results.paths()[-1]], True)
    wait(lambda: not window.search.busy)
    window.search.mark([views.results.paths()[1]], False)
    wait(lambda: not window.search.busy)
    settle(1.5)
    _point_at(views.grid, views.grid.visualRect(views.results.index(2)).center())
    shot(window, "4b-search-marks")
    shutil.copyfile(OUT / "4b-search-marks.png", ROOT / "docs" / "screenshot.png")  # the README's picture
    window.search.clear_marks()
    wait(lambda: not window.search.busy)
    views.results.set_show_weaker(True)

    # 5. The viewer with the heatmap of a text (on a bright photo: the shade shows best there).
    def open_photo(name: str) -> None:
        window.viewer_control.open(views.results.row_of(next(p for p in views.results.paths() if p.endswith(name))))
        wait(lambda: viewer.image is not None)

    viewer = views.viewer
    open_photo("nikon-e950.jpg")
    viewer.set_heatmap(True)
    viewer.heatmap_bar.text.setText("a cannon on the grass")
    viewer.request_heatmap()
    wait(lambda: viewer.heat is not None and viewer.heat.text == "a cannon on the grass")
    shot(window, "5-viewer-heatmap")
    viewer.set_heatmap(False)
    window.viewer_control.close()
    open_photo(DOG)

    # 6. Tags with boxes around what they name, every one shown and labelled.
    panel = viewer.tag_panel
    for text, box in (("Rex", (0.08, 0.05, 0.98, 0.72)), ("red rug", (0.0, 0.62, 0.55, 1.0))):
        panel.field.setText(text)
        panel.field.returnPressed.emit()
        wait(lambda text=text: text in panel.tag_texts())
        panel.choose(text, "rug" if text == "red rug" else text)
        panel.set_tool(MODE_BOX)
        viewer.photo.box_drawn.emit(box)
        wait(lambda: panel.current_highlight() is not None)
    panel.set_tool(MODE_VIEW)
    panel.choose(None)  # no tag picked: all of them
    shot(window, "6-tags-with-boxes")
    window.viewer_control.close()

    # 7. The smart-album editor: which photos are in, and which just below the line.
    dialog = window.lists.new_category()
    assert dialog is not None
    dialog.name.setText("Autumn")
    dialog.prompts.setPlainText("autumn trees\nfallen leaves on a path")
    dialog.refresh_preview()
    wait(lambda: dialog.membership is not None and dialog.photos_box.isVisible())
    scores = dialog.membership.scores  # the tiny model is unsure of everything: draw the line as a user would
    dialog.set_threshold(float(scores[3] + scores[4]) / 2)
    wait(lambda: len(dialog.inside.paths()) == 4)
    settle(2.0)  # thumbnails
    shot(dialog, "7-album-editor")
    dialog.reject()

    # 8. The training dialog.
    training = window.model_control.open_training()
    assert training is not None
    wait(lambda: bool(training.version_numbers()))
    shot(training, "8-training-dialog")
    training.details_button.setChecked(True)
    shot(training, "9-training-details")
    training.close()
    window.close()
    library.close()

    # 10. The same library, read-only. Root may write anywhere, so the folder's refusal is
    # injected where the library asks (as the engine's tests do).
    engine_library._writable = lambda folder: False
    library = Library(tmp / "library")
    window = open_window(library)
    wait(lambda: window.state.model_ready and window.views.results.rowCount() > 0, 300)
    settle(2.0)
    shot(window, "10-read-only-library")

    window.close()
    library.close()
    QApplication.processEvents()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _point_at(widget, point) -> None:
    """Hover over `point` of a scroll area's viewport (a synthetic move: no real pointer under Xvfb)."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    viewport = widget.viewport()
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(point),
        QPointF(viewport.mapToGlobal(point)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewport, move)


def _smooth():
    from PySide6.QtCore import Qt

    return Qt.TransformationMode.SmoothTransformation


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    sys.exit(main())
