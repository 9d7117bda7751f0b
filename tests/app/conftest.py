"""Fixtures for the desktop app tests: a tiny-model library in tmp_path, a photo folder, a window
whose settings live in a temporary ini file, and a check that no worker thread outlives a test."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QThreadPool

PHOTOS = ("Canon_40D.jpg", "Nikon_D70.jpg", "Pentax_K10D.jpg", "Sony_HDR-HC3.jpg", "gps/DSCN0010.jpg")
BROKEN = "broken.jpg"


@pytest.fixture
def names() -> dict[str, object]:
    """The file names in `photo_dir`: "good" (a set) and "broken"."""
    return {"good": {Path(p).name for p in PHOTOS}, "broken": BROKEN}


@pytest.fixture
def photo_dir(sample_photos: Path, tmp_path: Path) -> Path:
    """Five readable JPEGs and one broken file."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copyfile(sample_photos / "jpg" / name, folder / Path(name).name)
    (folder / BROKEN).write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return folder


@pytest.fixture
def library(tmp_path: Path, tiny_config: Path):
    from engine.config import ModelSpec
    from engine.library import Library

    lib = Library(tmp_path / "lib", model=ModelSpec(str(tiny_config), None))
    yield lib
    lib.close()


@pytest.fixture
def qsettings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, library, qsettings, tmp_path: Path):
    from app.gui.main_window import MainWindow
    from engine.thumbnails import ThumbnailCache

    win = MainWindow(
        library,
        settings=qsettings,
        thumbnail_cache=ThumbnailCache(tmp_path / "thumbs"),
        watcher_debounce=0.2,
    )
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    assert win.runner.pool.activeThreadCount() == 0
    assert win.thumbnails.pool.activeThreadCount() == 0
    assert win.library_control.watcher is None


@pytest.fixture(autouse=True)
def no_threads_left():
    """Fail a test that leaves pool work or watcher threads running."""
    yield
    assert QThreadPool.globalInstance().activeThreadCount() == 0
    alive = [t.name for t in threading.enumerate() if t.name.startswith(("viewfinder-watcher", "decode"))]
    assert not alive, f"threads left running: {alive}"
