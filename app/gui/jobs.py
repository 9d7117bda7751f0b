"""The library work the window hands to its workers: plain functions, no Qt, no widgets.

Each runs in a pool thread (see workers.py for the threading rule). Engine modules that pull in
torch (engine.library, engine.encoder) are imported here lazily, so the window shows first.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from .search_bar import SearchRequest

if TYPE_CHECKING:
    from engine.config import ModelSpec
    from engine.library import Library
    from engine.search import Hit

log = logging.getLogger(__name__)

RESULT_LIMIT = 1000  # results per text or image query
BROWSE_LIMIT = 20_000  # photos shown when there is no query (newest first)


def open_library(path: str | None) -> Library:
    from engine.config import default_library_dir
    from engine.library import Library

    return Library(path or default_library_dir())


def browse(library: Library, folder: str | None, request: SearchRequest) -> list[Hit]:
    """Photos without a query, newest first: works before (or without) the model.

    Every photo the library knows and could read is listed, indexed or not yet, so a fresh folder
    can be browsed while it is being indexed. Hits carry NaN scores.
    """
    from engine.search import Hit

    store = library.store
    ids: list[int] = []
    for root in library.folders():
        inside = bool(folder) and folder != root
        if inside and not str(folder).startswith(root.rstrip(os.sep) + os.sep):
            continue
        stats = store.photo_stats(root)
        if inside:
            prefix = str(folder).rstrip(os.sep) + os.sep
            ids += [pid for path, (pid, _s, _m) in stats.items() if path.startswith(prefix)]
        else:
            ids += [pid for pid, _s, _m in stats.values()]
    photos = [p for p in store.photos_by_id(ids).values() if p.error is None]
    hits = []
    for p in photos:
        when = p.taken_at if p.taken_at is not None else p.mtime
        if request.after is not None and when < request.after:
            continue
        if request.before is not None and when >= request.before:
            continue
        hits.append(Hit(p.path, math.nan, p))
    hits.sort(key=lambda h: h.photo.taken_at if h.photo.taken_at is not None else h.photo.mtime, reverse=True)
    return hits[:BROWSE_LIMIT]


def search(library: Library, request: SearchRequest, folder: str | None, k: int = RESULT_LIMIT) -> list[Hit]:
    """A text and/or image query; `-word` in the text excludes a word (the engine parses it)."""
    from engine.search import Query, parse_query_text

    text, negatives = parse_query_text(request.text)
    query = Query(
        text=text or None,
        image=request.image,
        negatives=negatives,
        after=request.after,
        before=request.before,
        folder=folder or None,
        k=k,
    )
    if query.empty:  # only negatives typed ("-people"): nothing positive to rank by
        return browse(library, folder, request)
    return library.search(query)


def load_models(library: Library, progress: Callable[[int, int], None] | None = None) -> str:
    """Load the search model (and the one being switched to), reporting download bytes.

    Returns the search model's key. Raises engine.errors.ModelUnavailable when weights are missing.
    """
    specs: list[ModelSpec] = [library.model]
    if library.target_model.key != library.model.key:
        specs.append(library.target_model)
    for spec in specs:
        _load_encoder(library, spec, progress)
    return library.model.key


def _load_encoder(library: Library, spec: ModelSpec, progress: Callable[[int, int], None] | None) -> None:
    # Library.encoder() takes no progress callback; build the encoder here with one and hand it to
    # the library's cache, under the library's lock so indexing never loads the same model twice.
    lock = getattr(library, "_lock", None)
    cache = getattr(library, "_encoders", None)
    if lock is None or cache is None or progress is None:
        library.encoder(spec)
        return
    from engine.encoder import Encoder

    with lock:
        if spec.key not in cache:
            cache[spec.key] = Encoder.load(spec, library.device, progress=progress)


def save_pasted_image(image, folder: str) -> str:
    """Write a pasted QImage to a file an image query can read (in a worker: it touches disk)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "pasted-query.png")
    if not image.save(path, "PNG"):
        raise OSError(f"cannot write {path}")
    return path
