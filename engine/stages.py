"""The signals of the search pipeline, one stage each (see engine/search.py for the protocol).

Each stage adds log-odds that a candidate matches: the meaning of the query (calibrated), names of
files and folders, the camera, date words, and the user's good/bad marks. Tags have their stage in
engine/tags.py, next to the tags themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .calibration import LOGIT_LIMIT, Calibrator, photo_bank_rows
from .photo_table import PhotoTable
from .query_words import file_tokens, folder_tokens, name_tokens, tokens
from .search import Evidence, Pool, Request, marked_rows

# A file or folder name (or camera) that holds every word of the query all but settles it: far
# more likely a match than any photo's look alone can say.
NAME_LOGIT = 8.0
# Words a query about a camera says besides its name ("taken with my Nikon").
CAMERA_WORDS = frozenset(["camera", "taken", "shot"])
# Camera names that are everyday words: "apple" alone asks for apples, not for every iPhone photo;
# "taken with my apple" asks for the camera.
EVERYDAY_CAMERA_WORDS = frozenset(["apple", "google", "pixel", "leaf", "phase", "one"])
# A date word is a condition: a photo from another time is not a match, however it looks.
DATE_LOGIT = 8.0
# A photo the user marked good (bad) for this query is a match (not one), whatever else says.
MARKED_LOGIT = 50.0


class MeaningStage:
    """What the photo shows: the query vector's calibrated relevance (engine/calibration.py)."""

    def __init__(self, calibrator: Calibrator):
        self.calibrator = calibrator

    def evidence(self, request: Request, pool: Pool) -> Evidence | None:
        if request.vector is None or len(pool) == 0:
            return None
        text = request.text or None
        if pool.screened is None:
            return Evidence(self.calibrator.logits(pool.table, pool.rows, request.vector, request.kind, text=text), screened=True)
        # A screened pool: the photos outside the screen are certainly below the cut and the first
        # k (the search weighs only those inside), so only those inside are calibrated.
        inside = np.flatnonzero(pool.screened)
        logit = np.full(len(pool), -LOGIT_LIMIT)
        logit[inside] = self.calibrator.logits(pool.table, pool.rows[inside], request.vector, request.kind, text=text)
        return Evidence(logit, screened=True)


class NameStage:
    """Photos whose names hold every word of the query: of their files ("Canon_40D" finds
    Canon_40D.jpg), folders ("beach": the photos in a folder named "Beach trip") or cameras ("nikon",
    "canon eos 40d", "taken with my iphone": the EXIF make and model). `names()` gives a function
    from a photo's path to the tokens of its name, read afresh for each photo table."""

    def __init__(
        self,
        kind: str,
        names: Callable[[], Callable[[str], set[str]]],
        cues: frozenset[str] = frozenset(),
        everyday: frozenset[str] = frozenset(),
    ):
        self.kind = kind
        self.names = names
        self.cues = cues  # query words that say this kind of name is meant; no name holds them
        self.everyday = everyday  # names that match only beside a cue
        self._index: tuple[PhotoTable, dict[str, set[int]]] | None = None

    @classmethod
    def of_files(cls) -> NameStage:
        return cls("filename", lambda: file_tokens)

    @classmethod
    def of_folders(cls, roots: Callable[[], list[str]]) -> NameStage:
        def names() -> Callable[[str], set[str]]:
            now = roots()
            return lambda path: folder_tokens(path, now)

        return cls("folder", names)

    @classmethod
    def of_cameras(cls, cameras: Callable[[], dict[str, str]]) -> NameStage:
        """cameras: path -> "make model", for the photos whose camera is known."""

        def names() -> Callable[[str], set[str]]:
            now = cameras()
            return lambda path: set(tokens(now.get(path, "")))

        return cls("camera", names, CAMERA_WORDS, EVERYDAY_CAMERA_WORDS)

    def evidence(self, request: Request, pool: Pool) -> Evidence | None:
        said = set(name_tokens(request.text))
        wanted = said - self.cues
        if not wanted or len(pool) == 0 or (wanted <= self.everyday and not said & self.cues):
            return None
        index = self._token_index(pool.table)
        rows = set.intersection(*(index.get(t, set()) for t in wanted))
        if not rows:
            return None
        found = np.isin(pool.rows, np.fromiter(rows, np.int64, len(rows)))
        if not found.any():
            return None
        return Evidence(np.where(found, NAME_LOGIT, 0.0), self.kind, found)

    def _token_index(self, table: PhotoTable) -> dict[str, set[int]]:
        """token -> the table rows with a photo whose name holds it, built once per table."""
        if self._index is not None and self._index[0] is table:
            return self._index[1]
        names = self.names()
        index: dict[str, set[int]] = {}
        for row, paths in enumerate(table.paths):
            for path in paths:
                for token in names(path):
                    index.setdefault(token, set()).add(row)
        self._index = (table, index)
        return index


