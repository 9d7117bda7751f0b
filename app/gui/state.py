"""The application's state, free of Qt: the open library, the search model's state, the library's
status, what the grid shows (request and scope) and whether indexing runs.

Controllers change it through its setters; each setter notifies the listeners subscribed to that
`Event` (plain callbacks, called synchronously). Only the UI thread changes the state: work that
runs in a pool thread reports back through `workers.Runner` first. Nothing here touches the disk:
whatever a value needs from the library was read in a worker and is stored here, so the UI thread
never waits on SQL (the search model's name, for instance, is `model.name`, not `library.model`).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.library import Library, Status


class Event(enum.Enum):
    LIBRARY = "library"  # a library was attached
    MODEL = "model"  # ModelInfo changed
    STATUS = "status"  # a fresh Status arrived
    QUERY = "query"  # the request or the scope changed
    INDEXING = "indexing"  # indexing started or stopped
    FOLDERS = "folders"  # folders were added or removed (watcher, indexing and status follow)
    CONTENT = "content"  # photos, tags or categories changed: results and lists are stale
    MODEL_SWITCHED = "model_switched"  # the search model changed (training, Use, Roll back, Settings)


class ModelState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ModelInfo:
    """The search model as the whole window sees it (one state, one message)."""

    state: ModelState = ModelState.LOADING
    name: str = ""  # shown to the user, e.g. "ViT-B-32"
    key: str = ""  # engine ModelSpec.key of the search model
    target: tuple[str, str | None] = ("", None)  # (name, pretrained) new vectors are made with
    problem: str = ""  # why it is unavailable, in the user's words
    offline: bool = False  # unavailable because there is no network


SORT_RELEVANCE, SORT_NEWEST, SORT_OLDEST = "relevance", "newest", "oldest"  # as the engine names them


@dataclass(frozen=True)
class SearchRequest:
    """What the user asked for, before the engine parses it. `likes` and `unlikes` are the photos
    marked "more like this" and "not like this" for this query."""

    text: str = ""
    image: str | None = None
    after: float | None = None
    before: float | None = None
    sort: str = SORT_RELEVANCE
    likes: tuple[str, ...] = ()
    unlikes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.text.strip() and not self.image and not self.likes

    def same_query(self, other: SearchRequest) -> bool:
        """Whether `other` asks for the same thing (marks belong to a query: a new one drops them)."""
        return (self.text.strip(), self.image) == (other.text.strip(), other.image)


SCOPE_FOLDER, SCOPE_CATEGORY, SCOPE_TAG = "folder", "category", "tag"


@dataclass(frozen=True)
class Scope:
    """What the grid shows: a folder ("" = all photos), a category or a tag."""

    kind: str = SCOPE_FOLDER
    value: str = ""

    @property
    def folder(self) -> str | None:
        return self.value or None if self.kind == SCOPE_FOLDER else None


Listener = Callable[..., Any]


class AppState:
    """See the module docstring. Subscribe with `state.subscribe(Event.MODEL, callback)`."""

    def __init__(self) -> None:
        self.library: Library | None = None
        self.read_only = ""  # why the library cannot be changed, in one sentence ("" = it can)
        self.model = ModelInfo()
        self.status: Status | None = None
        self.request = SearchRequest()
        self.scope = Scope()
        self.indexing = False
        self.closing = False
        self._listeners: dict[Event, list[Listener]] = defaultdict(list)

    def subscribe(self, event: Event, listener: Listener) -> None:
        self._listeners[event].append(listener)

    def _emit(self, event: Event, *args: Any) -> None:
        if self.closing:
            return
        for listener in list(self._listeners[event]):
            listener(*args)

    def set_library(self, library: Library, read_only: str = "") -> None:
        """Attach `library`; `read_only` says why it cannot be changed ("" when it can)."""
        self.library = library
        self.read_only = read_only
        self._emit(Event.LIBRARY, library)

    def set_model(self, info: ModelInfo) -> None:
        changed = info != self.model
        self.model = info
        if changed:
            self._emit(Event.MODEL, info)

    def update_model(self, **changes: Any) -> None:
        self.set_model(replace(self.model, **changes))

    @property
    def model_ready(self) -> bool:
        return self.model.state is ModelState.READY

    def set_status(self, status: Status) -> None:
        self.status = status
        self._emit(Event.STATUS, status)

    def set_query(self, request: SearchRequest | None = None, scope: Scope | None = None) -> None:
        """Change what the grid shows (either part, or neither to ask for the same again)."""
        self.request = request if request is not None else self.request
        self.scope = scope if scope is not None else self.scope
        self._emit(Event.QUERY)

    def set_indexing(self, running: bool) -> None:
        if running != self.indexing:
            self.indexing = running
            self._emit(Event.INDEXING, running)

    def folders_changed(self) -> None:
        self._emit(Event.FOLDERS)

    def content_changed(self) -> None:
        self._emit(Event.CONTENT)

    def model_switched(self, reembedding: bool = False) -> None:
        self._emit(Event.MODEL_SWITCHED, reembedding)
