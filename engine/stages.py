"""The signals of the search pipeline, one stage each (see engine/search.py for the protocol).

Each stage adds log-odds that a candidate matches: the meaning of the query (calibrated), names of
files and folders, date words, and the user's good/bad marks. Tags have their stage in
engine/tags.py, next to the tags themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .calibration import Calibrator
from .photo_table import PhotoTable
from .query_words import file_tokens, folder_tokens, name_tokens
from .search import Evidence, Pool, Request, marked_rows

# A file or folder name that holds every word of the query all but settles it: far more likely a
# match than any photo's look alone can say.
NAME_LOGIT = 8.0
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
        return Evidence(
            self.calibrator.logits(pool.table, pool.rows, request.vector, request.kind, text=request.text or None)
        )


class NameStage:
    """Files (kind "filename") or folders (kind "folder") whose names hold every word of the query:
    "Canon_40D" finds Canon_40D.jpg, "beach" the photos in a folder named "Beach trip"."""

    def __init__(self, kind: str, roots: Callable[[], list[str]]):
        if kind not in ("filename", "folder"):
            raise ValueError(f"unknown name kind {kind!r}")
        self.kind = kind
        self.roots = roots
        self._index: tuple[PhotoTable, dict[str, set[int]]] | None = None

    def evidence(self, request: Request, pool: Pool) -> Evidence | None:
        wanted = set(name_tokens(request.text))
        if not wanted or len(pool) == 0:
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
        roots = self.roots()
        index: dict[str, set[int]] = {}
        for row, paths in enumerate(table.paths):
            for path in paths:
                names = file_tokens(path) if self.kind == "filename" else folder_tokens(path, roots)
                for token in names:
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

    Each candidate's likeness to the liked photos' mean, and to the disliked photos' mean, is
    calibrated as a photo query is (standard deviations above the library's photos) and centred on
    the pool's median: log-odds `weight * (likeness to good - likeness to bad)`. The marked photos
    themselves are settled: liked ones match, disliked ones do not.
    """

    def __init__(self, calibrator: Calibrator, weight: float = 1.0):
        self.calibrator = calibrator
        self.weight = weight

    def evidence(self, request: Request, pool: Pool) -> Evidence | None:
        query = request.query
        if not (query.likes or query.unlikes) or len(pool) == 0:
            return None
        table = pool.table
        logit = np.zeros(len(pool), np.float64)
        for paths, sign in ((query.likes, 1.0), (query.unlikes, -1.0)):
            if paths:
                centre = table.matrix[marked_rows(table, paths)].mean(axis=0)
                z = self.calibrator.z(table, pool.rows, centre, "photo")
                logit += sign * self.weight * (z - np.median(z))
        logit[np.isin(pool.rows, marked_rows(table, query.likes))] = MARKED_LOGIT
        logit[np.isin(pool.rows, marked_rows(table, query.unlikes))] = -MARKED_LOGIT
        return Evidence(logit)
