"""Categories: smart albums described in words, computed from the stored photo vectors.

A category is a name, one or more descriptions ("my dog", "a brown labrador") and optionally
descriptions of what it is not. Its vector is a prompt ensemble (CLIP paper): each description is
put into several templates ("a photo of a {}."), the normalised embeddings are averaged and
re-normalised; descriptions are averaged; negatives are subtracted at half weight.

Membership is never stored: it is computed when asked, as one matrix product over all photo
vectors of the library's model, so a category updates itself as photos are indexed. Raw cosines
are not comparable between categories, so a photo's *score* is its relevance to the category,
0..1, calibrated against a bank of unrelated texts exactly as search calibrates a query
(engine/calibration.py). The automatic threshold is 0.5, search's cut: more likely a member than
not. A user-set threshold replaces it; `Membership.count_at` previews any value.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .calibration import Calibrator, relevance
from .errors import QueryError, ViewfinderError
from .paths import is_under
from .photo_table import PhotoTable, PhotoTables
from .search import NEGATIVE_WEIGHT, Hit, Query, query_vector
from .storage import PhotoRow, Store
from .storage.categories import CategoryRecord

if TYPE_CHECKING:  # the encoder pulls in torch; only what encodes needs it
    from .encoder import Encoder

log = logging.getLogger(__name__)

# A few of CLIP's ImageNet templates: enough to wash out the wording of any single one.
TEMPLATES = (
    "a photo of a {}.",
    "a photo of the {}.",
    "a close-up photo of a {}.",
    "a bright photo of a {}.",
    "a cropped photo of the {}.",
    "a good photo of the {}.",
    "a photo of a small {}.",
    "a photo of a large {}.",
)
# For descriptions that already carry a determiner ("my dog", "the sea"): no second article.
TEMPLATES_NO_ARTICLE = (
    "a photo of {}.",
    "a close-up photo of {}.",
    "a bright photo of {}.",
    "a cropped photo of {}.",
    "a good photo of {}.",
    "{}.",
)
# fmt: off
_DETERMINERS = frozenset([
    "a", "an", "the", "my", "our", "your", "his", "her", "their", "this", "these", "those", "some",
    "two", "three"
])
# fmt: on
# Generic prompts that describe any photo a little ("some photo"): the OCR pass's text gate measures
# against them (engine/ocr.py).
BACKGROUND_PROMPTS = (
    "a photo.",
    "a picture of something.",
    "an image.",
    "a photo of something.",
    "a snapshot.",
    "a picture.",
)
# The automatic threshold: a photo is a member when it is more likely than not that the category
# describes it (relevance 0.5, engine/calibration.py), the same cut as search's.
AUTO_THRESHOLD = 0.5


class CategoryError(ViewfinderError):
    """A category request that cannot be done as given (unknown name, duplicate, no description)."""


@dataclass(frozen=True)
class Category:
    """A smart album as stored. threshold None means automatic (see module doc)."""

    name: str
    prompts: tuple[str, ...]
    negatives: tuple[str, ...] = ()
    threshold: float | None = None
    created_at: float = 0.0


@dataclass(frozen=True)
class Member:
    """A photo in a category, with its score (its relevance to the category, 0..1)."""

    path: str
    score: float
    photo: PhotoRow = field(repr=False)


@dataclass(frozen=True, eq=False)
class Membership:
    """One category's scores over the whole library, sorted best first, for cheap previews.

    labels[i] is the vector label with the i-th best score; weights[i] how many photos share it
    (exact duplicates share one vector). A slider can call `count_at` on every move.
    """

    category: Category
    labels: np.ndarray  # (N,) int64, best first
    scores: np.ndarray  # (N,) float32, descending
    weights: np.ndarray = field(repr=False)  # (N,) int64
    auto_threshold: float

    @property
    def threshold(self) -> float:
        """The threshold in force: the user's, else the automatic one."""
        return self.category.threshold if self.category.threshold is not None else self.auto_threshold

    def count_at(self, threshold: float) -> int:
        """How many photos score at or above `threshold` (O(log N) after the first call)."""
        return int(self._cumulative[self._cut(threshold)])

    @property
    def count(self) -> int:
        return self.count_at(self.threshold)

    def member_labels(self, threshold: float | None = None) -> np.ndarray:
        """Labels of the members at `threshold` (default: the one in force), best first."""
        return self.labels[: self._cut(self.threshold if threshold is None else threshold)]

    def _cut(self, threshold: float) -> int:
        # scores descend; searchsorted wants ascending: count scores >= threshold.
        return int(np.searchsorted(-self.scores, -threshold, side="right"))

    @property
    def _cumulative(self) -> np.ndarray:
        cached = self.__dict__.get("_cum")
        if cached is None:
            cached = np.concatenate([[0], np.cumsum(self.weights)])
            object.__setattr__(self, "_cum", cached)
        return cached


