"""Personal tags and highlight maps, and the training-free search boost they give.

A tag is a text the user attaches to a photo: a name ("Rex") or a caption ("Rex asleep on the
sofa"). A highlight marks where in the photo one phrase of that text is: a box (fractions of the
upright photo, top-left origin) or a brush mask (PNG). Tags hang on the photo's content hash, like
its vectors, so they survive renames and moves.

Search (`search_with_tags`) uses tags the moment they are given, without training: a query that
names a tag puts the photos carrying it first, and every other photo gains `weight * p`, where p
(0..1) is a per-tag linear probe's calibrated score, fitted on the tagged photos' stored vectors
against a sample of the library (engine/tag_scoring.py). Untagged photos that look like the tagged
ones, and not merely like their colour or shape, rise to the top.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .errors import ViewfinderError
from .paths import is_under
from .search import Hit, Query, search
from .storage import Store
from .tag_scoring import ProbeConfig, probe_scores
from .vector_index import VectorIndex

# Words that alone never make a query name a caption ("the" must not pull every caption in).
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "on",
        "in",
        "at",
        "to",
        "and",
        "or",
        "with",
        "for",
        "from",
        "by",
        "is",
        "are",
        "my",
        "our",
        "this",
        "that",
        "photo",
        "picture",
        "image",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)


class TagError(ViewfinderError):
    """A tag request that cannot be carried out as given (unknown photo, bad highlight)."""


@dataclass(frozen=True)
class Highlight:
    """Where one phrase of a tag's text is in the photo.

    box: (x0, y0, x1, y1) as fractions of the upright photo's width and height, top-left origin.
    mask: a PNG brush mask over the upright photo (any resolution; non-zero = highlighted).
    At least one of the two is set.
    """

    phrase: str
    box: tuple[float, float, float, float] | None = None
    mask: bytes | None = None

    def to_json(self) -> dict:
        return {
            "phrase": self.phrase,
            "box": list(self.box) if self.box else None,
            "mask": self.mask is not None,
        }


@dataclass(frozen=True)
class Tag:
    """A text on one photo (by content), with its highlights and the photo's current paths."""

    id: int
    hash: str
    text: str
    created_at: float
    highlights: tuple[Highlight, ...] = ()
    paths: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "path": self.paths[0] if self.paths else None,
            "paths": list(self.paths),
            "hash": self.hash,
            "text": self.text,
            "created_at": self.created_at,
            "highlights": [h.to_json() for h in self.highlights],
        }


@dataclass(frozen=True)
class TagSearchConfig:
    """How strongly tags steer search. weight: the boost (in units of the query vector's length,
    i.e. cosine) of a photo the tag's probe is sure of; probe: how the probe is fitted."""

    weight: float = 1.0
    probe: ProbeConfig = ProbeConfig()


def normalise_text(text: str) -> str:
    """Tag text as stored: trimmed, inner whitespace collapsed. Case is kept (names)."""
    return " ".join(text.split())


def check_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    """A box as four fractions 0..1 with x0 < x1 and y0 < y1, else TagError."""
    if len(box) != 4:
        raise TagError(f"A highlight box needs four numbers x0,y0,x1,y1, got {len(box)}.")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(0.0 <= v <= 1.0 for v in (x0, y0, x1, y1)):
        raise TagError(f"Highlight box {x0},{y0},{x1},{y1} must use fractions between 0 and 1 of the photo.")
    if x0 >= x1 or y0 >= y1:
        raise TagError(f"Highlight box {x0},{y0},{x1},{y1} is empty: need x0 < x1 and y0 < y1.")
    return (x0, y0, x1, y1)


