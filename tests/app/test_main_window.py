"""The core flow through the real window: add a folder, index, search, view, watch, failures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PySide6.QtCore import Qt

from app.gui.main_window import PAGE_BROWSER, PAGE_VIEWER, PAGE_WELCOME
from app.gui.state import ModelState
from tests.app.journeys import index_folders

INDEX_TIMEOUT = 120_000


def _names(paths) -> set[str]:
    return {os.path.basename(p) for p in paths}


def _index(qtbot, window, folder: Path) -> None:
    index_folders(qtbot, window, folder, photos=5)


def _search(qtbot, window, text: str) -> list[str]:
    """The matches and the weaker results (opened: a random tiny model's cut is meaningless)."""
    with qtbot.waitSignal(window.search.results_updated, timeout=30_000):
        window.search.search_text(text)
    qtbot.waitUntil(lambda: not window.search.busy)
    window.views.results.set_show_weaker(True)
    return window.views.results.paths()


def test_first_run_shows_welcome(qtbot, window):
    qtbot.waitUntil(lambda: window.state.status is not None)
    assert window.views.pages.currentIndex() == PAGE_WELCOME
    assert not window.views.sidebar.isVisible()


def test_add_folder_index_search_and_view(qtbot, window, photo_dir: Path, names):
    _index(qtbot, window, photo_dir)
    assert window.views.pages.currentIndex() == PAGE_BROWSER
    assert window.views.sidebar.folder_paths() == [str(photo_dir)]

    # A text query with k above the library size returns every indexed photo (a random-init model
    # ranks meaninglessly, so only membership is checked) and never the broken file.
    paths = _search(qtbot, window, "a dog on the beach -people")
    assert _names(paths) == names["good"]
    assert all(os.path.dirname(p) == str(photo_dir) for p in paths)

    # An image query for photo X ranks X first (its own vector: cosine 1).
    target = str(photo_dir / "Nikon_D70.jpg")
    with qtbot.waitSignal(window.search.results_updated, timeout=30_000):
        window.search.find_similar(target)
    qtbot.waitUntil(lambda: not window.search.busy)
    window.views.results.set_show_weaker(True)
    assert window.views.results.paths()[0] == target
    assert window.views.results.hit(0).score > 0.99

    # The viewer shows that photo's metadata and decodes it off the UI thread.
    window.viewer_control.open(0)
    assert window.views.pages.currentIndex() == PAGE_VIEWER
    meta = window.views.viewer.metadata()
    assert meta["File"] == "Nikon_D70.jpg"
    assert "NIKON" in meta["Camera"].upper()
    assert meta["Folder"] == str(photo_dir)
    qtbot.waitUntil(lambda: window.views.viewer.image is not None, timeout=20_000)
    assert not window.views.viewer.image.isNull()
    # ... and, read from the file in a worker, how it was taken.
    qtbot.waitUntil(lambda: "Exposure" in window.views.viewer.metadata(), timeout=20_000)
    assert (
        window.views.viewer.metadata()["Exposure"] == "1/200 s  ·  f/9  ·  ISO 200  ·  100 mm (150 mm equiv.)"
    )

    # Right arrow moves to the next result, Escape goes back to the grid.
    qtbot.keyClick(window.views.viewer, Qt.Key.Key_Right)
    assert window.views.viewer.hit.path == window.views.results.paths()[1]
    qtbot.keyClick(window.views.viewer, Qt.Key.Key_Escape)
    assert window.views.pages.currentIndex() == PAGE_BROWSER


def test_failures_are_listed(qtbot, window, photo_dir: Path, names):
    _index(qtbot, window, photo_dir)
    assert [os.path.basename(f.path) for f in window.state.status.failures] == [names["broken"]]
    assert window.views.index_panel.failures_button.isVisibleTo(window)
    dialog = window.indexing.show_failures()
    model = dialog.model
    assert model.rowCount() == 1
    assert model.data(model.index(0, 0)) == names["broken"]
    assert model.data(model.index(0, 1))  # a reason, whatever the decoder said
    dialog.close()


def test_watcher_adds_and_removes_photos(qtbot, window, photo_dir: Path, names, sample_photos: Path):
    _index(qtbot, window, photo_dir)
    qtbot.waitUntil(lambda: window.library_control.watcher is not None, timeout=10_000)
    assert _names(_search(qtbot, window, "anything")) == names["good"]

    added = photo_dir / "new_photo.jpg"
    shutil.copyfile(sample_photos / "jpg" / "Olympus_C8080WZ.jpg", added)
    qtbot.waitUntil(lambda: str(added) in window.views.results.paths(), timeout=60_000)

    gone = photo_dir / "Canon_40D.jpg"
    gone.unlink()
    qtbot.waitUntil(lambda: str(gone) not in window.views.results.paths(), timeout=60_000)
    assert str(added) in window.views.results.paths()


def test_browsing_without_a_query_lists_photos(qtbot, window, photo_dir: Path, names):
    _index(qtbot, window, photo_dir)
    paths = _search(qtbot, window, "")
    assert _names(paths) == names["good"]
    # the folder filter in the sidebar: "All photos" and the folder itself agree
    window.views.sidebar.select_folder(str(photo_dir))
    qtbot.waitUntil(lambda: not window.search.busy)
    assert window.views.sidebar.current_folder() == str(photo_dir)
    assert _names(window.views.results.paths()) == names["good"]


def test_missing_model_says_so_and_browsing_still_works(
    qtbot, tmp_path: Path, tiny_config, qsettings, photo_dir, names
):
    from app.gui.main_window import MainWindow
    from engine.config import ModelSpec
    from engine.library import Library
    from engine.thumbnails import ThumbnailCache

    library = Library(
        tmp_path / "lib2", model=ModelSpec(str(tiny_config), str(tmp_path / "missing.safetensors"))
    )
    window = MainWindow(
        library, settings=qsettings, thumbnail_cache=ThumbnailCache(tmp_path / "t"), watch=False
    )
    qtbot.addWidget(window)
    try:
        qtbot.waitUntil(lambda: window.state.model.state is ModelState.UNAVAILABLE, timeout=INDEX_TIMEOUT)
        assert window.views.banner.isVisibleTo(window)
        assert "missing.safetensors" in window.views.banner.text.text()
        assert window.views.banner.choose.isVisibleTo(window)  # offers a local checkpoint file
        # Folders can still be added and browsed: scanning needs no model.
        with qtbot.waitSignal(
            window.library_control.status_refreshed, timeout=30_000, check_params_cb=lambda s: s.total == 6
        ):
            window.library_control.add_folders([str(photo_dir)])
        qtbot.waitUntil(lambda: not window.indexing.running, timeout=30_000)
        assert _names(_search(qtbot, window, "")) >= names["good"]
        # A text query explains why it cannot run instead of failing silently.
        window.search.search_text("beach")
        assert "unavailable" in window.views.empty_label.text()
    finally:
        window.close()
        library.close()


def test_query_typed_while_model_loads_runs_once_ready(qtbot, window, photo_dir: Path, names):
    _index(qtbot, window, photo_dir)
    ready = window.state.model
    window.state.update_model(state=ModelState.LOADING)  # as if the model were still loading
    window.search.search_text("sunset")
    assert "Loading model" in window.views.empty_label.text()
    with qtbot.waitSignal(window.search.results_updated, timeout=30_000):
        window.state.set_model(ready)
    qtbot.waitUntil(lambda: not window.search.busy)
    window.views.results.set_show_weaker(True)
    assert _names(window.views.results.paths()) == names["good"]


def test_offline_first_run_says_so_and_a_chosen_model_file_works_at_once(
    qtbot, tmp_path: Path, tiny_config, tiny_encoder, qsettings, photo_dir, names, monkeypatch
):
    from safetensors.torch import save_file

    from app.gui import jobs
    from app.gui.main_window import MainWindow
    from engine.config import ModelSpec
    from engine.library import Library
    from engine.thumbnails import ThumbnailCache

    probes = []
    monkeypatch.setattr(jobs, "hub_reachable", lambda: probes.append(1) or False)  # no network
    checkpoint = tmp_path / "my-model.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_encoder.model.state_dict().items()}, str(checkpoint))
    library = Library(tmp_path / "lib3", model=ModelSpec(str(tiny_config), "a_tag_to_download"))
    window = MainWindow(
        library, settings=qsettings, thumbnail_cache=ThumbnailCache(tmp_path / "t"), watch=False
    )
    qtbot.addWidget(window)
    banner = window.views.banner
    try:
        qtbot.waitUntil(lambda: window.state.model.state is ModelState.UNAVAILABLE, timeout=30_000)
        assert probes and window.state.model.offline
        assert banner.isVisibleTo(window) and banner.choose.isVisibleTo(window)
        text = banner.text.text()
        assert "offline" in text and "Choose model file…" in text and "--pretrained" not in text
        assert text.count("offline") == 1

        # The file the user picks is used at once: the model is ready, search works after indexing.
        window.model_control.use_model_file(str(checkpoint))
        qtbot.waitUntil(lambda: window.state.model_ready, timeout=60_000)
        assert not banner.isVisibleTo(window)
        assert window.views.model_label.text() == "Model: tiny-clip"
        with qtbot.waitSignal(window.indexing.finished, timeout=INDEX_TIMEOUT):
            window.library_control.add_folders([str(photo_dir)])
        qtbot.waitUntil(lambda: not window.indexing.running, timeout=INDEX_TIMEOUT)
        assert _names(_search(qtbot, window, "a dog")) == names["good"]
        assert library.model.pretrained == str(checkpoint)
    finally:
        window.close()
        library.close()


def test_a_folder_moved_away_is_noticed_and_its_return_needs_no_rescan(qtbot, window, photo_dir: Path, names):
    _index(qtbot, window, photo_dir)
    sidebar, results = window.views.sidebar, window.views.results
    away = photo_dir.with_name("moved-away")
    photo_dir.rename(away)
    qtbot.waitUntil(lambda: results.rowCount() == 0, timeout=60_000)
    qtbot.waitUntil(lambda: "unavailable" in sidebar.folder_item(str(photo_dir)).text(0), timeout=30_000)
    assert "All photos  ·  0" in sidebar.section("Folders").child(0).text(0)

    away.rename(photo_dir)  # back, and no F5
    qtbot.waitUntil(lambda: _names(results.paths()) == names["good"], timeout=INDEX_TIMEOUT)
    qtbot.waitUntil(lambda: "unavailable" not in sidebar.folder_item(str(photo_dir)).text(0), timeout=30_000)


def test_escape_clears_the_search_and_the_view_menu_sorts_like_the_sort_box(qtbot, window, photo_dir, names):
    _index(qtbot, window, photo_dir)
    bar = window.views.search_bar
    _search(qtbot, window, "beach")
    with qtbot.waitSignal(window.search.results_updated, timeout=30_000):
        qtbot.keyClick(bar.field, Qt.Key.Key_Escape)
    assert bar.field.text() == "" and _names(window.views.results.paths()) == names["good"]

    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    sorts = [a for a in view.actions() if a.isCheckable()]
    assert [a.text() for a in sorts] == [bar.sort.itemText(i) for i in range(bar.sort.count())]
    sorts[1].trigger()
    assert bar.sort.currentIndex() == 1 and sorts[1].isChecked() and not sorts[0].isChecked()
    bar.sort.setCurrentIndex(0)
    assert sorts[0].isChecked()
