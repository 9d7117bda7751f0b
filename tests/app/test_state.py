"""The application state's change events, and the one coalescing job helper, without a window."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.gui.state import AppState, Event, ModelState, Scope, SearchRequest
from app.gui.workers import CoalescedJob


def test_state_notifies_only_real_changes_and_stops_when_closing():
    state = AppState()
    seen: list[tuple[str, Any]] = []
    state.subscribe(Event.MODEL, lambda info: seen.append(("model", info.state)))
    state.subscribe(Event.QUERY, lambda: seen.append(("query", (state.request.text, state.scope.value))))
    state.subscribe(Event.INDEXING, lambda running: seen.append(("indexing", running)))

    state.update_model(state=ModelState.READY, name="tiny")
    state.update_model(state=ModelState.READY, name="tiny")  # no change: no event
    state.set_query(request=SearchRequest("dog"))
    state.set_query(scope=Scope("folder", "/photos"))
    state.set_indexing(False)  # already not indexing
    state.set_indexing(True)
    assert seen == [
        ("model", ModelState.READY),
        ("query", ("dog", "")),
        ("query", ("dog", "/photos")),
        ("indexing", True),
    ]
    assert state.model_ready and state.scope.folder == "/photos"
    state.closing = True
    state.content_changed()
    state.set_indexing(False)
    assert len(seen) == 4


class HeldRunner:
    """Keeps submitted jobs until the test finishes them, to reproduce overlaps exactly."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], Any], Callable[[Any], object], Callable[[Exception], object]]] = []

    def submit(self, fn, on_done=None, on_error=None, priority: int = 0) -> None:  # noqa: ARG002
        self.jobs.append((fn, on_done, on_error))

    def finish(self) -> None:
        fn, on_done, on_error = self.jobs.pop(0)
        try:
            result = fn()
        except Exception as e:
            on_error(e)
        else:
            on_done(result)


def test_coalesced_job_runs_the_newest_request_once_and_drops_stale_answers():
    runner = HeldRunner()
    answers: list[str] = []
    job: CoalescedJob[str] = CoalescedJob(runner, answers.append)  # type: ignore[arg-type]
    job.run(lambda: "first")
    job.run(lambda: "second")  # queued
    job.run(lambda: "third")  # replaces "second"
    assert job.busy and len(runner.jobs) == 1
    runner.finish()  # "first" is stale: dropped, "third" starts
    assert answers == [] and len(runner.jobs) == 1
    runner.finish()
    assert answers == ["third"] and not job.busy and not runner.jobs


def test_coalesced_job_keeping_every_answer_and_reporting_failures():
    runner = HeldRunner()
    answers: list[str] = []
    errors: list[str] = []
    starts: list[int] = []
    job: CoalescedJob[str] = CoalescedJob(
        runner,  # type: ignore[arg-type]
        answers.append,
        lambda e: errors.append(str(e)),
        drop_stale=False,
        on_start=lambda: starts.append(len(starts)),
    )

    def boom() -> str:
        raise OSError("disk gone")

    job.run(lambda: "a")
    job.run(boom)
    runner.finish()
    assert answers == ["a"] and job.busy  # kept, and the queued run started
    runner.finish()
    assert errors == ["disk gone"] and not job.busy and starts == [0, 1]