def phrase_in_text(phrase: str, text: str) -> bool:
    """True when `phrase` occurs in `text` as whole words (case-insensitive)."""
    words, inside = _words(phrase), _words(text)
    return bool(words) and _contains(inside, words)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return any(list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


# -- writing -----------------------------------------------------------------------------------


def _indexed_photo_hash(store: Store, path: str | os.PathLike) -> tuple[str, str]:
    absolute = os.path.abspath(os.path.expanduser(os.fspath(path)))
    photo = store.photos.by_path(absolute)
    if photo is None:
        raise TagError(f"{absolute} is not in the library: add its folder with `viewfinder index FOLDER`.")
    if photo.error:
        raise TagError(f"{absolute} cannot be tagged: it could not be read ({photo.error}).")
    if not photo.hash:
        raise TagError(f"{absolute} is not indexed yet: run `viewfinder index` first.")
    return absolute, photo.hash


def add_tag(store: Store, path: str | os.PathLike, text: str, highlights: Iterable[Highlight] = ()) -> Tag:
    """Attach `text` to the photo at `path` (which must be indexed), with optional highlights.

    Tagging a photo again with the same text keeps one tag; a highlight replaces an earlier one of
    the same phrase. Raises TagError for an unknown or unindexed photo, an empty text, a phrase
    that is not in the text, or a bad box.
    """
    text = normalise_text(text)
    if not text:
        raise TagError("A tag needs some text.")
    absolute, content_hash = _indexed_photo_hash(store, path)
    checked = []
    for h in highlights:
        if not phrase_in_text(h.phrase, text):
            raise TagError(f"The highlighted phrase {h.phrase!r} does not occur in the tag {text!r}.")
        if h.box is None and h.mask is None:
            raise TagError(f"The highlight of {h.phrase!r} needs a box or a mask.")
        checked.append(replace(h, phrase=normalise_text(h.phrase), box=check_box(h.box) if h.box else None))
    tag_id = store.tags.add(content_hash, text, [(h.phrase, h.box, h.mask) for h in checked])
    return next(t for t in tags_of(store, absolute) if t.id == tag_id)


def remove_tags(store: Store, path: str | os.PathLike, text: str | None = None) -> int:
    """Remove one tag (by text) or all tags from the photo at `path`; returns how many went.

    Raises TagError when the photo is unknown, or `text` was given and the photo lacks it.
    """
    absolute, content_hash = _indexed_photo_hash(store, path)
    removed = store.tags.remove(content_hash, None if text is None else normalise_text(text))
    if text is not None and not removed:
        raise TagError(f"{absolute} has no tag {normalise_text(text)!r}.")
    return removed


# -- reading -----------------------------------------------------------------------------------


def list_tags(store: Store, *, hashes: Iterable[str] | None = None, present_only: bool = True) -> list[Tag]:
    """Every tag (or those of these content hashes), ordered by text then age.

    With present_only, tags of photos no longer in the library are left out (they are kept in the
    database: the photo may come back, e.g. an unplugged drive).
    """
    if hashes is not None:
        hashes = set(hashes)
        if not hashes:
            return []
    records = store.tags.records(hashes)
    paths = store.photos.paths_by_hash({r.hash for r in records})
    tags = [
        Tag(
            r.id,
            r.hash,
            r.text,
            r.created_at,
            tuple(Highlight(phrase, box, mask) for phrase, box, mask in r.highlights),
            tuple(paths.get(r.hash, ())),
        )
        for r in records
    ]
    return [t for t in tags if t.paths] if present_only else tags


def tags_of(store: Store, path: str | os.PathLike) -> list[Tag]:
    """The tags of the photo at `path` ([] for an unknown or unindexed photo)."""
    photo = store.photos.by_path(os.path.abspath(os.fspath(path)))
    if photo is None or not photo.hash:
        return []
    return list_tags(store, hashes=[photo.hash])


def tag_texts(store: Store) -> dict[str, int]:
    """Distinct tag texts with how many photos (content hashes in the library) carry each."""
    return store.tags.texts()


# -- search ------------------------------------------------------------------------------------


def matching_tag_texts(store: Store, query_text: str) -> list[str]:
    """Tag texts a query names: the tag's words occur in the query ("Rex" in "Rex on the beach"),
    or the query's words occur in a caption tag and are not all stopwords ("sofa" in "Rex asleep
    on the sofa")."""
    query = _words(query_text)
    if not query:
        return []
    meaningful = any(w not in STOPWORDS for w in query)
    out = []
    for text in tag_texts(store):
        words = _words(text)
        if words and (_contains(query, words) or (meaningful and _contains(words, query))):
            out.append(text)
    return out


def tag_query_vectors(store: Store, model: str, query_text: str) -> tuple[set[str], np.ndarray]:
    """The content hashes of photos whose tags the query names, and their vectors under `model`
    (the Tip-Adapter cache keys, (K, D), unit rows). Empty when no tag matches."""
    texts = matching_tag_texts(store, query_text)
    if not texts:
        return set(), np.zeros((0, 0), np.float32)
    hashes = store.tags.hashes_with(texts)
    return hashes, store.vectors.by_hash(model, hashes)[1]


def library_sample(store: Store, model: str, dim: int, limit: int, seed: int = 0) -> np.ndarray:
    """Up to `limit` stored vectors of the library (a fixed random sample), (N, dim)."""
    labels = sorted(store.vectors.labels(model))
    if len(labels) > limit:
        labels = sorted(np.random.default_rng(seed).choice(labels, size=limit, replace=False).tolist())
    return store.vectors.by_label(labels, dim) if labels else np.zeros((0, dim), np.float32)


def tag_scores(
    keys: np.ndarray, library: np.ndarray, vectors: np.ndarray, config: ProbeConfig = ProbeConfig()
) -> np.ndarray:
    """How surely each of `vectors` shows what the tagged photos (`keys`) show, 0..1: the tag's
    probe against `library` (a sample of the library, the tagged photos left out), cross-fitted."""
    tagged = {k.tobytes() for k in keys}
    negatives = np.stack([v for v in library if v.tobytes() not in tagged]) if len(library) else library
    if not len(negatives):
        return np.full(len(vectors), 0.5, np.float32)
    return probe_scores(keys, negatives, vectors, config)


def text_trust(vector: np.ndarray, keys: np.ndarray, library: np.ndarray) -> float:
    """How much the query text itself knows the tag, 0..1: 2 * (AUC - 0.5) of its cosine at
    telling the tagged photos from the library. A name the model never learnt scores about 0 (its
    cosine is noise and is left out); after training on the tag, close to 1."""
    if not len(library) or not len(keys):
        return 1.0
    negatives = np.sort(library @ vector)
    below = np.searchsorted(negatives, keys @ vector) / len(negatives)
    return float(np.clip(2.0 * (below.mean() - 0.5), 0.0, 1.0))


def search_with_tags(
    vector: np.ndarray,
    query: Query,
    store: Store,
    index: VectorIndex,
    model: str,
    config: TagSearchConfig = TagSearchConfig(),
) -> list[Hit]:
    """`engine.search.search` plus personal tags (same arguments, same filters, same Hit objects).

    Without a query text that names a tag this is exactly `search`. Otherwise: photos carrying a
    named tag come first, and every candidate's score becomes ``clip + weight * |q| * p`` with p the
    named tags' probe score (tag_scores) and clip the query's cosine, weighed by how well the query
    text itself tells the tagged photos from the library (text_trust). Candidates are the query's neighbours and the probe
    direction's. Tagged photos get a constant on top that no untagged score can reach.
    """
    k = max(0, query.k)
    hashes, keys = tag_query_vectors(store, model, query.text or "") if query.text else (set(), None)
    if k == 0 or keys is None or not len(keys) or len(index) == 0:
        return search(vector, query, store, index, model)
    want = k + len(hashes) + 8
    wider = replace(query, k=want)
    norm = float(np.linalg.norm(vector)) or 1.0
    library = library_sample(store, model, keys.shape[1], config.probe.max_negatives, config.probe.seed)
    candidates: dict[str, Hit] = {}
    directions = [vector, keys.mean(axis=0)]
    if len(library):
        direction = np.asarray(library.mean(axis=0))
        directions.append(keys.mean(axis=0) - direction)  # away from the library, towards the tag
    for d in directions:
        for hit in search(d, wider, store, index, model):
            candidates.setdefault(hit.path, hit)
    # The tagged photos themselves, when they pass the query's filters.
    for hit in _tagged_hits(store, model, hashes, query):
        candidates.setdefault(hit.path, hit)
    by_hash = {h.photo.hash for h in candidates.values() if h.photo.hash}
    found_hashes, vectors = store.vectors.by_hash(model, by_hash)
    if not found_hashes:
        return search(vector, query, store, index, model)
    clip = text_trust(vector, keys, library) * (vectors @ vector)
    boost = tag_scores(keys, library, vectors, config.probe)
    combined = dict(zip(found_hashes, clip + config.weight * norm * boost, strict=True))
    top_bonus = 2.0 * norm + config.weight * norm + 1.0
    scored = []
    for hit in candidates.values():
        if hit.photo.hash not in combined:
            continue
        score = float(combined[hit.photo.hash]) + (top_bonus if hit.photo.hash in hashes else 0.0)
        scored.append(Hit(hit.path, score, hit.photo))
    scored.sort(key=lambda h: (-h.score, h.path))
    return scored[:k]


def _tagged_hits(store: Store, model: str, hashes: set[str], query: Query) -> list[Hit]:
    allowed: set[int] | None = None
    if query.after is not None or query.before is not None or query.folder is not None:
        allowed = store.vectors.labels_matching(model, after=query.after, before=query.before, folder=query.folder)
    labels = [label for label in store.vectors.labels_of(model, hashes) if allowed is None or label in allowed]
    hits = []
    for photos in store.photos.for_labels(labels, model).values():
        for photo in photos:
            if query.folder and not is_under(photo.path, query.folder):
                continue
            hits.append(Hit(photo.path, 0.0, photo))
    return hits


__all__ = [
    "STOPWORDS",
    "Highlight",
    "Tag",
    "TagError",
    "TagSearchConfig",
    "add_tag",
    "check_box",
    "list_tags",
    "matching_tag_texts",
    "phrase_in_text",
    "remove_tags",
    "search_with_tags",
    "library_sample",
    "tag_query_vectors",
    "tag_scores",
    "text_trust",
    "tag_texts",
    "tags_of",
]
