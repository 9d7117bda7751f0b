"""Keep a library current from file-system events (watchdog), debounced into change sets.

Events only add paths to two sets under a lock, so bursts of thousands of files cost little; a worker
thread applies them once the folder has been quiet for `debounce` seconds (or `max_delay` after the
first event, so a steady trickle still gets indexed). When the OS refuses more watches (the inotify
limit), the watcher falls back to rescanning every `rescan_interval` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .indexer import Progress

log = logging.getLogger(__name__)


class _Collector(FileSystemEventHandler):
    def __init__(self, watcher: Watcher):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        src = _text(event.src_path)
        if kind in ("created", "modified", "closed"):
            self.watcher.note(changed=[src])
        elif kind == "deleted":
            self.watcher.note(deleted=[src])
        elif kind == "moved":
            self.watcher.note(changed=[_text(event.dest_path)], deleted=[src])


def _text(path: str | bytes) -> str:
    return path.decode() if isinstance(path, bytes) else path


class Watcher:
    """Watches a library's folders and applies changes in a background thread."""

    def __init__(
        self,
        library,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        on_change: Callable[[], None] | None = None,
        debounce: float = 1.0,
        max_delay: float = 10.0,
        rescan_interval: float = 60.0,
        observer_factory: Callable[[], Any] = Observer,
    ):
        self.library = library
        self.on_progress = on_progress
        self.on_change = on_change
        self.debounce = debounce
        self.max_delay = max_delay
        self.rescan_interval = rescan_interval
        self._observer_factory = observer_factory
        self._observer: Any = None
        self._lock = threading.Lock()
        self._changed: set[str] = set()
        self._deleted: set[str] = set()
        self._first_event = 0.0
        self._last_event = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.polling = False  # True when the OS limit on watches forced periodic rescans
        self.cancel = threading.Event()

    def note(self, changed: list[str] = (), deleted: list[str] = ()) -> None:  # type: ignore[assignment]
        now = time.monotonic()
        with self._lock:
            if not self._changed and not self._deleted:
                self._first_event = now
            self._last_event = now
            self._changed.update(changed)
            self._deleted.update(deleted)
        self._wake.set()

    def start(self) -> None:
        observer = self._observer_factory()
        handler = _Collector(self)
        try:
            for folder in self.library.folders():
                observer.schedule(handler, folder, recursive=True)
            observer.start()
            self._observer = observer
        except OSError as e:  # ENOSPC: inotify watch limit reached; EMFILE: too many instances
            log.warning("cannot watch folders (%s); rescanning every %ds instead", e, self.rescan_interval)
            self.polling = True
            with contextlib.suppress(Exception):
                observer.stop()
        self._thread = threading.Thread(target=self._run, name="viewfinder-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.cancel.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
            self._observer = None
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _take(self) -> tuple[set[str], set[str]] | None:
        """The pending change set, once it has settled; None while events are still arriving."""
        with self._lock:
            if not self._changed and not self._deleted:
                return None
            now = time.monotonic()
            if now - self._last_event < self.debounce and now - self._first_event < self.max_delay:
                return None
            changed, deleted = self._changed, self._deleted
            self._changed, self._deleted = set(), set()
            return changed, deleted

    def _run(self) -> None:
        last_rescan = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(min(self.debounce / 2, 1.0))
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                batch = self._take()
                if batch is not None:
                    changed, deleted = batch
                    log.info("applying %d changed and %d deleted paths", len(changed), len(deleted))
                    self.library.update_paths(changed, deleted, progress=self.on_progress, cancel=self.cancel)
                    if self.on_change:
                        self.on_change()
                elif self.polling and time.monotonic() - last_rescan > self.rescan_interval:
                    last_rescan = time.monotonic()
                    self.library.index(self.on_progress, self.cancel)
                    if self.on_change:
                        self.on_change()
            except Exception:  # keep watching: one bad batch must not end it
                log.exception("could not apply folder changes")
