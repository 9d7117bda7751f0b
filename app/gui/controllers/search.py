"""Searching and browsing: the request and scope in `AppState` answered by one coalesced job, the
results model, empty states, the scope line, images as queries (find similar, paste, drop)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QGuiApplication, QImage
from PySide6.QtWidgets import QWidget

from .. import jobs
from .. import tags as tag_jobs
from ..categories import CategoryBook, category_hits
from ..state import SCOPE_CATEGORY, SCOPE_TAG, AppState, Event, ModelState, SearchRequest
from ..views import RESULTS_EMPTY, RESULTS_GRID, Views
from ..workers import CoalescedJob, Runner

if TYPE_CHECKING:
    from engine.search import Hit, Results


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff", ".bmp", ".gif"}


def is_image_file(path: str) -> bool:
    """Whether `path` is an existing file with an image suffix we can search by."""
    return os.path.isfile(path) and os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES


class SearchController(QObject):
    """Runs the current query whenever the request, the scope or the library's contents change."""

    results_updated = Signal()  # the results model holds the answer to the latest request

    def __init__(
        self, state: AppState, views: Views, runner: Runner, categories: CategoryBook, window: QWidget
    ):
        super().__init__(window)
        self.state, self.views, self.runner, self.categories = state, views, runner, categories
        self._job = CoalescedJob[tuple[SearchRequest, jobs.Answer]](
            runner, self._done, self._failed, priority=5
        )
        self._waiting_for_model = False
        self._hidden: frozenset[str] = frozenset()  # the unavailable folders the last run left out
        self._shown: SearchRequest | None = None  # the request the grid shows the answer to
        self._shown_scope: object = None

        bar, sidebar = views.search_bar, views.sidebar
        bar.search.connect(self._asked)
        bar.sort_changed.connect(views.results.set_sort)
        views.results.set_sort(bar.sort.currentData())
        bar.clear_marks.connect(self.clear_marks)
        views.delegate.mark_clicked.connect(self._mark_clicked)
        self.like_action = QAction("More like this", self)
        self.like_action.triggered.connect(lambda: self.mark(self._selected(), True))
        self.unlike_action = QAction("Not like this", self)
        self.unlike_action.triggered.connect(lambda: self.mark(self._selected(), False))
        self.clear_marks_action = QAction("Clear marks", self)
        self.clear_marks_action.triggered.connect(self.clear_marks)
        self.mark_actions = [self.like_action, self.unlike_action, self.clear_marks_action]
        for signal in (sidebar.folder_selected, sidebar.category_selected, sidebar.tag_selected):
            signal.connect(lambda _value: state.set_query(scope=sidebar.current_scope()))
        state.subscribe(Event.QUERY, lambda: bar.set_ranked_scope(state.scope.kind == SCOPE_CATEGORY))
        state.subscribe(Event.QUERY, self.run)
        state.subscribe(Event.CONTENT, self.run)
        state.subscribe(Event.MODEL, self._model_changed)
        state.subscribe(Event.STATUS, lambda _status: self._status_changed())
        state.subscribe(Event.INDEXING, lambda _running: self._fill_if_empty())

    @property
    def busy(self) -> bool:
        return self._job.busy

    # -- asking ------------------------------------------------------------------------------

    def search_text(self, text: str) -> None:
        """Type-and-Enter equivalent (for scripts and tests)."""
        self.views.search_bar.set_text(text)
        self.views.search_bar.emit_search()

    def find_similar(self, path: str) -> None:
        self.views.search_bar.set_text("")
        self.views.search_bar.set_image(path)

    def focus(self) -> None:
        field = self.views.search_bar.field
        field.setFocus()
        field.selectAll()

    def paste_image(self) -> bool:
        """Search by the clipboard's image (data or a file); False when it holds none."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return False
        for url in mime.urls() if mime.hasUrls() else []:
            if url.isLocalFile() and is_image_file(url.toLocalFile()):
                self.find_similar(url.toLocalFile())
                return True
        if mime.hasImage():
            image = QImage(mime.imageData())
            if image.isNull():
                return False
            from engine.config import default_cache_dir

            folder = str(default_cache_dir())
            self.runner.submit(lambda: jobs.save_pasted_image(image, folder), self.find_similar)
            return True
        return False

    # -- marks: "more like this", "not like this" -------------------------------------------

    def _asked(self, request: SearchRequest) -> None:
        """A request from the search bar; the marks stay while the query is the same."""
        current = self.state.request
        if request.same_query(current):
            request = replace(request, likes=current.likes, unlikes=current.unlikes)
        self.state.set_query(request=request)
        self._show_marks()

    def mark(self, paths: list[str], good: bool | None) -> None:
        """Mark photos as good (more like this), bad (not like this) or neither (None): the search
        runs again at once with the marks (in the worker), re-ranking and re-cutting."""
        if not paths:
            return
        request = self.state.request
        likes = [p for p in request.likes if p not in paths]
        unlikes = [p for p in request.unlikes if p not in paths]
        if good is True:
            likes += paths
        elif good is False:
            unlikes += paths
        self.state.set_query(request=replace(request, likes=tuple(likes), unlikes=tuple(unlikes)))
        self._show_marks()

    def clear_marks(self) -> None:
        request = self.state.request
        if request.likes or request.unlikes:
            self.state.set_query(request=replace(request, likes=(), unlikes=()))
        self._show_marks()

    def _mark_clicked(self, path: str, good: bool) -> None:
        """A hover button: marks the photo, or takes the mark away when it is already so marked."""
        self.mark([path], None if self.views.results.mark(path) is good else good)

    def _selected(self) -> list[str]:
        paths = self.views.results.paths()
        return [paths[row] for row in sorted(i.row() for i in self.views.grid.selectedIndexes())]

    def _show_marks(self) -> None:
        request = self.state.request
        self.views.results.set_marks(request.likes, request.unlikes)
        self.views.search_bar.set_marks(len(request.likes), len(request.unlikes))
        self.clear_marks_action.setEnabled(bool(request.likes or request.unlikes))

    # -- answering ---------------------------------------------------------------------------

    def _work(self) -> Callable[[], list[Hit] | Results] | None:
        """The job answering the current request in the current scope; None when none can run."""
        library, request, scope = self.state.library, self.state.request, self.state.scope
        if library is None:
            return None
        needs_model = not request.empty or scope.kind == SCOPE_CATEGORY  # members need text vectors
        model = self.state.model.state
        if needs_model and model is ModelState.LOADING:
            self._waiting_for_model = True
            self.show_empty("Loading model…\nYour search runs as soon as it is ready.")
            return None
        if needs_model and model is ModelState.UNAVAILABLE:
            self.show_empty(
                "Search is unavailable until the image model is on this computer (see above).\nBrowsing works: clear the search."
            )
            return None
        book = self.categories
        if scope.kind == SCOPE_CATEGORY:
            query = jobs.make_query(request)
            return lambda: category_hits(book, scope.value, query)
        if scope.kind == SCOPE_TAG:
            tag_query = None if request.empty else jobs.make_query(request)
            return lambda: tag_jobs.tagged_hits(library, scope.value, tag_query)
        if request.empty:
            return lambda: jobs.browse(library, scope.folder, request)
        return lambda: jobs.search(library, request, scope.folder)

    def run(self) -> None:
        """Answer the current request (coalesced: one search in flight; the newest wins)."""
        work = self._work()
        if work is None:
            return
        request, gone = self.state.request, self._gone_folders()
        self._hidden = gone
        self._job.run(lambda: (request, jobs.answer(work(), gone)))

    def tag_looked_at(self, text: str) -> None:
        """A closer look at the tag `text` now counts in its searches: a query naming it is answered
        again, so the grid shows what the look found."""
        if re.search(rf"(?<!\w){re.escape(text.casefold())}(?!\w)", self.state.request.text.casefold()):
            self.run()

    def _gone_folders(self) -> frozenset[str]:
        status = self.state.status
        return frozenset(f.path for f in status.folders if not f.available) if status else frozenset()

    def _status_changed(self) -> None:
        if self._gone_folders() != self._hidden:  # a folder went away or came back: show what is there
            self.run()
        else:
            self._fill_if_empty()

    def _model_changed(self, _info: object) -> None:
        if self._waiting_for_model and self.state.model.state is not ModelState.LOADING:
            self._waiting_for_model = False
            self.run()

    def _fill_if_empty(self) -> None:
        """While a first scan fills the library, an empty grid shows the photos found so far."""
        if self.state.request.empty and not self.views.results.rowCount() and not self._job.busy:
            self.run()

    def _done(self, answered: tuple[SearchRequest, jobs.Answer]) -> None:
        request, answer = answered
        hits = answer.hits
        views = self.views
        # The same query again (marks changed, the library grew): stay where the user is.
        same = (
            self._shown is not None
            and request.same_query(self._shown)
            and self._shown_scope == self.state.scope
        )
        self._shown, self._shown_scope = request, self.state.scope
        views.results.set_hits(hits, keep_weaker_open=same, weaker_total=answer.weaker)
        views.results.set_marks(request.likes, request.unlikes)
        if hits:
            views.results_stack.setCurrentIndex(RESULTS_GRID)
            if not same:
                views.grid.scrollToTop()
        elif request.empty:
            self.show_empty(self._nothing_to_browse())
        else:
            self.show_empty("No photos match your search.")
        results = views.results
        matches = answer.matches if answer.matches is not None else results.matches
        self._update_scope_line(request, matches, results.weaker_total, answer.bounded)
        self.results_updated.emit()

    def _nothing_to_browse(self) -> str:
        """The empty state without a query: indexing under way (with how far it got), or nothing."""
        status = self.state.status
        if self.state.indexing or (status is not None and status.pending):
            found = ""
            if status is not None and status.total:
                found = f"\n{status.photos:,} of {status.total:,} photos indexed so far."
            return f"Indexing is under way: your photos appear here as they are found.{found}"
        return "No photos here."

    def _failed(self, error: Exception) -> None:
        from engine.errors import ModelUnavailable

        if isinstance(error, ModelUnavailable):
            self.state.update_model(state=ModelState.UNAVAILABLE, problem=str(error))
        self.show_empty(f"Cannot search: {error}")
        self.results_updated.emit()

    def show_empty(self, text: str) -> None:
        self._shown = None
        self.views.results.set_hits([])
        self.views.empty_label.setText(text)
        self.views.results_stack.setCurrentIndex(RESULTS_EMPTY)

    def _update_scope_line(self, request: SearchRequest, count: int, weaker: int = 0, bounded: bool = False) -> None:
        scope = self.state.scope
        where = os.path.basename(scope.folder.rstrip(os.sep)) if scope.folder else "All photos"
        if scope.kind == SCOPE_CATEGORY:
            where = f"Category “{scope.value}”"
        elif scope.kind == SCOPE_TAG:
            where = f"Tag “{scope.value}”"
        what = "photos" if request.empty else ("match" if count == 1 else "matches")
        at_least = "at least " if bounded else ""
        rest = f"  ·  {at_least}{weaker:,} weaker" if weaker else ""
        self.views.search_bar.set_scope(f"{where}  ·  {at_least}{count:,} {what}{rest}")
