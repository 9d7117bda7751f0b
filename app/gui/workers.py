"""Background work for the desktop app, and the threading rule it follows.

The threading rule
------------------
The UI thread never decodes photos, runs the model, or waits on disk or on the library. Every
library call (opening it, index, search, encoder load, status, set_model) and every decode
(thumbnails, the viewer's photo) runs in a worker: a `QRunnable` on a `QThreadPool` the window owns.
Workers never touch widgets or item models: they return plain Python values (or a `QImage`, never a
`QPixmap`), which reach the UI thread through signals of a `QObject` that lives there (queued
connections). Callbacks from engine threads (the indexer's progress, the watcher) are forwarded the
same way.

Shutdown: the window cancels indexing (a `threading.Event` the engine honours), stops the watcher
(joins its threads), then waits for its pools, so no thread is left running after `close()`.

`CoalescedJob` is the one way to run a job that is asked for repeatedly (a search, the status,
the sidebar's lists, indexing): one run in flight; asking while it runs queues exactly one more
run of the newest work. `Relay` forwards callbacks from engine threads (indexing progress, the
watcher) to the UI thread.

Tests can pass `InlinePool`, which runs each job at once on the calling thread (as MusicBrainz
Picard's tests do), making threaded code deterministic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

T = TypeVar("T")


class JobSignals(QObject):
    """Created on the UI thread, so its signals are delivered there whatever thread emits them."""

    done = Signal(object)
    failed = Signal(object)  # the exception


class Job(QRunnable):
    """Runs `fn()` in a pool thread; `done(result)` or `failed(exception)` follow on the UI thread."""

    def __init__(self, fn: Callable[[], Any], signals: JobSignals):
        super().__init__()
        self.fn = fn
        self.signals = signals
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            result = self.fn()
        except BaseException as e:  # reported, never lost in a pool thread
            if not isinstance(e, Exception):
                raise
            log.debug("background job failed", exc_info=True)
            self.signals.failed.emit(e)
        else:
            self.signals.done.emit(result)


class Runner(QObject):
    """Submits jobs to a pool and routes their outcome to callbacks on the UI thread.

    Keeps each job's signal object alive until it has reported (PySide would otherwise collect it).
    """

    def __init__(self, pool: QThreadPool | InlinePool, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = pool
        self._live: set[JobSignals] = set()
        self.closed = False

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], object] | None = None,
        on_error: Callable[[Exception], object] | None = None,
        priority: int = 0,
    ) -> None:
        if self.closed:
            return
        signals = JobSignals()
        self._live.add(signals)

        def finish(result: Any) -> None:
            self._live.discard(signals)
            if on_done is not None and not self.closed:
                on_done(result)

        def fail(error: Exception) -> None:
            self._live.discard(signals)
            if self.closed:
                return
            if on_error is not None:
                on_error(error)
            else:
                log.error("background job failed: %s", error, exc_info=error)

        signals.done.connect(finish)
        signals.failed.connect(fail)
        self.pool.start(Job(fn, signals), priority)

    @property
    def busy(self) -> bool:
        return bool(self._live)

    def shutdown(self, timeout_ms: int = 60_000) -> None:
        """Drop queued jobs, wait for the running ones; later results are ignored."""
        self.closed = True
        self.pool.clear()
        self.pool.waitForDone(timeout_ms)


class CoalescedJob(Generic[T]):
    """A job asked for again and again: one run in flight, at most one more queued (the newest).

    `run(work)` starts `work` in the pool, or, while a run is in flight, keeps it as the next run
    (replacing an older queued one); `on_start()` runs on the UI thread as each run starts. When a run ends and another is queued, the finished run's
    result is dropped as stale if `drop_stale` (a search superseded by a newer one), else handed
    to `on_done` first (indexing: every run's outcome counts).
    """

    def __init__(
        self,
        runner: Runner,
        on_done: Callable[[T], None],
        on_error: Callable[[Exception], None] | None = None,
        *,
        priority: int = 0,
        drop_stale: bool = True,
        on_start: Callable[[], None] | None = None,
    ):
        self.runner = runner
        self.on_start = on_start
        self.on_done = on_done
        self.on_error = on_error
        self.priority = priority
        self.drop_stale = drop_stale
        self.busy = False
        self._queued: Callable[[], T] | None = None

    def run(self, work: Callable[[], T]) -> None:
        if self.busy:
            self._queued = work
            return
        self.busy = True
        if self.on_start is not None:
            self.on_start()
        self.runner.submit(work, self._done, self._failed, self.priority)

    @property
    def queued(self) -> bool:
        return self._queued is not None

    def drop_queued(self) -> None:
        self._queued = None

    def _next(self) -> bool:
        self.busy = False
        work, self._queued = self._queued, None
        if work is None:
            return False
        self.run(work)
        return True

    def _done(self, result: T) -> None:
        if self.drop_stale:
            if not self._next():
                self.on_done(result)
            return
        self.busy = False
        self.on_done(result)
        if not self.busy:
            self._next()

    def _failed(self, error: Exception) -> None:
        if self._next() and self.drop_stale:
            return
        if self.on_error is not None:
            self.on_error(error)
        else:
            log.warning("background job failed: %s", error)


class Relay(QObject):
    """Calls `fn(*args)` on the UI thread, whichever thread calls the relay.

    The relay lives on the UI thread, so its signal reaches `_deliver` through a queued connection
    when emitted from an engine thread (the indexer's progress callback, the watcher).
    """

    _signal = Signal(object)

    def __init__(self, fn: Callable[..., None], parent: QObject | None = None):
        super().__init__(parent)
        self._fn = fn
        self._signal.connect(self._deliver)

    def __call__(self, *args: Any) -> None:
        self._signal.emit(args)

    @Slot(object)
    def _deliver(self, args: tuple[Any, ...]) -> None:
        self._fn(*args)


class InlinePool:
    """A stand-in for QThreadPool that runs each job immediately on the calling thread (tests)."""

    def start(self, runnable: QRunnable, priority: int = 0) -> None:
        runnable.run()

    def clear(self) -> None:
        pass

    def tryTake(self, runnable: QRunnable) -> bool:
        return False  # every job has already run

    def waitForDone(self, msecs: int = -1) -> bool:
        return True

    def activeThreadCount(self) -> int:
        return 0


def make_pool(threads: int) -> QThreadPool:
    pool = QThreadPool()
    pool.setMaxThreadCount(threads)
    return pool
