"""Steps the window tests share."""

from __future__ import annotations

from pathlib import Path

INDEX_TIMEOUT = 120_000


def index_folders(qtbot, window, *folders: Path, photos: int | None = None) -> None:
    """Add folders through the window and wait until they are indexed and the model is ready
    (and, given `photos`, until the status counts that many)."""
    with qtbot.waitSignal(window.indexing.finished, timeout=INDEX_TIMEOUT):
        window.library_control.add_folders([str(f) for f in folders])
    if photos is not None:
        qtbot.waitUntil(
            lambda: window.state.status is not None and window.state.status.photos == photos, timeout=10_000
        )
    qtbot.waitUntil(lambda: window.state.model_ready and not window.indexing.running, timeout=INDEX_TIMEOUT)
