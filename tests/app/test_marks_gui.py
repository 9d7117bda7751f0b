"""Through the real window: "more like this" / "not like this" marks re-rank and re-cut the search
(in the worker, through the engine's likes and unlikes), the match count, the weaker results, and
the empty state while indexing."""

from __future__ import annotations

from pathlib import Path

from app.gui.results_model import MarkRole
from tests.app.journeys import index_folders

INDEX_TIMEOUT = 120_000


def _index(qtbot, window, folder: Path) -> None:
    index_folders(qtbot, window, folder, photos=5)


def _answered(qtbot, window, action) -> None:
    with qtbot.waitSignal(window.search.results_updated, timeout=30_000):
        action()
    qtbot.waitUntil(lambda: not window.search.busy)


def test_marks_rerank_and_recut_at_once(qtbot, window, photo_dir: Path):
    _index(qtbot, window, photo_dir)
    results, bar = window.views.results, window.views.search_bar
    _answered(qtbot, window, lambda: window.search.search_text("a red car"))
    everything = results.matches + results.weaker
    assert everything == 5
    assert f"{results.matches} match" in bar.scope.text()

    # Mark a weaker result (or the last match) good and the first match, if any, bad.
    results.set_show_weaker(True)
    paths = results.paths()
    good, bad = paths[-1], paths[0]
    _answered(qtbot, window, lambda: window.search.mark([good], True))
    assert results.hit(results.row_of(good)).match  # a liked photo is a match
    _answered(qtbot, window, lambda: window.search.mark([bad], False))
    assert not results.hit(results.row_of(bad)).match  # a disliked one is not
    assert results.data(results.index(results.row_of(good)), MarkRole) is True
    assert results.data(results.index(results.row_of(bad)), MarkRole) is False
    assert results.show_weaker  # the same query re-ranked: the weaker results stay open
    assert bar.marks_chip.isVisibleTo(window) and "1 more like, 1 not like" in bar.marks_chip.text()
    assert window.state.request.likes == (good,) and window.state.request.unlikes == (bad,)

    # Clicking the same mark again takes it away; "Clear marks" drops them all.
    _answered(qtbot, window, lambda: window.views.delegate.mark_clicked.emit(good, True))
    assert window.state.request.likes == ()
    _answered(qtbot, window, bar.marks_chip.click)
    assert window.state.request.unlikes == () and not bar.marks_chip.isVisibleTo(window)
    assert all(results.data(results.index(r), MarkRole) is None for r in range(results.rowCount()))

    # A new query starts without marks.
    _answered(qtbot, window, lambda: window.search.mark([good], False))
    _answered(qtbot, window, lambda: window.search.search_text("a dog"))
    assert window.state.request.unlikes == () and not results.show_weaker


def test_no_empty_message_while_indexing(qtbot, window):
    qtbot.waitUntil(lambda: window.state.status is not None)
    _answered(qtbot, window, lambda: window.state.set_indexing(True))  # the first scan under way
    text = window.views.empty_label.text()
    assert "Indexing is under way" in text and "No photos here" not in text
    _answered(qtbot, window, lambda: window.state.set_indexing(False))
    assert window.views.empty_label.text() == "No photos here."


def test_counts_from_the_graph_say_at_least(qtbot, window, photo_dir: Path, monkeypatch):
    """Above the exact threshold the counts come from the graph's candidates: lower bounds, said so."""
    import engine.exact
    import engine.vector_index

    _index(qtbot, window, photo_dir)
    bar = window.views.search_bar
    _answered(qtbot, window, lambda: window.search.search_text("a red car"))
    assert "at least" not in bar.scope.text()

    monkeypatch.setattr(engine.exact, "EXACT_LIMIT", 1)
    monkeypatch.setattr(engine.vector_index, "EXACT_LIMIT", 0)
    _answered(qtbot, window, lambda: window.search.search_text("a blue bicycle"))
    assert "at least" in bar.scope.text()
