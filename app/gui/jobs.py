"""The library work the window hands to its workers: plain functions, no Qt, no widgets.

Each runs in a pool thread (see workers.py for the threading rule). Engine modules that pull in
torch (engine.library, engine.encoder) are imported here lazily, so the window shows first.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from .state import ModelInfo, ModelState, SearchRequest

if TYPE_CHECKING:
    from engine.config import ModelSpec
    from engine.library import Library
    from engine.search import Hit, Query

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

    photos = library.photos(folder or None, after=request.after, before=request.before, limit=BROWSE_LIMIT)
    return [Hit(p.path, math.nan, p) for p in photos]


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
    )


def search(library: Library, request: SearchRequest, folder: str | None, k: int = RESULT_LIMIT) -> list[Hit]:
    """A text and/or image query; `-word` in the text excludes a word (the engine parses it)."""
    query = make_query(request, folder, k)
    if query.empty:  # only negatives typed ("-people"): nothing positive to rank by
        return browse(library, folder, request)
    return library.search(query)


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
    return os.path.basename(key.split("|")[0])


def load_models(library: Library, progress: Callable[[int, int], None] | None = None) -> ModelInfo:
    """Load the search model (and the one being switched to), reporting download bytes.

    Raises engine.errors.ModelUnavailable when weights are missing.
    """
    specs: list[ModelSpec] = [library.model]
    if library.target_model.key != library.model.key:
        specs.append(library.target_model)
    for spec in specs:
        library.encoder(spec, progress)
    return replace(model_info(library), state=ModelState.READY)


def save_pasted_image(image, folder: str) -> str:
    """Write a pasted QImage to a file an image query can read (in a worker: it touches disk)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "pasted-query.png")
    if not image.save(path, "PNG"):
        raise OSError(f"cannot write {path}")
    return path
