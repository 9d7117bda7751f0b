"""Keep a library current from file-system events (watchdog), debounced into change sets.

Events only add paths to two sets under a lock, so bursts of thousands of files cost little; a worker
thread applies them once the folder has been quiet for `debounce` seconds (or `max_delay` after the
first event, so a steady trickle still gets indexed). When the OS refuses more watches (the inotify
limit), the watcher falls back to rescanning every `rescan_interval` seconds.

A change set is never dropped: when applying it fails (a full disk, a locked database), its paths go
back into the pending set and are retried with a growing delay; after `RESCAN_AFTER_FAILURES`
failures in a row the next attempt is a full rescan, which finds every change whatever was missed.
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

RESCAN_AFTER_FAILURES = 3


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
        max_backoff: float = 300.0,
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
        self.max_backoff = max_backoff
        self.polling = False  # True when the OS limit on watches forced periodic rescans
        self.failures = 0  # failed attempts in a row
        self.rescan_needed = False  # the next attempt rescans everything
        self._retry_at = 0.0
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

    def _put_back(self, changed: set[str], deleted: set[str]) -> None:
        """Return a change set that could not be applied to the pending one (nothing is dropped)."""
        with self._lock:
            if not self._changed and not self._deleted:
                self._first_event = self._last_event = 0.0  # due as soon as the retry delay allows
            self._changed |= changed
            self._deleted |= deleted

    def _run(self) -> None:
        last_rescan = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(min(self.debounce / 2, 1.0))
            self._wake.clear()
            if self._stop.is_set():
                break
            if time.monotonic() < self._retry_at:
                continue
            batch = self._take()
            try:
                if self.rescan_needed or (
                    batch is None and self.polling and time.monotonic() - last_rescan > self.rescan_interval
                ):
                    last_rescan = time.monotonic()
                    self.library.index(self.on_progress, self.cancel)
                    self.rescan_needed = False
                elif batch is not None:
                    changed, deleted = batch
                    log.info("applying %d changed and %d deleted paths", len(changed), len(deleted))
                    self.library.update_paths(changed, deleted, progress=self.on_progress, cancel=self.cancel)
                else:
                    continue
                self.failures = 0
                if self.on_change:
                    self.on_change()
            except Exception as e:  # keep watching, and keep the changes for the next attempt
                if batch is not None:
                    self._put_back(*batch)
                self.failures += 1
                self.rescan_needed = self.rescan_needed or self.failures >= RESCAN_AFTER_FAILURES
                delay = min(self.max_backoff, self.debounce * 2**self.failures)
                self._retry_at = time.monotonic() + delay
                log.warning("could not apply folder changes (%s); retrying in %.0fs", e, delay, exc_info=True)
