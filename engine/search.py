"""Queries: text, image, weighted terms and negatives, date and folder filters, top-k."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import PhotoError, QueryError
from .paths import is_under
from .photos import open_image
from .store import PhotoRow, Store
from .vector_index import VectorIndex

if TYPE_CHECKING:  # the encoder pulls in torch; searching code is handed one
    from .encoder import Encoder

# A negative term pulls the query away from a concept at half the weight of a positive one: strong
# enough to push "beach -people" photos with people down, not so strong that it dominates the query.
NEGATIVE_WEIGHT = 0.5
# Below this many candidates a filtered search is exact (brute force over the candidates' vectors);
# above it, the graph search with a filter is faster and still accurate.
EXACT_SEARCH_LIMIT = 20_000


@dataclass(frozen=True)
class Query:
    """What to look for. Every part is optional, but there must be something to look for."""

    text: str | None = None
    image: str | None = None
    negatives: tuple[str, ...] = ()
    terms: tuple[tuple[str, float], ...] = ()  # extra weighted text terms
    after: float | None = None  # POSIX seconds, inclusive
    before: float | None = None  # POSIX seconds, exclusive
    folder: str | None = None
    k: int = 50

    @property
    def empty(self) -> bool:
        return not (self.text and self.text.strip()) and not self.image and not self.terms


@dataclass(frozen=True)
class Hit:
    """One search result: a photo and its score (weighted sum of cosine similarities)."""

    path: str
    score: float
    photo: PhotoRow = field(repr=False)
    companions: tuple[str, ...] = ()  # other files of the same shot (the RAW beside a JPEG)


_NEGATIVE = re.compile(r'(?:^|\s)-(?:"([^"]+)"|(\S+))')


def parse_query_text(text: str) -> tuple[str, tuple[str, ...]]:
    """Split `beach at dusk -people -"red car"` into ("beach at dusk", ("people", "red car"))."""
    negatives = tuple(a or b for a, b in _NEGATIVE.findall(text))
    positive = " ".join(_NEGATIVE.sub(" ", text).split())
    return positive, negatives


def query_vector(query: Query, encoder: Encoder) -> np.ndarray:
    """The weighted sum of the parts' unit vectors: its dot product with a photo vector is the same
    weighted sum of cosines, so one nearest-neighbour search ranks by the combined score."""
    texts: list[tuple[str, float]] = []
    if query.text and query.text.strip():
        texts.append((query.text.strip(), 1.0))
    texts += [(t, w) for t, w in query.terms if t.strip()]
    texts += [(t, -NEGATIVE_WEIGHT) for t in query.negatives if t.strip()]
    parts: list[np.ndarray] = []
    if texts:
        vectors = encoder.encode_texts([t for t, _ in texts])
        parts += [w * v for (_, w), v in zip(texts, vectors, strict=True)]
    if query.image:
        parts.append(encode_image_file(encoder, query.image))
    if not parts:
        raise QueryError("Nothing to search for: give a text, an image, or both.")
    return np.sum(parts, axis=0).astype(np.float32)


def encode_image_file(encoder: Encoder, path: str) -> np.ndarray:
    """The unit vector of a photo file used as a query; QueryError when it cannot be read."""
    try:
        image, _ = open_image(path, min_size=encoder.image_size)
    except PhotoError as e:
        raise QueryError(f"Cannot use {path} as a query: {e.reason}.") from e
    return encoder.encode_images(encoder.preprocess_image(image)[None])[0]


def check_folder(folder: str, library_folders: list[str]) -> str:
    """The absolute folder if it is one of the library's folders or inside one, else QueryError."""
    folder = os.path.abspath(os.path.expanduser(folder))
    for root in library_folders:
        if is_under(folder, root):
            return folder
    known = ", ".join(library_folders) or "none yet"
    raise QueryError(f"{folder} is not in the library (its folders: {known}).")


def search(
    vector: np.ndarray, query: Query, store: Store, index: VectorIndex, model: str
) -> list[Hit]:
    """Top-k photos for a query vector, best first, honouring the query's filters."""
    k = max(0, query.k)
    if k == 0 or len(index) == 0:
        return []
    # Labels map to one photo or more (duplicates share a vector), and an index that is briefly
    # behind the store may return a label whose photo just left: ask for a little more than k.
    want = k + 8
    norm = float(np.linalg.norm(vector)) or 1.0
    if query.after is None and query.before is None and query.folder is None:
        found = [(label, score * norm) for label, score in index.search(vector / norm, want)]
    else:
        allowed = store.vectors.labels_matching(model, after=query.after, before=query.before, folder=query.folder)
        if not allowed:
            return []
        if len(allowed) <= EXACT_SEARCH_LIMIT:
            labels = sorted(allowed)
            scores = store.vectors.by_label(labels, vector.shape[0]) @ vector
            order = np.argsort(-scores)[:want]
            found = [(labels[i], float(scores[i])) for i in order]
        else:
            found = [
                (label, score * norm)
                for label, score in index.search(vector / norm, want, allowed=allowed.__contains__)
            ]
    photos = store.photos.for_labels([label for label, _ in found], model)
    hits: list[Hit] = []
    for label, score in found:
        for photo in photos.get(label, []):
            if query.folder and not is_under(photo.path, query.folder):
                continue
            hits.append(Hit(photo.path, float(score), photo))
    return hits[:k]