class DateStage:
    """Years and months named in the query ("beach 2019", "June"): photos from then match."""

    def evidence(self, request: Request, pool: Pool) -> Evidence | None:
        if not request.words.has_date:
            return None
        inside = request.words.date_matches(pool.times)
        return Evidence(np.where(inside, 0.0, -DATE_LOGIT), "date", inside)


class FeedbackStage:
    """Photos the user marked good or bad for this query, and photos that look like them.

    Two parts, added up:
    - Likeness to the marks: each candidate's likeness to the direction from the disliked photos'
      mean to the liked photos' mean, calibrated as a photo query is (standard deviations above the
      library's photos) and centred on the pool's median: log-odds `weight * that`.
    - A correction fitted on the marks: a ridge logistic regression on the (library-centred) photo
      vectors of the marked photos, with their log-odds so far (the query's own meaning plus the
      part above) as a fixed prior. The regression only moves the odds where the prior got a mark
      wrong, along what tells the marks apart; RIDGE keeps it from reading much into 6 photos.
      Fitted in its dual (one weight per mark), so it costs a few vector products.
    The marked photos themselves are settled: liked ones match, disliked ones do not.
    """

    def __init__(self, calibrator: Calibrator, weight: float = 1.0):
        self.calibrator = calibrator
        self.weight = weight

    def evidence(self, request: Request, pool: Pool) -> Evidence | None:
        query = request.query
        if not (query.likes or query.unlikes) or len(pool) == 0:
            return None
        table = pool.table
        liked, disliked = marked_rows(table, query.likes), marked_rows(table, query.unlikes)
        direction = np.zeros(table.matrix.shape[1], np.float64)
        if liked:
            direction += table.matrix[liked].mean(axis=0)
        if disliked:
            direction -= table.matrix[disliked].mean(axis=0)
        marked = np.array(liked + disliked, np.int64)
        z = self.calibrator.z(table, np.concatenate([pool.rows, marked]), direction, "photo")
        likeness = self.weight * (z - np.median(z[: len(pool)]))
        prior = likeness[len(pool) :]
        if request.vector is not None:
            prior = prior + self.calibrator.logits(table, marked, request.vector, request.kind, text=request.text or None)
        labels = np.array([1.0] * len(liked) + [0.0] * len(disliked))
        logit = likeness[: len(pool)] + correction(table, pool.rows, marked, labels, prior)
        logit[np.isin(pool.rows, liked)] = MARKED_LOGIT
        logit[np.isin(pool.rows, disliked)] = -MARKED_LOGIT
        return Evidence(logit)


# The feedback correction's ridge: larger trusts the marks less (chosen on held-out synthetic scenes
# with two tiny models: benchmarks/search_relevance.py --weights generic pairs --feedback-only).
RIDGE = 1.0


def correction(table: PhotoTable, rows: np.ndarray, marked: np.ndarray, labels: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Log-odds added at `rows` by a ridge logistic regression fitted on the photos at `marked`
    (labels 1 good, 0 bad) with fixed prior log-odds `prior`; features: the vectors centred on the
    library's (the photo bank's mean).
    With u = X.T a (u is always in the marks' span), Newton steps on a, a system of one row per mark."""
    centre = table.matrix[photo_bank_rows(len(table))].mean(axis=0, dtype=np.float64)  # no pass over a large library
    x = table.matrix[marked].astype(np.float64) - centre
    kernel = x @ x.T
    a = np.zeros(len(marked))
    for _ in range(10):
        p = 1.0 / (1.0 + np.exp(-np.clip(prior + kernel @ a, -30, 30)))
        a -= np.linalg.solve((p * (1 - p))[:, None] * kernel + RIDGE * np.eye(len(a)), p - labels + RIDGE * a)
    u = x.T @ a
    return table.matrix[rows] @ u - float(centre @ u)
