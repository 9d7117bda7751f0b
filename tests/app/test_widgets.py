"""Search bar (debounce, Enter, history), settings persistence, viewer metadata, status text."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel

from app.gui.search_bar import HISTORY_KEY, SearchBar
from app.gui.settings import AppSettings, SettingsDialog, cluster_config
from app.gui.status import IndexPanel, describe_progress
from app.gui.viewer import describe_exposure, metadata_rows
from engine.indexer import Progress
from engine.photos import Exposure
from engine.search import Hit
from engine.store import PhotoRow


def test_typing_is_debounced_and_enter_searches_at_once(qtbot, qsettings: QSettings):
    bar = SearchBar(qsettings)
    qtbot.addWidget(bar)
    seen = []
    bar.search.connect(seen.append)
    qtbot.keyClicks(bar.field, "beach -people")
    assert seen == []  # nothing while typing
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=2000)
    assert seen[0].text == "beach -people"
    qtbot.keyClicks(bar.field, " x")
    qtbot.keyClick(bar.field, Qt.Key.Key_Return)
    assert seen[-1].text == "beach -people x"  # Enter: at once, no wait
    assert qsettings.value(HISTORY_KEY) in (["beach -people x"], "beach -people x")
    bar2 = SearchBar(qsettings)  # history comes back in a new session
    qtbot.addWidget(bar2)
    assert bar2.history.stringList() == ["beach -people x"]


def test_date_filter_is_part_of_the_request(qtbot, qsettings: QSettings):
    bar = SearchBar(qsettings)
    qtbot.addWidget(bar)
    assert bar.request().after is None
    bar.use_dates.setChecked(True)
    request = bar.request()
    assert request.after is not None and request.before is not None and request.before > request.after


def test_settings_round_trip_and_dialog_model_choice(qtbot, qsettings: QSettings):
    AppSettings(library_dir="/tmp/lib", device="cpu", thumb_size=256).save(qsettings)
    loaded = AppSettings.load(qsettings)
    assert loaded == AppSettings(library_dir="/tmp/lib", device="cpu", thumb_size=256)
    dialog = SettingsDialog(loaded, ("ViT-B-16", "datacomp_xl_s13b_b90k"), "/tmp/lib")
    qtbot.addWidget(dialog)
    assert dialog.model() == ("ViT-B-16", "datacomp_xl_s13b_b90k")
    dialog.choose_checkpoint("/models/mine.safetensors")
    assert dialog.model() == ("ViT-B-16", "/models/mine.safetensors")
    dialog.set_model("custom.json", None)
    assert dialog.model() == ("custom.json", None)


def test_cluster_settings_round_trip_and_reach_the_engine(qtbot, qsettings: QSettings):
    chosen = AppSettings(
        cluster="ray://cellar:10001", path_map="/Volumes/Photos=/mnt/photos; /home/me=/backup/me"
    )
    chosen.save(qsettings)
    loaded = AppSettings.load(qsettings)
    assert loaded == chosen
    dialog = SettingsDialog(loaded, ("ViT-B-32", "datacomp_xl_s13b_b90k"), "/tmp/lib")
    qtbot.addWidget(dialog)
    dialog.cluster.setText("  ")  # cleared: index on this computer again
    assert dialog.result_settings(loaded).cluster == "" and cluster_config("", loaded.path_map) is None
    config = cluster_config(loaded.cluster, loaded.path_map)
    assert config is not None and config.address == "ray://cellar:10001"
    assert config.path_map == (("/Volumes/Photos", "/mnt/photos"), ("/home/me", "/backup/me"))


def test_metadata_rows_and_progress_text(qtbot):
    row = PhotoRow(
        id=1, path="/p/x.jpg", folder="/p", size=2_500_000, mtime=1.0, hash="h", error=None,
        width=4000, height=3000, taken_at=1_600_000_000.0, camera_make="Canon", camera_model="EOS 40D",
        latitude=43.4675, longitude=11.8817,
    )  # fmt: skip
    rows = dict(metadata_rows(Hit("/p/x.jpg", 0.3, row)))
    assert rows["Camera"] == "Canon EOS 40D"
    assert dict(metadata_rows(Hit("/p/x.jpg", 0.3, replace(row, camera_model="Canon EOS 40D"))))[
        "Camera"
    ] == (
        "Canon EOS 40D"  # the make is not said twice
    )
    kodak = replace(row, camera_make="EASTMAN KODAK COMPANY", camera_model="KODAK DC240 ZOOM DIGITAL CAMERA")
    assert dict(metadata_rows(Hit("/p/x.jpg", 0.3, kodak)))["Camera"] == "KODAK DC240 ZOOM DIGITAL CAMERA"
    olympus = replace(row, camera_make="OLYMPUS IMAGING CORP.", camera_model="E-M5")
    assert dict(metadata_rows(Hit("/p/x.jpg", 0.3, olympus)))["Camera"] == "OLYMPUS IMAGING CORP. E-M5"
    assert rows["Size"].startswith("4000 × 3000") and "2.4 MB" in rows["Size"]
    assert "Exposure" not in rows and "Lens" not in rows  # until the file's header is read
    exposure = Exposure(
        seconds=0.0025575, f_number=1.8, iso=32, focal_mm=4.25, focal_35mm=26, lens="iPhone back camera"
    )
    shown = dict(metadata_rows(Hit("/p/x.jpg", 0.3, row), exposure))
    assert shown["Exposure"] == "1/391 s  ·  f/1.8  ·  ISO 32  ·  4.25 mm (26 mm equiv.)"
    assert shown["Lens"] == "iPhone back camera"
    assert describe_exposure(Exposure(seconds=2.5, focal_mm=50.0, focal_35mm=50)) == "2.5 s  ·  50 mm"
    assert describe_exposure(Exposure(seconds=1 / 4000, focal_mm=1200.0)) == "1/4000 s  ·  1200 mm"
    assert describe_exposure(Exposure()) == ""
    assert rows["Location"].startswith("43°28′03.0″ N, 11°52′54.1″ E")
    assert "openstreetmap.org/?mlat=43.467500&amp;mlon=11.881700" in rows["Location"].replace("&", "&amp;")
    text = describe_progress(Progress("indexing", 120, 3400, 0, 8.25, 400.0))
    assert "120 of 3,400" in text and "8.2 photos/s" in text and "7 min" in text
    panel = IndexPanel()
    qtbot.addWidget(panel)
    panel.set_failures(3)
    assert "3 could not be read" in panel.failures_button.text()


def test_pause_says_paused_at_once_without_a_rate_and_failures_empty_state(qtbot):
    from app.gui.status import FailuresDialog

    panel = IndexPanel()
    qtbot.addWidget(panel)
    panel.show_progress(Progress("indexing", 120, 3400, 0, 8.25, 400.0))
    assert "photos/s" in panel.label.text()
    panel.pause_button.click()  # no progress report needed to say so
    assert panel.label.text() == "Paused  ·  120 of 3,400 indexed"
    dialog = FailuresDialog([])
    qtbot.addWidget(dialog)
    texts = [label.text() for label in dialog.findChildren(QLabel)]
    assert "Every photo in your folders could be read." in texts
    assert not any("0 file" in t for t in texts)
