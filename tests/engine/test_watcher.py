"""The watcher keeps a library current from file-system events, and falls back to rescans."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from engine.search import Query
from engine.watcher import Watcher


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def paths(library) -> set[str]:
    return {h.path for h in library.search(Query(text="x", k=1000))}


def test_watcher_picks_up_new_moved_and_deleted_photos(make_library, sample_photos, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ["Canon_40D.jpg", "Nikon_D70.jpg"]:
        shutil.copy(sample_photos / "jpg" / name, folder / name)
    library = make_library()
    library.add_folders([folder])
    library.index()
    changes = []
    watcher = Watcher(library, debounce=0.3, on_change=lambda: changes.append(1))
    watcher.start()
    try:
        # a burst of new files, one in a new subfolder
        (folder / "trip").mkdir()
        for i, src in enumerate(sorted((sample_photos / "jpg" / "gps").glob("*.jpg"))):
            shutil.copy(src, folder / "trip" / f"{i}.jpg")
        expected = {str(p) for p in folder.rglob("*.jpg")}
        assert wait_for(lambda: paths(library) == expected), paths(library) ^ expected
        (folder / "Nikon_D70.jpg").unlink()
        os.rename(folder / "trip" / "0.jpg", folder / "moved.jpg")
        expected = {str(p) for p in folder.rglob("*.jpg")}
        assert wait_for(lambda: paths(library) == expected), paths(library) ^ expected
        shutil.rmtree(folder / "trip")
        assert wait_for(lambda: paths(library) == {str(folder / "Canon_40D.jpg"), str(folder / "moved.jpg")})
        assert changes
    finally:
        watcher.stop()
    assert watcher._thread is None


class RefusingObserver:
    """An observer that hits the OS limit on watches, as inotify does with ENOSPC."""

    def schedule(self, *args, **kwargs):
        raise OSError(28, "inotify watch limit reached")

    def stop(self):
        pass


def test_falls_back_to_periodic_rescans_when_watches_run_out(make_library, sample_photos, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(sample_photos / "jpg" / "Canon_40D.jpg", folder / "a.jpg")
    library = make_library()
    library.add_folders([folder])
    library.index()
    watcher = Watcher(library, rescan_interval=0.5, observer_factory=RefusingObserver)
    watcher.start()
    try:
        assert watcher.polling
        shutil.copy(sample_photos / "jpg" / "Nikon_D70.jpg", folder / "b.jpg")
        assert wait_for(lambda: paths(library) == {str(folder / "a.jpg"), str(folder / "b.jpg")})
        Path(folder / "a.jpg").unlink()
        assert wait_for(lambda: paths(library) == {str(folder / "b.jpg")})
    finally:
        watcher.stop()
