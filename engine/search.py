"""Search: one pipeline that reads top to bottom.

    query -> vector -> candidates -> a score from each signal (stages) -> relevance -> cut and sort

- The query's text, image, extra terms and negatives become one vector (`query_vector`); words
  that name a date ("2019", "June") are taken out of the text first (`engine.query_words`).
- Candidates: every photo that passes the date and folder filters, scored exactly against the
  vector (`candidates`). A relevance needs the query's scores over the library, not only its top k.
  Above engine.exact.EXACT_LIMIT photos (a scan costs more than a few ms) the candidates are the
  HNSW graph's GRAPH_CANDIDATES nearest, re-scored exactly; the counts are then lower bounds.
- Stages: each signal (meaning, tags, metadata words, feedback, ...) is one object with one method,
  `evidence(request, pool)`, returning log-odds that a candidate matches (added up: independent
  evidence, as in naive Bayes) and which candidates it matched by name. Adding a signal is adding
  a stage to the list the library builds (`engine.library.Library.stages`).
- Relevance: the sigmoid of the summed log-odds, 0..1, meaning the same across queries and models
  because the meaning stage is calibrated (`engine.calibration`). The cut is relevance 0.5.
- Sort: the matches by relevance, newest or oldest first; then the weaker results by relevance.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from . import exact
from .errors import PhotoError, QueryError
from .paths import is_under
from .photo_table import PhotoTable
from .photos import open_image
from .query_words import QueryWords, parse_words
from .storage import PhotoRow, Store

if TYPE_CHECKING:  # the encoder pulls in torch; searching code is handed one
    from .encoder import Encoder
    from .vector_index import VectorIndex

# A negative term pulls the query away from a concept at half the weight of a positive one: strong
# enough to push "beach -people" photos with people down, not so strong that it dominates the query.
NEGATIVE_WEIGHT = 0.5
SORTS = ("relevance", "newest", "oldest")
# Log-odds of a photo when nothing but date words was asked for ("2019"): a match, unless a stage
# (the date stage) says otherwise.
PRIOR_WITHOUT_MEANING = 4.0
# Above exact.EXACT_LIMIT photos, this many of the graph's nearest (or four times k, if more) are the
# candidates: far more than a page of results, so the top ones and the cut are found among them
# (off-distribution text queries at 300k: recall@10 1.0 after the re-rank from 500 on; the graph's time
# grows with it, about 12 ms at 500 and 28 ms at 1000 on a loaded 2-core box: benchmarks/large_index.py).
GRAPH_CANDIDATES = 1000


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
    sort: str = "relevance"  # one of SORTS: the order of the matches
    likes: tuple[str, ...] = ()  # photos marked "more like this"
    unlikes: tuple[str, ...] = ()  # photos marked "not like this"

    @property
    def empty(self) -> bool:
        return not (self.text and self.text.strip()) and not self.image and not self.terms and not self.likes


@dataclass(frozen=True)
class Hit:
    """One search result.

    score: the query vector's similarity (weighted sum of cosines); relevance: 0..1, comparable
    across queries; match: above the cut; matched: the non-visual signals that matched this photo
    ("filename", "folder", "camera", "tag", "date", "text").
    """

    path: str
    score: float
    photo: PhotoRow = field(repr=False)
    companions: tuple[str, ...] = ()  # other files of the same shot (the RAW beside a JPEG)
    relevance: float = 1.0
    match: bool = True
    matched: tuple[str, ...] = ()


@dataclass(frozen=True)
class Results:
    """A search's answer: up to k hits (the matches in the query's order, then the weaker ones by
    relevance), how many photos are matches and how many are weaker, and the date words read."""

    hits: list[Hit]
    matches: int
    weaker: int
    words: QueryWords = field(default_factory=QueryWords)
    # True when only the graph's nearest photos were weighed (a library above exact.EXACT_LIMIT):
    # the counts are then those among them, lower bounds ("at least").
    bounded: bool = False

    @property
    def match_hits(self) -> list[Hit]:
        return [h for h in self.hits if h.match]


# -- the request: what the stages see -----------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A query made ready for the stages.

    text: the words left for the meaning once date words are out ("" when none are left);
    vector: the query's vector (None when only date words were asked for); words: the date words
    found; model: the key of the model whose vectors are searched; kind: what the vector is made of.
    """

    query: Query
    text: str
    vector: np.ndarray | None
    words: QueryWords
    model: str
    kind: str = "text"  # "photo" when the vector comes from photos only (an example, liked photos)


