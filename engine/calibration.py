"""Relevance that means the same for every query: where the matches end.

A raw cosine says little on its own: each text has its own offset (generic texts score high on
every photo) and each photo its own (some photos score high on every text), so one fixed cut-off
fails across queries and models. Calibration compares, per photo, the query's score with the scores
the same photo gets from a bank of *unrelated* texts: everyday photo subjects in generic language
("a photo of a dog.", "a photo of a kitchen.", ...) and the user's own vocabulary (tags, category
descriptions), never words chosen for a particular collection. Most bank texts do not describe a
given photo, so their scores show what "not this" looks like for it; a query that beats them by
several of their standard deviations describes the photo.

    z = (score - centre) / spread      per photo, over the bank
    relevance log-odds = SLOPE * (z - Z_CUT)

Some wordings score high with every photo; when even the photos least like the text score well
above the bank, that offset is taken away.

Beating the bank is not enough when a text only echoes another concept: "orange" scores well above
the bank on red and yellow photos, because the model puts orange near them. The user's past
searches are rivals: a photo that a related rival (one whose vector points the same way as the
query's, away from generic language, and that shares no word with it: "a red circle" refines "red",
it does not rival it) describes clearly better than the query is not the query's match. A built-in
lexicon of general photo vocabulary (engine/lexicon.py: colours, everyday objects, scenes, textures,
...) rivals as well, so a library with no search history is not left to the bank alone. Rivals only
lower the odds. Tags are not rivals: a tag's name is often a refinement of a query ("Rex" of "dog").

One rival's verdict on one photo is noisy, so the verdicts are smoothed along the query's own score:
a photo above the cut stays a match when, among the photos whose query z lies near its own (within
ECHO_WINDOW), rivals beat the query on at most half, or when no related rival comes within
RIVAL_MARGIN of the query on it. When "red" and "yellow" beat "orange" on most of the photos it
scores above the cut, the few they only nearly beat are the same echo and go too; when a rival
beats "blue" on a few scattered dark photos among many it does not, they stay.

An example photo as the query (or photos marked "more like this") is compared with the library's
own photos instead: how much closer it is to this photo than to the library's photos in general (photo-to-photo and text-to-photo cosines live on different
scales, so each kind of query has its own bank).

Searches and categories ask the same question ("does this text describe this photo?") and both
answer it here; relevance 0.5 (log-odds 0) is the cut.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .exact import kth_largest
from .lexicon import LEXICON
from .photo_table import PhotoTable
from .query_words import name_tokens

# fmt: off
# Everyday photo subjects: generic language, meant to be unrelated to most photos of any library.
SUBJECTS = (
    "person", "people", "man", "woman", "child", "baby", "family", "friends", "dog", "cat", "bird",
    "horse", "car", "bicycle", "bus", "train", "boat", "airplane", "house", "building", "city",
    "street", "road", "bridge", "beach", "sea", "lake", "river", "mountain", "forest", "tree",
    "flower", "garden", "park", "field", "snow", "sky", "sunset", "night", "food", "meal", "cake",
    "drink", "table", "chair", "room", "kitchen", "window", "door", "book", "phone", "computer",
    "screen", "text", "document", "sign", "painting", "toy", "ball", "game", "party", "wedding",
    "concert", "sport", "crowd", "portrait", "selfie", "landscape", "animal", "plant",
)
# fmt: on
# The bank's wording; lexicon words are worded the same way, so that a word a model does not know
# lands among the bank's texts (a rival no more than they are) instead of somewhere arbitrary.
TEMPLATE = "a photo of a {}."
GENERIC_BANK = tuple(TEMPLATE.format(s) for s in SUBJECTS)
# A query must beat the bank by this many of its standard deviations to be a match (log-odds 0),
# and each further standard deviation multiplies the odds by e ** SLOPE.
Z_CUT = 2.0
SLOPE = 2.0
# The look alone never settles a match beyond these odds (about 400:1): a file, folder or tag
# named by the query, a date, or the user's own marks can always overrule it.
LOGIT_LIMIT = 6.0
# Cosine differences below this are noise in any model: a spread is never taken as smaller (an
# untrained model scores every text alike, and dividing by its tiny spread would invent certainty).
MIN_SPREAD = 0.01
# The photos least like a text (this percentile of its z) sit at most this far above the bank for
# a text without an offset of its own; anything more is the offset.
OFFSET_PERCENTILE = 5.0
OFFSET_ALLOWANCE = 1.0
# A rival is related when the cosine of its vector with the query's, both taken relative to the generic
# bank's mean vector (the direction every text shares), exceeds this.
RIVAL_SIMILARITY = 0.1
# A photo stays the query's match while no related rival beats the query there by more than this many
# bank standard deviations: log-odds SLOPE * (z_query - z_rival + RIVAL_MARGIN) at most.
RIVAL_MARGIN = 2.0
# Rivals whose z over the library is kept (the most recently used): 13 MB at 100k photos.
RIVALS_KEPT = 32
# Per photo, the lexicon texts with the highest z that are kept (as rivals): 5 MB at 100k photos.
LEXICON_KEPT = 8
# A photo above the cut goes when rivals beat the query on more than half of the photos whose query z
# lies within this many bank standard deviations of its own (counted in bins this wide).
ECHO_WINDOW = 2.0
ECHO_BIN = 0.25
# The rivals' verdicts are asked of at most this many photos above the cut (evenly spread): enough
# for the shares, and a broad query at 100k photos costs the same as a narrow one.
VOTE_SAMPLE = 4096
# Photos (evenly spread) whose z give each lexicon text its offset.
OFFSET_SAMPLE = 1024
# Library photos in the bank of photo queries: enough for a stable centre and spread.
PHOTO_BANK_SIZE = 256
# A library searched through its graph (too large to score whole for each query): photos (evenly
# spread) whose z stand for the library's in a text query's offset (as OFFSET_SAMPLE does for the
# lexicon's; 4096 cost 17 ms a query at 100k, gathering their rows, against 1 ms).
LIBRARY_SAMPLE = 1024
# A quick first pass (engine/quick_scan.py) pays when at most this share of the photos then needs
# an exact score; above it, every photo is scored exactly (gathering 5% of 100k rows costs about 2
# ms, 25% more than a whole scan).
SCREEN_SHARE = 0.05
# The screen works out z in float32 (the exact path in float64): room for the difference.
SCREEN_ROUNDING = 1e-3


@dataclass(frozen=True, eq=False)
class Background:
    """Per photo (rows of a PhotoTable): the centre and spread of the bank's scores."""

    centre: np.ndarray
    spread: np.ndarray

    @functools.cached_property
    def scaled(self) -> tuple[np.ndarray, np.ndarray]:
        """float32 (1 / spread, centre / spread): z = score / spread - centre / spread, at half the
        memory traffic of the float64 arrays (Calibrator.screen)."""
        return (1.0 / self.spread).astype(np.float32), (self.centre / self.spread).astype(np.float32)


