"""The thumbnail loader under fast scrolling: the newest requests run first and only a bounded
number wait; the oldest are taken back (and asked for again when their rows are painted again)."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QRunnable

from app.gui.thumbnails import ThumbKey, ThumbnailLoader
from engine.thumbnails import ThumbnailCache


class HeldPool:
    """A pool that holds its jobs until told to run them, highest priority first (like QThreadPool)."""

    def __init__(self) -> None:
        self.queued: list[tuple[int, QRunnable]] = []

    def start(self, runnable: QRunnable, priority: int = 0) -> None:
        self.queued.append((priority, runnable))

    def tryTake(self, runnable: QRunnable) -> bool:
        for item in self.queued:
            if item[1] is runnable:
                self.queued.remove(item)
                return True
        return False

    def run_all(self) -> None:
        while self.queued:
            item = max(self.queued, key=lambda q: q[0])
            self.queued.remove(item)
            item[1].run()

    def clear(self) -> None:
        self.queued.clear()

    def waitForDone(self, msecs: int = -1) -> bool:
        return True


def test_only_the_newest_requests_wait(sample_photos: Path, tmp_path: Path):
    photo = tmp_path / "one.jpg"
    shutil.copyfile(sample_photos / "jpg" / "Canon_40D.jpg", photo)
    pool = HeldPool()
    loader = ThumbnailLoader(ThumbnailCache(tmp_path / "thumbs"), pool, max_pending=20)  # type: ignore[arg-type]
    ready: list[ThumbKey] = []
    loader.ready.connect(ready.append)
    keys = [ThumbKey(str(photo), float(i), 96) for i in range(100)]  # 100 rows scrolled past
    for key in keys:
        assert loader.image(key) is None
    assert loader.pending == 20 and len(pool.queued) == 20
    pool.run_all()
    assert ready == keys[80:][::-1]  # the newest first; the 80 older ones were never decoded
    assert loader.image(keys[99]) is not None  # loaded
    assert loader.image(keys[0]) is None and loader.pending == 1  # taken back: asked for again