def otsu_threshold(scores: np.ndarray) -> float:
    """The cut that maximises the between-class variance of a 1-D sample (Otsu, 1979)."""
    values = np.sort(np.asarray(scores, np.float64))
    n = len(values)
    if n < 2 or values[0] == values[-1]:
        return float(values[0]) if n else 0.0
    prefix = np.cumsum(values)
    k = np.arange(1, n)  # below-class sizes
    mean_low = prefix[:-1] / k
    mean_high = (prefix[-1] - prefix[:-1]) / (n - k)
    between = k * (n - k) * (mean_low - mean_high) ** 2
    between[values[1:] == values[:-1]] = -1  # a cut must fall between two distinct values
    best = int(np.argmax(between))
    return float((values[best] + values[best + 1]) / 2)


def _prompts_for(description: str, templates: Sequence[str]) -> list[str]:
    words = description.strip().split()
    if templates is TEMPLATES and words and words[0].lower() in _DETERMINERS:
        templates = TEMPLATES_NO_ARTICLE
    return [t.format(description.strip()) for t in templates]


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 0 else v).astype(np.float32)


def ensemble_vector(
    descriptions: Sequence[str],
    encode_texts: Callable[[list[str]], np.ndarray],
    templates: Sequence[str] = TEMPLATES,
) -> np.ndarray:
    """Mean over descriptions of each description's template-ensemble vector, all re-normalised."""
    prompts = [_prompts_for(d, templates) for d in descriptions]
    vectors = encode_texts([p for group in prompts for p in group])
    per_description, start = [], 0
    for group in prompts:
        per_description.append(_unit(vectors[start : start + len(group)].mean(axis=0)))
        start += len(group)
    return _unit(np.mean(per_description, axis=0))


def category_vector(
    category: Category,
    encode_texts: Callable[[list[str]], np.ndarray],
    templates: Sequence[str] = TEMPLATES,
) -> np.ndarray:
    """The unit vector of a category: its descriptions' ensemble minus its negatives' at half weight."""
    vector = ensemble_vector(category.prompts, encode_texts, templates)
    if category.negatives:
        vector = vector - NEGATIVE_WEIGHT * ensemble_vector(category.negatives, encode_texts, templates)
    return _unit(vector)