class LexiconBest:
    """Per photo of one table (its matrix, under the bank's background), the LEXICON_KEPT lexicon
    texts with the highest z: which (indices into the lexicon) and their z. Worked out for a photo
    the first time a query asks about it, so a search pays for the photos it votes on, not the
    library (at 100k photos and 512 dimensions: about 0.1 s for a new query's 4096 photos, against
    2 s for every photo). Not thread-safe: the Calibrator's lock guards it."""

    def __init__(self, matrix: np.ndarray, vectors: np.ndarray, found: Background):
        n = len(matrix)
        self._matrix, self._found = matrix, found
        self._vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        self._kept = min(LEXICON_KEPT, len(vectors))
        self.index = np.zeros((n, self._kept), np.int16)
        self.z = np.zeros((n, self._kept), np.float32)
        self._known = np.zeros(n, bool)
        # Each text's offset as in Calibrator._z, from an evenly spread sample of the photos.
        sample = self._raw_z(photo_bank_rows(n, OFFSET_SAMPLE))
        offset = np.percentile(sample, OFFSET_PERCENTILE, axis=0) if n else np.zeros(len(vectors))
        self._offset = np.maximum(0.0, offset + OFFSET_ALLOWANCE).astype(np.float32)

    def at(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (index, z) rows of the photos at `rows`."""
        missing = rows[~self._known[rows]]
        if len(missing) and self._kept:
            missing = np.unique(missing)
            z = self._raw_z(missing) - self._offset
            at = np.arange(len(missing))
            for k in range(self._kept):  # the best few by repeated maxima: cheaper than a partition
                best = z.argmax(axis=1)
                self.index[missing, k] = best
                self.z[missing, k] = z[at, best]
                z[at, best] = -np.inf
            self._known[missing] = True
        return self.index[rows], self.z[rows]

    def _raw_z(self, rows: np.ndarray) -> np.ndarray:
        scores = self._matrix[rows] @ self._vectors.T
        return ((scores - self._found.centre[rows, None]) / self._found.spread[rows, None]).astype(np.float32)


def background(matrix: np.ndarray, bank: np.ndarray) -> Background:
    """The bank's (B, D) unit vectors scored against every photo (N, D)."""
    if len(matrix) == 0 or len(bank) < 2:
        return Background(np.zeros(len(matrix), np.float32), np.full(len(matrix), MIN_SPREAD, np.float32))
    scores = (matrix @ bank.T).astype(np.float64)
    return Background(scores.mean(axis=1), np.maximum(scores.std(axis=1), MIN_SPREAD))


def carried_background(table: PhotoTable, bank: np.ndarray, before: tuple[np.ndarray, Background] | None) -> Background:
    """`background` of every photo of `table`, scoring only the photos that `before` (the labels and
    background of an earlier table, under the same bank) lacks. A label's vector never changes, so
    neither does its background: a batch indexed into a million photos costs that batch's product,
    not the whole library's (3.6 s at 1M x 512 against a 70-text bank)."""
    n = len(table)
    if before is None or not len(before[0]) or not n:
        return background(table.matrix, bank)
    labels, old = before
    at = np.minimum(np.searchsorted(labels, table.labels), len(labels) - 1)
    known = labels[at] == table.labels
    new = np.flatnonzero(~known)
    if len(new) == n:
        return background(table.matrix, bank)
    centre, spread = np.empty(n, np.float64), np.empty(n, np.float64)
    centre[known], spread[known] = old.centre[at[known]], old.spread[at[known]]
    if len(new):
        part = background(table.matrix[new], bank)
        centre[new], spread[new] = part.centre, part.spread
    return Background(centre, spread)


def photo_bank_rows(count: int, size: int = PHOTO_BANK_SIZE) -> np.ndarray:
    """Evenly spread rows of a table of `count` photos: the photo bank (deterministic)."""
    return np.unique(np.linspace(0, count - 1, min(count, size)).astype(np.int64)) if count else np.zeros(0, np.int64)


def relevance(logits: np.ndarray) -> np.ndarray:
    """Log-odds -> 0..1."""
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))