@dataclass(frozen=True)
class Pool:
    """The candidates: rows of the library's PhotoTable that pass the filters, and their scores.

    rows index `table` (ascending); score is each candidate's dot product with the query vector (0
    without one); complete: every photo that passes the filters is a candidate (False: only the
    graph's nearest are); screened: where score is exact, when a quick first pass scored the rest
    (None: exact everywhere; see `candidates`).
    """

    table: PhotoTable
    rows: np.ndarray
    score: np.ndarray
    complete: bool = True
    screened: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def vectors(self) -> np.ndarray:
        return self.table.matrix[self.rows]

    @property
    def labels(self) -> np.ndarray:
        return self.table.labels[self.rows]

    @property
    def times(self) -> np.ndarray:
        return self.table.times[self.rows]

    def paths(self, i: int) -> tuple[str, ...]:
        return self.table.paths[int(self.rows[i])]


@dataclass(frozen=True)
class Evidence:
    """What one stage says about every candidate.

    logit: (n,) log-odds added to each candidate's relevance; matched: (n,) bool, the candidates
    this signal matched by name, shown as `signal` in the results (None: it names none);
    screened: the log-odds come from the pool's scores and are exact where the pool's screen
    says they matter (the meaning's).
    """

    logit: np.ndarray
    signal: str = ""
    matched: np.ndarray | None = None
    screened: bool = False


class Stage(Protocol):
    """One signal of the pipeline. Returns None when it has nothing to say about this request."""

    def evidence(self, request: Request, pool: Pool) -> Evidence | None: ...


# -- query -> vector ---------------------------------------------------------------------------

_NEGATIVE = re.compile(r'(?:^|\s)-(?:"([^"]+)"|(\S+))')


def parse_query_text(text: str) -> tuple[str, tuple[str, ...]]:
    """Split `beach at dusk -people -"red car"` into ("beach at dusk", ("people", "red car"))."""
    negatives = tuple(a or b for a, b in _NEGATIVE.findall(text))
    positive = " ".join(_NEGATIVE.sub(" ", text).split())
    return positive, negatives


def query_vector(query: Query, encoder: Encoder) -> np.ndarray:
    """The weighted sum of the parts' unit vectors: its dot product with a photo vector is the same
    weighted sum of cosines, so one scan ranks by the combined score."""
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


def make_request(query: Query, encoder: Callable[[], Encoder], model: str, table: PhotoTable) -> Request:
    """Read the date words out of the text and make the vector of what is left (or, with nothing
    left but photos marked "more like this", the mean of theirs)."""
    words = parse_words(query.text or "")
    meaning = Query(text=words.rest or None, image=query.image, negatives=query.negatives, terms=query.terms)
    kind = "text" if meaning.text or meaning.terms else "photo"
    if not meaning.empty:
        vector: np.ndarray | None = query_vector(meaning, encoder())
    elif query.likes:
        vector = table.matrix[marked_rows(table, query.likes)].mean(axis=0)
    else:
        vector = None
    return Request(query, words.rest, vector, words, model, kind)


def marked_rows(table: PhotoTable, paths: Sequence[str]) -> list[int]:
    """The table rows of photos the user marked; QueryError for a photo the library has not indexed."""
    by_path = table.row_of_path()
    rows = []
    for path in paths:
        absolute = os.path.abspath(os.path.expanduser(path))
        if absolute not in by_path:
            raise QueryError(f"{path} is not an indexed photo of the library: it cannot be marked.")
        rows.append(by_path[absolute])
    return rows


# -- vector -> candidates ----------------------------------------------------------------------


# Given quick scores of every photo and their error bounds, the photos whose exact score the
# results depend on (None: all of them): engine.calibration.Calibrator.screen.
Screen = Callable[[PhotoTable, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], np.ndarray | None]


def candidates(
    request: Request,
    table: PhotoTable,
    store: Store,
    graph: Callable[[], VectorIndex] | None = None,
    screen: Screen | None = None,
) -> Pool:
    """Every photo that passes the query's date and folder filters, with its exact score; or, when
    more than exact.EXACT_LIMIT photos pass and a `graph` (the library's HNSW index) is given, the
    graph's nearest among them, re-scored exactly from the table.

    With a `screen` and a table large enough for a quick scan (engine/quick_scan.py), a text query
    scores every photo from the table's int8 copy first and exactly in float32 only the photos the
    screen names: the rest are certainly weaker results outside the first k, whatever their exact
    score (`run` checks that the other stages keep it so, and scores everything exactly if not).

    The one place that turns a vector into candidates.
    """
    query = request.query
    filtered = query.after is not None or query.before is not None or query.folder is not None
    allowed: set[int] | None = None
    if filtered:
        allowed = store.vectors.labels_matching(
            request.model, after=query.after, before=query.before, folder=query.folder
        )
        rows = table.rows_of(allowed)
    else:
        rows = np.arange(len(table))
    if request.vector is None or len(rows) == 0:
        return Pool(table, rows, np.zeros(len(rows), np.float32))
    if graph is not None and len(rows) > exact.EXACT_LIMIT:
        if table.scored(request.vector) and not table.scored(request.vector, exact=True):
            table.scores(request.vector, exact=True)  # calibration reuses a kept product: none screened
        return graph_pool(request.vector, table, graph(), allowed, max(GRAPH_CANDIDATES, 4 * query.k))
    # Every row is scored even when filtered: calibration needs the whole library's scores of the
    # same vector (the table keeps the product), and picking the rows out of the matrix first would
    # copy them (200 MB at 100k photos).
    if screen is not None and request.kind == "text" and not table.scored(request.vector, exact=True):
        pool = screened_pool(request.vector, table, rows, screen, query.k)
        if pool is not None and pool.screened is not None:  # (always set on a screened pool; for mypy)
            return pool if not filtered else replace(pool, rows=rows, score=pool.score[rows], screened=pool.screened[rows])
    scores = table.scores(request.vector, exact=True)
    return Pool(table, rows, scores[rows] if filtered else scores)


