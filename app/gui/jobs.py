"""The library work the window hands to its workers: plain functions, no Qt, no widgets.

Each runs in a pool thread (see workers.py for the threading rule). Engine modules that pull in
torch (engine.library, engine.encoder) are imported here lazily, so the window shows first.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .state import ModelInfo, ModelState, SearchRequest

if TYPE_CHECKING:
    from engine.config import ModelSpec
    from engine.library import Library
    from engine.search import Hit, Query, Results

log = logging.getLogger(__name__)

RESULT_LIMIT = 1000  # results per text or image query
BROWSE_LIMIT = 20_000  # photos shown when there is no query (newest first)


def open_library(path: str | None) -> Library:
    from engine.config import default_library_dir
    from engine.library import Library

    return Library(path or default_library_dir())


def read_only_text(library: Library) -> str:
    """Why the library cannot be changed, in one sentence for the window ("" when it can)."""
    if not library.read_only:
        return ""
    reason = library.store.db.read_only_reason or "its folder cannot be written to"
    return (
        f"This library ({library.path}) is read-only because {reason}: you can browse and search, "
        "but not change folders, tags or albums, and new photos are not indexed."
    )


def browse(library: Library, folder: str | None, request: SearchRequest) -> list[Hit]:
    """Photos without a query, newest first: works before (or without) the model.

    Every photo the library knows and could read is listed, indexed or not yet, so a fresh folder
    can be browsed while it is being indexed. Hits carry NaN scores.
    """
    from engine.search import Hit

    photos = library.photos(folder or None, after=request.after, before=request.before, limit=BROWSE_LIMIT)
    return [Hit(p.path, math.nan, p) for p in photos]


def hide_folders(hits: list[Hit], folders: frozenset[str]) -> list[Hit]:
    """The hits outside `folders` (folders that are gone for now: a drive unplugged, a folder moved)."""
    if not folders:
        return hits
    prefixes = tuple(f.rstrip(os.sep) + os.sep for f in folders)
    return [h for h in hits if not h.path.startswith(prefixes)]


def folders_available(folders: list[str]) -> list[bool]:
    return [os.path.isdir(f) for f in folders]


def make_query(request: SearchRequest, folder: str | None = None, k: int = RESULT_LIMIT) -> Query:
    """The engine query for a request; `-word` in the text excludes a word."""
    from engine.search import Query, parse_query_text

    text, negatives = parse_query_text(request.text)
    return Query(
        text=text or None,
        image=request.image,
        negatives=negatives,
        after=request.after,
        before=request.before,
        folder=folder or None,
        k=k,
        likes=request.likes,
        unlikes=request.unlikes,
    )


def search(
    library: Library, request: SearchRequest, folder: str | None, k: int = RESULT_LIMIT
) -> list[Hit] | Results:
    """A text and/or image query; `-word` in the text excludes a word (the engine parses it).
    The engine's Results carry how many photos of the library match and how many are weaker."""
    query = make_query(request, folder, k)
    if query.empty:  # only negatives typed ("-people"): nothing positive to rank by
        return browse(library, folder, request)
    return library.find(query)


@dataclass(frozen=True)
class Answer:
    """What the grid shows: the hits (matches first), and when known the library-wide counts of
    matches and weaker results (the hits stop at RESULT_LIMIT; the counts do not)."""

    hits: list[Hit]
    matches: int | None = None
    weaker: int | None = None
    bounded: bool = False  # the counts are lower bounds (a library searched through its graph)


def answer(found: list[Hit] | Results, gone: frozenset[str]) -> Answer:
    """The hits outside folders that are gone for now; the counts only when none is gone (they
    would count the photos hidden)."""
    if isinstance(found, list):
        return Answer(hide_folders(found, gone))
    if gone:
        return Answer(hide_folders(found.hits, gone))
    return Answer(found.hits, found.matches, found.weaker, found.bounded)


def model_info(library: Library) -> ModelInfo:
    """The library's search model and target, as `AppState` holds them (state: loading)."""
    model, target = library.model, library.target_model
    return ModelInfo(
        state=ModelState.LOADING,
        name=model_display_name(model.key),
        key=model.key,
        target=(target.name, target.pretrained),
    )


def model_display_name(key: str) -> str:
    """ "ViT-B-32" for a key like "ViT-B-32|datacomp_xl_s13b_b90k"; a file's base name for a config."""
    name = os.path.basename(key.split("|")[0])
    return name.removesuffix(".json")


class ModelMissing(Exception):
    """The model's weights are not on this computer and cannot be had now; `offline` when there is
    no network (checked in a second, instead of the hub client's retries)."""

    def __init__(self, name: str, offline: bool, detail: str):
        super().__init__(detail)
        self.name, self.offline, self.detail = name, offline, detail


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the model hub answers a TCP connection within `timeout` seconds (DNS included)."""
    url = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    address = (url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80))
    answer: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection(address, timeout).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, name="hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer and answer[0])


_offline_set_by_us = False


def set_hub_offline(offline: bool) -> None:
    """Tell the hub client there is no network (no retries, cached weights load at once); undo
    only what we set, never a user's own HF_HUB_OFFLINE."""
    global _offline_set_by_us
    users_own = not _offline_set_by_us and os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")
    if users_own or offline == _offline_set_by_us:
        return
    os.environ["HF_HUB_OFFLINE"] = "1" if offline else "0"
    _offline_set_by_us = offline
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = offline  # type: ignore[attr-defined]


def needs_hub(spec: ModelSpec) -> bool:
    """Whether loading `spec` may download weights (a pretrained tag, not a file of the user's)."""
    pretrained = spec.pretrained or ""
    is_file = os.sep in pretrained or pretrained.endswith((".safetensors", ".pt", ".pth", ".bin"))
    return bool(pretrained) and not is_file


def load_models(
    library: Library,
    progress: Callable[[int, int], None] | None = None,
    reachable: Callable[[], bool] | None = None,
) -> ModelInfo:
    """Load the search model (and the one being switched to), reporting download bytes.

    Raises ModelMissing when the weights cannot be had (saying whether the network is down).
    """
    from engine.errors import ModelUnavailable

    specs: list[ModelSpec] = [library.model]
    if library.target_model.key != library.model.key:
        specs.append(library.target_model)
    offline = False
    if any(needs_hub(spec) for spec in specs):
        offline = not (reachable or hub_reachable)()
        set_hub_offline(offline)
    for spec in specs:
        try:
            library.encoder(spec, progress)
        except ModelUnavailable as e:
            raise ModelMissing(model_display_name(spec.key), offline, str(e)) from e
    return replace(model_info(library), state=ModelState.READY)


def save_pasted_image(image, folder: str) -> str:
    """Write a pasted QImage to a file an image query can read (in a worker: it touches disk)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "pasted-query.png")
    if not image.save(path, "PNG"):
        raise OSError(f"cannot write {path}")
    return path