class Calibrator:
    """The background of one model's photos, kept until the photos or the bank change.

    encode_texts: the model's text encoder; vocabulary: the user's own texts to add to the bank
    (tags, category descriptions); rivals: the user's past searches, which a text query must not
    merely echo, beside the built-in `lexicon`. Both callables are asked each time so new texts
    count. Thread-safe.
    """

    def __init__(
        self,
        encode_texts: Callable[[list[str]], np.ndarray],
        vocabulary: Callable[[], Sequence[str]] = tuple,
        bank: Sequence[str] = GENERIC_BANK,
        rivals: Callable[[], Sequence[str]] = tuple,
        lexicon: Sequence[str] = LEXICON,
    ):
        self._encode = encode_texts
        self._vocabulary = vocabulary
        self._bank = tuple(bank)
        self._lock = threading.Lock()
        self._vectors: dict[str, np.ndarray] = {}
        self._cached: tuple[tuple, np.ndarray, Background] | None = None  # key, the table's labels, background
        self._rivals = rivals
        self._rival_z: dict[str, tuple[tuple, np.ndarray]] = {}
        self._word_sets: dict[str, frozenset[str]] = {}
        self._centre: np.ndarray | None = None
        self._lexicon = tuple(dict.fromkeys(t for t in lexicon if t.strip()))
        self._lexicon_texts = tuple(TEMPLATE.format(t) for t in self._lexicon)
        self._lexicon_best: tuple[tuple, Background, LexiconBest] | None = None
        self._lexicon_related: dict[str, np.ndarray] = {}

    def background(self, table: PhotoTable) -> Background:
        """The text bank's background of every photo of `table`."""
        texts = tuple(dict.fromkeys((*self._bank, *self._vocabulary())))
        key = (table.generation, id(table), texts)
        with self._lock:
            if self._cached is None or self._cached[0] != key:
                before = None
                if self._cached is not None and self._cached[0][2] == texts:  # the same bank: carry it over
                    before = (self._cached[1], self._cached[2])
                found = carried_background(table, self._bank_vectors(texts), before)
                self._cached = (key, table.labels, found)
            return self._cached[2]

    def logits(
        self,
        table: PhotoTable,
        rows: np.ndarray,
        vector: np.ndarray,
        kind: str = "text",
        limit: float | None = LOGIT_LIMIT,
        text: str | None = None,
    ) -> np.ndarray:
        """Relevance log-odds of the photos at `rows` for a query vector (any length) of `kind`,
        clipped to +-limit (None: not clipped, where nothing else is weighed against them).
        With the query's `text`, photos above the cut go (log-odds just below it) where related rival
        texts (past searches, the lexicon) describe most photos of about the same query z clearly
        better."""
        z = self.z(table, rows, vector, kind)
        logits = SLOPE * (z - Z_CUT)
        above = np.flatnonzero(logits > 0)
        if text and kind == "text" and len(above):
            # Rivals only take matches away: the photos below the cut keep their odds (and the
            # vote costs a few hundred thousand operations at most, not one per photo and rival).
            asked = above[photo_bank_rows(len(above), VOTE_SAMPLE)]
            rival = self.rival_z(table, rows[asked], vector, text)
            if rival is not None:
                share = beaten_share(z[asked], z[asked] - rival + RIVAL_MARGIN < 0, z[above])
                # Only a close call goes with its neighbours: a photo where no related rival comes
                # within RIVAL_MARGIN of the query stays, however many photos of about its z were
                # taken (photos not asked, past VOTE_SAMPLE, count as close calls).
                close = np.ones(len(above), bool)
                close[np.searchsorted(above, asked)] = rival > z[asked] - RIVAL_MARGIN
                gone = (share > 0.5) & close
                logits[above] = np.where(gone, np.minimum(logits[above], SLOPE * (0.5 - share)), logits[above])
        return logits if limit is None else np.clip(logits, -limit, limit)

    def screen(
        self, table: PhotoTable, rows: np.ndarray, vector: np.ndarray, quick: np.ndarray, bound: np.ndarray, k: int
    ) -> np.ndarray | None:
        """Which photos of `table` a text query's meaning needs exact scores for, given quick scores
        of every photo that lie within `bound` of the exact ones (engine/quick_scan.py): a bool mask,
        or None when the bounds leave too much open (then score every photo exactly).

        With exact scores at the mask, the meaning's log-odds give the same matches, the same
        first k of `rows` (the candidates) and the same counts as exact scores everywhere: the
        text's offset is certainly 0 (even the upper bounds' 5th percentile is more than
        OFFSET_ALLOWANCE below the bank), every photo outside the mask is certainly below the cut
        and below k candidates of the mask (even those that rivals take away): by z, or, where the
        first k reach the clipped floor of the log-odds (all alike there), by the score that breaks
        their ties."""
        if len(table) == 0 or len(rows) <= k:
            return None
        every = len(rows) == len(table)  # rows are then all of them, in order: no copy
        inverse, centre = self.background(table).scaled
        inverse = inverse / np.float32(float(np.linalg.norm(vector)) or 1.0)
        z = quick * inverse
        z -= centre
        margin = bound * inverse
        margin += SCREEN_ROUNDING
        upper = z + margin
        if _offset(upper) > 0:  # the exact z lie below `upper`, and so does their percentile
            return None
        # Rivals lower a match to no less than SLOPE * (0.5 - 1): as if its z were Z_CUT - 0.5.
        lower = np.minimum(np.subtract(z, margin, out=z), Z_CUT - 0.5, out=z)
        kth = kth_largest(lower if every else lower[rows], k) if k > 0 else np.inf
        floor = Z_CUT - LOGIT_LIMIT / SLOPE  # at or below this z the log-odds are clipped, all alike
        if kth > floor:  # k candidates certainly above every photo whose z may lie below `kth`
            need = upper >= min(Z_CUT, kth)
        else:  # the first k reach the clipped floor, where the score breaks the ties
            low_score = quick - bound
            kth_score = kth_largest(low_score if every else low_score[rows], k) if k > 0 else np.inf
            need = (upper > floor) | (quick + bound >= kth_score)
        return need if np.count_nonzero(need) <= len(table) * SCREEN_SHARE else None

    def rival_z(self, table: PhotoTable, rows: np.ndarray, vector: np.ndarray, text: str) -> np.ndarray | None:
        """Per photo at `rows`, the best z among the related rivals of a text query (None: no rival
        at all; -inf where none of the lexicon's best texts for a photo is related)."""
        words = self._words(text)
        if not words:
            return None
        past = [r for r in dict.fromkeys(self._rivals()) if r.strip() and not _share_word(words, self._words(r))]
        with self._lock:
            if self._centre is None:
                self._centre = self._bank_vectors(self._bank).mean(axis=0)
            centre = self._centre
            query = vector / (float(np.linalg.norm(vector)) or 1.0) - centre
            related = [t for t, r in zip(past, _related(self._bank_vectors(past), centre, query), strict=True) if r]
            in_lexicon = self._lexicon_mask(text, words, centre, query)
        best = None
        for t in related:
            z = self._whole_z(table, t)[rows]
            best = z if best is None else np.maximum(best, z)
        if in_lexicon.any():
            index, lexicon_z = self.lexicon_best(table, rows)
            z = lexicon_z.max(axis=1, where=in_lexicon[index], initial=-np.inf)
            best = z if best is None else np.maximum(best, z)
        return best

    def lexicon_best(self, table: PhotoTable, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per photo at `rows`, the lexicon texts of highest z: (indices into the lexicon, their z),
        each (len(rows), LEXICON_KEPT); kept until the table or the bank change."""
        found = self.background(table)
        key = (table.generation, id(table))
        with self._lock:
            if self._lexicon_best is None or self._lexicon_best[0] != key or self._lexicon_best[1] is not found:
                vectors = self._bank_vectors(self._lexicon_texts)
                self._lexicon_best = (key, found, LexiconBest(table.matrix, vectors, found))
            return self._lexicon_best[2].at(rows)

    def _lexicon_mask(self, text: str, words: frozenset[str], centre: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Which lexicon texts are related rivals of a query (its `text`, `words`, centred vector)."""
        found = self._lexicon_related.get(text)
        if found is None:
            if len(self._lexicon_related) >= RIVALS_KEPT * 8:
                self._lexicon_related.clear()
            apart = np.array([not _share_word(words, self._words(t)) for t in self._lexicon], bool)
            found = apart & _related(self._bank_vectors(self._lexicon_texts), centre, query)
            self._lexicon_related[text] = found
        return found

    def _words(self, text: str) -> frozenset[str]:
        found = self._word_sets.get(text)
        if found is None:
            found = self._word_sets[text] = frozenset(name_tokens(text))
        return found

    def _whole_z(self, table: PhotoTable, text: str) -> np.ndarray:
        """A rival's z over every photo of `table`, kept until the table changes."""
        key = (table.generation, id(table))
        with self._lock:
            found = self._rival_z.pop(text, None)
            if found is not None and found[0] == key:
                self._rival_z[text] = found  # the most recently used last
                return found[1]
        vector = self.text_vector(text)
        # Its own product, so that the query's, which the table keeps, stays there.
        z = self._z(table, np.arange(len(table)), vector, "text", table.matrix @ vector).astype(np.float32)
        with self._lock:
            kept = [(t, v) for t, v in self._rival_z.items() if v[0] == key][-(RIVALS_KEPT - 1) :]
            self._rival_z = dict(kept)
            self._rival_z[text] = (key, z)
        return z

    def text_vector(self, text: str) -> np.ndarray:
        """The model's vector of `text`, encoded once and kept (as the bank's texts are)."""
        with self._lock:
            return self._bank_vectors((text,))[0]

    def z(self, table: PhotoTable, rows: np.ndarray, vector: np.ndarray, kind: str = "text") -> np.ndarray:
        """How many of the bank's standard deviations the query scores above the bank, per photo.

        When search scored the whole library with this vector (or `rows` are all of it), from that
        product; otherwise (a large library searched through its graph: `rows` are its candidates)
        from the products at `rows` and, for what needs the whole library, at an even sample of it."""
        if len(rows) == len(table) or table.scored(vector):
            return self._z(table, rows, vector, kind, table.scores(vector))  # the product search made already
        sample = photo_bank_rows(len(table), LIBRARY_SAMPLE if kind == "text" else PHOTO_BANK_SIZE)
        both = np.concatenate([rows, sample])
        # einsum, not BLAS: on a busy 2-core machine OpenBLAS's threads turned this small product
        # (about 2000 rows) from 0.3 ms into 4-8 ms (measured at 1M photos, load 5)
        product = np.einsum("ij,j->i", table.matrix.take(both, axis=0), np.ascontiguousarray(vector, np.float32))
        return self._z(table, rows, vector, kind, product, both)

    def _z(
        self,
        table: PhotoTable,
        rows: np.ndarray,
        vector: np.ndarray,
        kind: str,
        product: np.ndarray,
        scored: np.ndarray | None = None,
    ) -> np.ndarray:
        """z at `rows` from the query's `product`: over every photo of the table, or (with `scored`)
        at the photos `scored`: `rows`, then an even sample standing for the library."""
        norm = float(np.linalg.norm(vector)) or 1.0
        scores = product.astype(np.float64)
        scores /= norm
        every = scored is None and len(rows) == len(table)  # rows are all of them, in order: no copy
        if scored is not None:
            at, sample = scores[: len(rows)], scores[len(rows) :]
        else:
            at = scores if every else scores[rows]
        if kind == "photo":
            bank = scores[photo_bank_rows(len(table))] if scored is None else sample
            return (at - bank.mean()) / max(float(bank.std()), MIN_SPREAD)
        found = self.background(table)
        if scored is None and not every and table.scored(vector) and not table.scored(vector, exact=True):
            # A screened product (PhotoTable.keep): its screen showed the offset is 0, and the z
            # elsewhere are not needed to find it.
            return (at - found.centre[rows]) / found.spread[rows]
        if scored is None:
            z = np.subtract(scores, found.centre, out=scores)
            z /= found.spread
            z_at = z if every else z[rows]
        else:
            z = (sample - found.centre[scored[len(rows) :]]) / found.spread[scored[len(rows) :]]
            z_at = (at - found.centre[rows]) / found.spread[rows]
        # A text that every photo, even the least like it, scores well above the bank is one whose
        # wording sits high for any photo: take that offset away (never add one).
        return z_at - _offset(z)

    def _bank_vectors(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            self._vectors.update(zip(missing, self._encode(missing), strict=True))
        return np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)


def _offset(z: np.ndarray) -> float:
    """A text's own offset: how far its OFFSET_PERCENTILE of z lies above -OFFSET_ALLOWANCE (0 when
    below). Most texts have none, which a count shows at a tenth of the percentile's cost: the
    percentile interpolates between two order statistics, both below -OFFSET_ALLOWANCE when more
    photos than the upper one's rank lie there."""
    if not len(z):
        return 0.0
    rank = int(np.ceil(OFFSET_PERCENTILE / 100 * (len(z) - 1)))
    if np.count_nonzero(z < -OFFSET_ALLOWANCE) > rank:
        return 0.0
    return max(0.0, float(np.percentile(z, OFFSET_PERCENTILE)) + OFFSET_ALLOWANCE)


def _related(vectors: np.ndarray, centre: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Which texts' vectors point the same way as the query's, both taken relative to `centre`."""
    if len(vectors) == 0:
        return np.zeros(0, bool)
    others = vectors - centre
    norms = np.linalg.norm(others, axis=1) * np.linalg.norm(query)
    return others @ query / np.maximum(norms, 1e-12) > RIVAL_SIMILARITY


def beaten_share(asked: np.ndarray, beaten: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Per photo above the cut (its query `z`), the share of beaten photos (where a related rival
    beat the query by more than RIVAL_MARGIN) among the `asked` photos (their query z) within
    ECHO_WINDOW of its z."""
    if not beaten.any():
        return np.zeros(len(z))
    low = float(z.min())

    def bin_of(values: np.ndarray) -> np.ndarray:
        return np.minimum(np.floor((values - low) / ECHO_BIN).astype(np.int64), 4096)

    size = int(bin_of(z).max()) + 1
    every = np.bincount(bin_of(asked), minlength=size)
    gone = np.bincount(bin_of(asked), weights=beaten.astype(np.float64), minlength=size)
    reach = round(ECHO_WINDOW / ECHO_BIN)

    def within(counts: np.ndarray) -> np.ndarray:
        total = np.concatenate([[0.0], np.cumsum(counts)])
        at = np.arange(len(counts))
        return total[np.minimum(at + reach + 1, len(counts))] - total[np.maximum(at - reach, 0)]

    return (within(gone) / np.maximum(within(every), 1))[bin_of(z)]


def _share_word(words: frozenset[str], others: frozenset[str]) -> bool:
    """Whether two texts share a word, or one's word begins the other's ("blu" and "blue", half-typed)."""
    return any(a.startswith(b) or b.startswith(a) for a in words for b in others)
