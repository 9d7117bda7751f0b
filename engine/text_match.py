"""Matching a query's words against the text read in photos, exactly and fuzzily.

OCR slips a letter or two ("BAKERV" for "BAKERY", "0PEN" for "OPEN"), so a query word matches a
word read in a photo when few enough edits separate them: none for words of up to three letters,
one up to six letters, two beyond. A match is worth the share of the query word read right
(1 - edits / length); a query word found inside a longer run of letters (OCR often joins words)
is worth CONTAINED. A photo's text score is the mean over the query's content words of their best
match, so a photo showing every word of the query scores 1.

In search, `TextStage` is one stage of the pipeline (engine/search.py): the text score adds up to
TEXT_LOGIT log-odds to a photo's relevance, so a photo that shows every query word is as settled a
match as a file named by them, while a partial match (one word of three) nudges rather than
overrules what the photo looks like. A hit says "text" among its `matched` signals from a text
score of TEXT_MATCHED (every word found, allowing slips).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from .search import Evidence, Pool, Request

TEXT_LOGIT = 8.0
TEXT_MATCHED = 0.75
CONTAINED = 0.9
# Words too common to say anything about a photo's text.
# fmt: off
STOP_WORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "of",
    "on", "or", "the", "this", "that", "to", "with", "photo", "photos", "picture", "image", "my", "our",
])
# fmt: on
_WORD = re.compile(r"\w+")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class TextMatch:
    """How well one photo's text matches a query: score 0..1 and the photo's words that matched."""

    score: float
    words: tuple[str, ...]


def normalise(text: str) -> str:
    """Case- and accent-insensitive form of a text: 'Café' and 'CAFE' read the same."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The normalised words of a text, in order."""
    return _WORD.findall(normalise(text))


def query_words(text: str) -> list[str]:
    """The words of a query worth looking for in photos: no stop words, no single letters."""
    seen: dict[str, None] = {}
    for w in words(text):
        if len(w) > 1 and w not in STOP_WORDS:
            seen.setdefault(w)
    return list(seen)


def allowed_edits(word: str) -> int:
    return 0 if len(word) <= 3 else 1 if len(word) <= 6 else 2


def word_similarity(query_word: str, text_word: str) -> float:
    """How well a word read in a photo stands for a query word, 0..1 (see the module doc)."""
    if query_word == text_word:
        return 1.0
    edits = Levenshtein.distance(query_word, text_word, score_cutoff=allowed_edits(query_word))
    best = 1.0 - edits / len(query_word) if edits <= allowed_edits(query_word) else 0.0
    if len(query_word) >= 4 and query_word in text_word:
        best = max(best, CONTAINED)
    return best


def text_score(query: str, text: str) -> TextMatch:
    """One photo's text against a query; the pure form of what TextIndex does for a library."""
    return TextIndex({0: text}).match(query).get(0, TextMatch(0.0, ()))


class TextIndex(Generic[K]):
    """The words read in a library's photos, for matching queries: word -> the photos showing it.

    Built from {photo key: text} (a content hash, a vector label); a query costs one fuzzy scan of
    the vocabulary per query word (rapidfuzz, in C), not a scan of every photo.
    """

    def __init__(self, texts: Mapping[K, str]):
        self._photos: dict[str, set[K]] = {}
        for content_hash, text in texts.items():
            for w in words(text):
                self._photos.setdefault(w, set()).add(content_hash)
        self._vocabulary = list(self._photos)

    def __len__(self) -> int:
        return len(self._vocabulary)

    def _similar(self, query_word: str) -> Iterable[tuple[str, float]]:
        """Vocabulary words that stand for query_word, with their similarity."""
        found: dict[str, float] = {}
        edits = allowed_edits(query_word)
        if edits == 0:
            if query_word in self._photos:
                found[query_word] = 1.0
        else:
            for word, _, _ in process.extract(
                query_word, self._vocabulary, scorer=Levenshtein.distance, score_cutoff=edits, limit=None
            ):
                found[word] = word_similarity(query_word, word)
        if len(query_word) >= 4:
            for word in self._vocabulary:
                if query_word in word and word not in found:
                    found[word] = CONTAINED
        return found.items()

    def match(self, query: str) -> dict[K, TextMatch]:
        """photo key -> its match, for every photo whose text matches at least one query word."""
        wanted = query_words(query)
        if not wanted or not self._vocabulary:
            return {}
        best: dict[K, list[float]] = {}
        matched: dict[K, set[str]] = {}
        for i, query_word in enumerate(wanted):
            for word, similarity in self._similar(query_word):
                for content_hash in self._photos[word]:
                    scores = best.setdefault(content_hash, [0.0] * len(wanted))
                    if similarity > scores[i]:
                        scores[i] = similarity
                    matched.setdefault(content_hash, set()).add(word)
        return {
            h: TextMatch(sum(scores) / len(wanted), tuple(sorted(matched[h]))) for h, scores in best.items()
        }


class TextStage:
    """The search stage of text read in photos (engine/search.py): photos whose text holds the
    query's words, exactly or with OCR slips, gain up to TEXT_LOGIT log-odds (a photo showing every
    word is as settled a match as a file named by them); `matched` says "text" from TEXT_MATCHED."""

    def __init__(self, texts: Callable[[], Mapping[str, str]], generation: Callable[[], object]):
        self._texts = texts
        self._generation = generation
        self._index: tuple[object, TextIndex[str]] | None = None
        self._lock = threading.Lock()

    def index(self) -> TextIndex[str]:
        """The library's words, rebuilt when the OCR pass has saved new results."""
        generation = self._generation()
        with self._lock:
            if self._index is None or self._index[0] != generation:
                self._index = (generation, TextIndex(self._texts()))
            return self._index[1]

    def evidence(self, request: Request, pool: Pool) -> Evidence | None:
        if not request.text or len(pool) == 0:
            return None
        matches = self.index().match(request.text)
        if not matches:
            return None
        hashes = pool.table.hashes
        score = np.array([matches[h].score if (h := hashes[r]) in matches else 0.0 for r in pool.rows.tolist()])
        if not score.any():
            return None
        return Evidence(TEXT_LOGIT * score, "text", score >= TEXT_MATCHED)
