"""Words in a query that name metadata rather than what a photo shows.

Dates ("2019", "June", "june 2019") are read out of the text: they become a condition on when the
photo was taken, and the words left over carry the meaning. Names (a file's or a folder's) stay in
the text, since "beach" may name a folder and a scene at once; `name_matches` finds the photos
whose file or folder name holds every word of the query.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from .paths import is_under

# fmt: off
MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12,
}
# Words that never make a name match on their own ("the" must not find "the_beach.jpg" for "the sea").
STOPWORDS = frozenset([
    "a", "an", "the", "of", "on", "in", "at", "to", "and", "or", "with", "for", "from", "by", "is",
    "are", "my", "our", "this", "that", "photo", "photos", "picture", "pictures", "image", "images",
])
# fmt: on
_YEAR = re.compile(r"^(19[0-9]{2}|20[0-9]{2}|2100)$")
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits; "_", "-", "." split names


@dataclass(frozen=True)
class QueryWords:
    """The date words of a query and the text left for its meaning.

    years, months: what was asked for ("June 2019" -> years (2019,), months (6,)); a photo matches
    when its date is in one of the years (if any) and one of the months (if any). dates: the words
    as typed, for telling the user what was read as a date.
    """

    rest: str = ""
    years: tuple[int, ...] = ()
    months: tuple[int, ...] = ()
    dates: tuple[str, ...] = ()

    @property
    def has_date(self) -> bool:
        return bool(self.years or self.months)

    def date_matches(self, times: np.ndarray) -> np.ndarray:
        """(n,) bool: which POSIX times (local time) fall in the asked years and months."""
        out = np.ones(len(times), bool)
        if not self.has_date:
            return out
        for i, t in enumerate(times.tolist()):
            when = datetime.fromtimestamp(t)
            out[i] = (not self.years or when.year in self.years) and (not self.months or when.month in self.months)
        return out


def parse_words(text: str) -> QueryWords:
    """Take years and month names out of a query text.

    "May" counts as a month only capitalised or beside a year, so "may" in a sentence stays.
    A text that is nothing but a date keeps no meaning words.
    """
    words = text.split()
    years: list[int] = []
    months: list[int] = []
    dates: list[str] = []
    rest: list[str] = []
    has_year = any(_YEAR.match(w.strip(",.")) for w in words)
    for word in words:
        bare = word.strip(",.")
        low = bare.lower()
        if _YEAR.match(bare):
            years.append(int(bare))
        elif low in MONTHS and (low != "may" or bare == "May" or has_year):
            months.append(MONTHS[low])
        else:
            rest.append(word)
            continue
        dates.append(bare)
    return QueryWords(" ".join(rest), tuple(years), tuple(months), tuple(dates))


def tokens(text: str) -> list[str]:
    """Lower-case letter-and-digit runs: "Canon_40D.jpg" -> ["canon", "40d", "jpg"]."""
    return _TOKEN.findall(text.lower())


def name_tokens(text: str) -> list[str]:
    """The tokens of a query that a name could match (stopwords left out)."""
    return [t for t in tokens(text) if t not in STOPWORDS]


def file_tokens(path: str) -> set[str]:
    """The tokens of a file's name without its extension."""
    return set(tokens(os.path.splitext(os.path.basename(path))[0]))


def folder_tokens(path: str, roots: list[str]) -> set[str]:
    """The tokens of the folders a photo lies in, from its library folder's own name down."""
    parent = os.path.dirname(path)
    for root in roots:
        if is_under(parent, root):
            inside = os.path.relpath(parent, os.path.dirname(root.rstrip(os.sep)))
            return set(tokens(inside))
    return set(tokens(os.path.basename(parent)))