class Categories:
    """The library's categories: stored definitions, live membership, search within one.

    store: the library's Store; model: the key of the model whose vectors to use; encoder: returns
    that model's Encoder (called lazily, only when a text must be encoded); tables and calibrator:
    the photo vectors and the relevance calibration, shared with search when built for a Library
    with `Categories.for_library(library)`; make a new one after the library switches models.
    Thread-safe; membership is cached per category and recomputed only when the store's vectors
    or photos change, or the category is edited.
    """

    def __init__(
        self,
        store: Store,
        model: str,
        encoder: Callable[[], Encoder],
        *,
        templates: Sequence[str] = TEMPLATES,
        tables: PhotoTables | None = None,
        calibrator: Calibrator | None = None,
    ):
        self.store = store
        self.model = model
        self._encoder = encoder
        self.templates = tuple(templates)
        self._tables = tables or PhotoTables(store, model)
        self._calibrator = calibrator or Calibrator(lambda texts: encoder().encode_texts(texts))
        self._lock = threading.RLock()
        self._text_cache: dict[tuple, np.ndarray] = {}
        self._memberships: dict[str, tuple[tuple, Membership]] = {}

    @classmethod
    def for_library(cls, library, **kwargs) -> Categories:
        """Categories over a `Library`'s search model (engine.library.Library), calibrated as its search."""
        tables, calibrator, _ = library.search_parts()
        # The tables' model, not library.model read again: a switch in between would pair the new
        # model's name with the old model's (emptied) table.
        return cls(library.store, tables.model, library.text_encoder, tables=tables, calibrator=calibrator, **kwargs)

    # -- definitions -------------------------------------------------------------------------

    def add(
        self,
        name: str,
        prompts: Sequence[str] = (),
        negatives: Sequence[str] = (),
        threshold: float | None = None,
    ) -> Category:
        """Create a category. With no prompts, the name itself is the description."""
        name = " ".join(name.split())
        if not name:
            raise CategoryError("A category needs a name.")
        cleaned = tuple(p.strip() for p in prompts if p.strip()) or (name,)
        category = Category(
            name, cleaned, tuple(n.strip() for n in negatives if n.strip()), threshold, time.time()
        )
        if not self.store.categories.insert(_record(category)):
            raise CategoryError(f"A category named '{name}' already exists.")
        return category

    def get(self, name: str) -> Category:
        record = self.store.categories.get(" ".join(name.split()))
        if record is None:
            known = ", ".join(c.name for c in self.list()) or "none yet"
            raise CategoryError(f"No category named '{name}' (categories: {known}).")
        return _category(record)

    def list(self) -> list[Category]:
        """All categories, by name."""
        return [_category(r) for r in self.store.categories.all()]

    def remove(self, name: str) -> None:
        category = self.get(name)
        self.store.categories.remove(category.name)
        with self._lock:
            self._memberships.pop(category.name, None)

    def update(
        self,
        name: str,
        *,
        prompts: Sequence[str] | None = None,
        negatives: Sequence[str] | None = None,
        threshold: float | None | str = "keep",
    ) -> Category:
        """Change a category's descriptions and/or threshold (None = automatic; "keep" = unchanged)."""
        old = self.get(name)
        new_prompts = tuple(p.strip() for p in prompts if p.strip()) if prompts is not None else old.prompts
        if not new_prompts:
            raise CategoryError(f"Category '{old.name}' needs at least one description.")
        new = Category(
            old.name,
            new_prompts,
            tuple(n.strip() for n in negatives if n.strip()) if negatives is not None else old.negatives,
            old.threshold if isinstance(threshold, str) else threshold,
            old.created_at,
        )
        self.store.categories.update(_record(new))
        return new

    def set_threshold(self, name: str, threshold: float | None) -> Category:
        """Fix the threshold (what a slider commits), or None to go back to automatic."""
        return self.update(name, threshold=threshold)

    # -- membership --------------------------------------------------------------------------

    def membership(self, name: str) -> Membership:
        """The category's scores over the library (cached until the vectors or the category change)."""
        category = self.get(name)
        with self._lock:
            table = self._tables.current()
            key = (table.generation, category)
            cached = self._memberships.get(category.name)
            if cached is not None and cached[0] == key:
                return cached[1]
            membership = self.membership_for(category)
            self._memberships[category.name] = (key, membership)
        if not self.store.read_only:
            self.store.categories.save_count(
                category.name, self.model, self._stamp(category, table.generation), membership.count
            )
        return membership

    def known_counts(self) -> dict[str, int | None]:
        """name -> member count as last computed, for every category; None where none is current
        (the photos, the vectors or the definition changed since). Loads no model."""
        generation = self.store.changes.generation(self.model)
        saved = self.store.categories.saved_counts(self.model)
        out: dict[str, int | None] = {}
        for category in self.list():
            stamp, count = saved.get(category.name, ("", 0))
            out[category.name] = count if stamp == self._stamp(category, generation) else None
        return out

    def membership_for(self, category: Category) -> Membership:
        """The scores a category definition would have, stored or not (a dialog's live preview)."""
        table = self._tables.current()
        if not len(table):
            return Membership(category, table.labels, np.zeros(0, np.float32), table.weights, AUTO_THRESHOLD)
        with self._lock:
            direction = self._text_vector(category)
        # Its descriptions' words keep a rival from sharing them, as a search text's do.
        text = " ".join(category.prompts)
        logits = self._calibrator.logits(table, np.arange(len(table)), direction, limit=None, text=text)
        scores = relevance(logits).astype(np.float32)
        order = np.lexsort((-(table.matrix @ direction), -scores))  # ties (relevance 1.0) by cosine
        return Membership(category, table.labels[order], scores[order], table.weights[order], AUTO_THRESHOLD)

    def members(
        self, name: str, k: int | None = None, threshold: float | None = None
    ) -> builtins.list[Member]:
        """Member photos, best first (at most k; at `threshold` or the category's own)."""
        membership = self.membership(name)
        labels = membership.member_labels(threshold)
        scores = dict(
            zip(membership.labels[: len(labels)].tolist(), membership.scores.tolist(), strict=False)
        )
        out: list[Member] = []
        chunk = max(64, (k or 0) + 8)
        for start in range(0, len(labels), chunk):
            part = [int(x) for x in labels[start : start + chunk]]
            photos = self.store.photos.for_labels(part, self.model)
            for label in part:
                out += [Member(p.path, float(scores[label]), p) for p in photos.get(label, [])]
            if k is not None and len(out) >= k:
                return out[:k]
        return out

    def counts(self) -> dict[str, int]:
        """name -> member count, for every category."""
        return {c.name: self.membership(c.name).count for c in self.list()}

    def search(self, query: Query, name: str) -> builtins.list[Hit]:
        """`query` answered among the category's members only (its date and folder filters too)."""
        if query.empty:
            raise QueryError("Nothing to search for: give a text, an image, or both.")
        allowed = {int(x) for x in self.membership(name).member_labels()}
        if query.after is not None or query.before is not None or query.folder is not None:
            allowed &= self.store.vectors.labels_matching(
                self.model, after=query.after, before=query.before, folder=query.folder
            )
        if not allowed or query.k <= 0:
            return []
        table: PhotoTable = self._tables.current()
        vector = query_vector(query, self._encoder())
        rows = table.rows_of(allowed)
        scores = table.matrix[rows] @ vector
        order = np.argsort(-scores)[: query.k + 8]
        found = [(int(table.labels[rows[i]]), float(scores[i])) for i in order]
        photos = self.store.photos.for_labels([label for label, _ in found], self.model)
        hits = []
        for label, score in found:
            for photo in photos.get(label, []):
                if query.folder and not is_under(photo.path, query.folder):
                    continue
                hits.append(Hit(photo.path, score, photo))
        return hits[: query.k]

    # -- internals ---------------------------------------------------------------------------

    def _stamp(self, category: Category, generation: tuple[int, int]) -> str:
        """What a count was computed from: the library's change counters and the definition."""
        what = [list(generation), category.prompts, category.negatives, category.threshold, self.templates]
        return hashlib.sha1(json.dumps(what).encode()).hexdigest()

    def _text_vector(self, category: Category) -> np.ndarray:
        key = (category.prompts, category.negatives)
        if key not in self._text_cache:
            encoder = self._encoder()
            self._text_cache[key] = category_vector(category, encoder.encode_texts, self.templates)
        return self._text_cache[key]



def _category(record: CategoryRecord) -> Category:
    return Category(record.name, record.prompts, record.negatives, record.threshold, record.created_at)


def _record(category: Category) -> CategoryRecord:
    return CategoryRecord(
        category.name, category.prompts, category.negatives, category.threshold, category.created_at
    )