def screened_pool(vector: np.ndarray, table: PhotoTable, rows: np.ndarray, screen: Screen, k: int) -> Pool | None:
    """Every photo of `table` scored by its quick scan, exactly at the rows the screen names (the
    table keeps that product); None when the table has no quick scan or the screen wants all."""
    scan = table.quick_scan()
    if scan is None:
        return None
    quick, bound = scan.scores(vector)
    need = screen(table, rows, vector, quick, bound, k)
    if need is None:
        return None
    at = np.flatnonzero(need)
    quick[at] = table.matrix.take(at, axis=0) @ np.ascontiguousarray(vector, np.float32)  # take: faster than [at]
    table.keep(vector, quick, exact=False)
    return Pool(table, np.arange(len(table)), quick, screened=need)


def graph_pool(vector: np.ndarray, table: PhotoTable, graph: VectorIndex, allowed: set[int] | None, k: int) -> Pool:
    """The graph's k nearest labels that pass `allowed`, as table rows (ascending) scored exactly in
    float32 from the table's vectors (the graph's distances are not used)."""
    found = graph.search(vector, k, allowed=None if allowed is None else allowed.__contains__)
    labels = np.array(sorted(label for label, _ in found), np.int64)
    at = np.minimum(np.searchsorted(table.labels, labels), max(len(table) - 1, 0))
    rows = at[table.labels[at] == labels]  # a label the graph has and the table no longer has is left out
    return Pool(table, rows, table.matrix[rows] @ np.asarray(vector, np.float32), complete=False)


# -- candidates -> stages -> relevance -> cut and sort -----------------------------------------


def run(request: Request, pool: Pool, stages: Sequence[Stage], store: Store) -> Results:
    """Score the pool with every stage, turn the summed log-odds into relevance, cut and sort."""
    query = request.query
    logit, matched, holds = _evidence(request, pool, stages)
    if not holds:  # another stage lifts a photo the screen left out: score every photo exactly
        assert request.vector is not None
        scores = pool.table.scores(request.vector, exact=True)
        pool = replace(pool, score=scores[pool.rows], screened=None)
        logit, matched, _ = _evidence(request, pool, stages)
    # A screened pool's photos outside its screen are weaker results outside the first k (the
    # screen held): only those inside are weighed and ordered.
    k = max(0, query.k)
    if pool.screened is None:
        relevance = _sigmoid(logit)
        order = _order(relevance, pool.score, pool.times, relevance >= 0.5, query.sort, k)
    else:
        inside = np.flatnonzero(pool.screened)
        near = _sigmoid(logit[inside])
        times = pool.table.times[pool.rows[inside]]
        order = inside[_order(near, pool.score[inside], times, near >= 0.5, query.sort, k)]
        relevance = np.zeros(len(pool))
        relevance[inside] = near
    is_match = relevance >= 0.5
    hits = _hits(request, pool, order, relevance, is_match, matched, store)
    matches, weaker = _counts(pool, is_match, query.folder)
    return Results(hits, matches, weaker, request.words, bounded=not pool.complete)


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))


def _counts(pool: Pool, is_match: np.ndarray, folder: str | None) -> tuple[int, int]:
    """How many photos (not labels: duplicates share one) the pool's matches and weaker results hold."""
    if folder is not None:
        # A label's duplicates may lie outside the folder: count only the photos inside.
        weights = np.array([_count_under(pool.paths(i), folder) for i in range(len(pool))], np.int64)
    elif len(pool) == len(pool.table):  # every row, in order: no copy
        weights = pool.table.weights
    else:
        weights = pool.table.weights[pool.rows]
    at = np.flatnonzero(is_match)
    matches = int(weights[at].sum())
    return matches, int(weights.sum()) - matches


def _evidence(
    request: Request, pool: Pool, stages: Sequence[Stage]
) -> tuple[np.ndarray, list[tuple[str, np.ndarray]], bool]:
    """The summed log-odds of every stage, what each matched by name, and whether a screened pool's
    screen holds: the stages that do not come from the scores add nothing outside it and take
    nothing away inside it (so the photos outside stay below the first k and the cut)."""
    logit = np.zeros(len(pool), np.float64)
    if request.vector is None:
        logit += PRIOR_WITHOUT_MEANING
    matched: list[tuple[str, np.ndarray]] = []
    holds = True
    for stage in stages:
        found = stage.evidence(request, pool)
        if found is None:
            continue
        logit += found.logit
        if pool.screened is not None and not found.screened:
            inside = found.logit[pool.screened]
            holds = holds and not found.logit[~pool.screened].any() and bool((inside >= 0).all())
        if found.matched is not None and found.matched.any():
            matched.append((found.signal, found.matched))
    return logit, matched, holds


def _order(
    relevance: np.ndarray, score: np.ndarray, times: np.ndarray, is_match: np.ndarray, sort: str, k: int
) -> np.ndarray:
    """The first k candidates in order: matches first (in the chosen order), then the weaker ones
    by relevance; ties by relevance, then score, then row. A label stands for one photo or more, so
    k labels always hold the first k photos."""
    if sort not in SORTS:
        raise QueryError(f"Unknown sort {sort!r}: choose one of {', '.join(SORTS)}.")
    less_relevant, lower_score = -relevance, -score
    primary = less_relevant if sort == "relevance" else -times if sort == "newest" else times
    matches = np.flatnonzero(is_match)
    first = _smallest(matches, (primary, less_relevant, lower_score), k)
    if len(first) >= k:
        return first
    return np.concatenate(
        [first, _smallest(np.flatnonzero(~is_match), (less_relevant, less_relevant, lower_score), k - len(first))]
    )


def _smallest(rows: np.ndarray, keys: tuple[np.ndarray, np.ndarray, np.ndarray], k: int) -> np.ndarray:
    """The k of `rows` (ascending) that come first by `keys` (compared in turn, then by row), in
    that order. Sorting all of a large library costs more than the rest of a search: keep the rows
    whose first key is below the k-th smallest, settle the rows tied with it by the next key the
    same way, and sort only those kept."""
    if k <= 0:
        return rows[:0]
    wanted, kept = k, []
    for i, key in enumerate(keys):
        if len(rows) <= k:
            break
        if i and key is keys[i - 1]:  # the same key again: its ties are ties still
            continue
        values = key[rows]
        bound = np.partition(values, k - 1)[k - 1]
        if np.isnan(bound):  # NaN sorts last, and no key can be below it: sort them all
            break
        below = values < bound
        kept.append(rows[below])
        k -= int(np.count_nonzero(below))
        rows = rows[values == bound]
    else:  # tied on every key: the first rows come first
        rows = rows[:k]
    rows = np.sort(np.concatenate([*kept, rows]))
    # lexsort sorts by the last key first and keeps the rows' order among equals.
    return rows[np.lexsort((keys[2][rows], keys[1][rows], keys[0][rows]))][:wanted]


def _hits(
    request: Request,
    pool: Pool,
    order: np.ndarray,
    relevance: np.ndarray,
    is_match: np.ndarray,
    matched: list[tuple[str, np.ndarray]],
    store: Store,
) -> list[Hit]:
    query = request.query
    k = max(0, query.k)
    picked: list[int] = []
    count = 0
    for i in order:  # the labels behind the first k photos (a label may stand for several)
        if count >= k:
            break
        picked.append(int(i))
        count += len(pool.paths(int(i)))
    # By the table's hashes: the vectors' table (a large one) is not read for the rows.
    photos = store.photos.for_hashes([pool.table.hashes[pool.rows[i]] for i in picked])
    hits: list[Hit] = []
    for i in picked:
        signals = tuple(signal for signal, flags in matched if flags[i])
        for photo in photos.get(pool.table.hashes[pool.rows[i]], []):
            if query.folder and not is_under(photo.path, query.folder):
                continue
            hits.append(
                Hit(
                    photo.path,
                    float(pool.score[i]),
                    photo,
                    relevance=float(relevance[i]),
                    match=bool(is_match[i]),
                    matched=signals,
                )
            )
    return hits[:k]


def check_folder(folder: str, library_folders: list[str]) -> str:
    """The absolute folder if it is one of the library's folders or inside one, else QueryError."""
    folder = os.path.abspath(os.path.expanduser(folder))
    for root in library_folders:
        if is_under(folder, root):
            return folder
    known = ", ".join(library_folders) or "none yet"
    raise QueryError(f"{folder} is not in the library (its folders: {known}).")


def _count_under(paths: tuple[str, ...], folder: str) -> int:
    return sum(is_under(p, folder) for p in paths)
