"""Personal tags and highlight maps, and the training-free search boost they give.

A tag is a text the user attaches to a photo: a name ("Rex") or a caption ("Rex asleep on the
sofa"). A highlight marks where in the photo one phrase of that text is: a box (fractions of the
upright photo, top-left origin) or a brush mask (PNG). Tags hang on the photo's content hash, like
its vectors, so they survive renames and moves.

Search uses tags the moment they are given, without training (`TagStage`, one stage of the search
pipeline): a query that names a tag makes the photos carrying it matches, and every other photo
gains log-odds from p (0..1): a per-tag linear probe, fitted on the tagged photos' stored vectors
against a sample of the library, mixed with Tip-Adapter's cache of the tagged photos, both
calibrated (engine/tag_scoring.py). Untagged photos that look like the tagged ones, and not merely
like their colour or shape, rise to the top.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import tag_crops, tag_fits
from .calibration import Calibrator
from .config import ModelSpec
from .errors import ViewfinderError
from .photo_table import PhotoTable
from .search import Evidence, Pool, Request
from .storage import Store
from .storage.versions import VersionRecord
from .tag_crops import TagCrops
from .tag_fits import Fitted, Windows
from .tag_scoring import ProbeConfig, TagScorer, auc, held_out_auc, tag_log_odds, trust_of_auc
from .tag_windows import (
    SHAPE_SHARE,
    SHAPE_SHRINKAGE,
    Box,
    WindowScorer,
    box_template,
    in_crop,
    locate,
    out_of_crop,
    square_crop,
    view_sizes,
)

# The key, in a model version's metrics, of each tag's held-out text trust (written by training).
TEXT_TRUST_METRIC = "text_trust"

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
log = logging.getLogger(__name__)


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
class WindowConfig:
    """The window cache (engine/tag_windows.py): weight, its share of the tag's log-odds (mixed
    with the probe and cache of the global vectors), reached from full_weight tagged photos with a
    highlight box and a patch grid on (proportionally less below; none under `least`), and where
    the views' median side spans full_cells grid cells or more (proportionally less, down to none
    at flat_cells: a 3 x 3 template resampled from one cell holds no shape; on the benchmark's
    worlds the best fixed weight was 0.9 for objects 2.4 to 4 cells wide and for objects 1.4 to
    2.4 cells wide, 0.5 for objects 1.2 to 2 cells wide on a coarse grid: docs/personal-tags.md);
    candidates: how many of the photos the global scorers rank highest are matched view by view;
    negatives: library photos that calibrate it; sharpness: its cache's (a view's similarity is a
    mean of nine cell cosines, whose spread is narrower than a vector's: 200, not 30, makes it the
    soft maximum it should be); step: the views' step in grid cells; locate: tagged photos without
    a highlight box are located (tag_windows.locate) rather than left out; keys: at most this many
    tagged photos are its keys (those with a box first, spread over the tag's photos): its cost
    grows with the keys, and with the square of them to fit (about 0.5 s for 30 at ViT-B-32 sizes,
    4 s for 100); full_trust, least_trust: it counts in full once it tells the tagged photos (each
    against the other photos' keys) from the library negatives with this trust (trust_of_auc), not
    at all at least_trust or below, and proportionally between. Keys that miss the tagged object
    (a box around the whole photo or the wrong thing) do little better than chance, and their
    calibrated log-odds are wide noise: even at a twentieth of the weight they cost 0.05 AP
    (docs/personal-tags.md). rival_slack: it also counts in full only where that AUC is at least
    the global scorers' on the same photos (held_out_auc), not at all where it is rival_slack
    below, and proportionally between: on a coarse patch grid its views carry less than the
    global vectors, and mixed in at full weight they ranked below them. shape_share, shrinkage:
    the share of its shape probe (WindowScorer) and the probe's ridge."""

    weight: float = 0.9
    full_weight: int = 10
    flat_cells: float = 1.0
    full_cells: float = 2.0
    least: int = 3
    candidates: int = 500
    negatives: int = 200
    sharpness: float = 200.0
    step: float = 0.25
    locate: bool = True
    keys: int = 48
    full_trust: float = 0.5
    least_trust: float = 0.25
    rival_slack: float = 0.05
    shape_share: float = SHAPE_SHARE
    shrinkage: float = SHAPE_SHRINKAGE


@dataclass(frozen=True)
class TagSearchConfig:
    """How strongly tags steer search. logit: the log-odds a photo the tag's probe is sure of
    gains (and one it is sure against loses); probe: how the probe is fitted; windows: the window
    cache over the photos' patch grids (None: global vectors only)."""

    logit: float = 6.0
    probe: ProbeConfig = ProbeConfig()
    windows: WindowConfig | None = WindowConfig()


# A photo carrying a tag the query names is a match, whatever its look.
TAGGED_LOGIT = 50.0
# How many tags' fitted scorers a search keeps: a query refined as it is typed, re-sorted or
# filtered names the same tag again, and its scorers and the candidates' window log-odds are reused.
KEPT_FITS = 4


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


def rename_tag(store: Store, old: str, new: str) -> int:
    """Rename the tag `old` to `new` on every photo (Tags.rename: merged where a photo has both);
    returns how many photos carried it. Raises TagError for an empty new text or a tag no photo
    carries."""
    old, new = normalise_text(old), normalise_text(new)
    if not new:
        raise TagError("A tag needs some text.")
    count = store.tags.texts().get(old)
    if count is None:
        raise TagError(f"No photo is tagged {old!r}.")
    if new != old:
        store.tags.rename(old, new)
    return count


def remove_tag_everywhere(store: Store, text: str) -> int:
    """Remove the tag `text` from every photo (never the photos); returns how many carried it.
    Raises TagError for a tag no photo carries."""
    text = normalise_text(text)
    count = store.tags.texts().get(text)
    if count is None:
        raise TagError(f"No photo is tagged {text!r}.")
    store.tags.remove_text(text)
    return count


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
    """Tag texts a query names (named_tags)."""
    return [text for text, _ in named_tags(store, query_text)]


def named_tags(store: Store, query_text: str) -> list[tuple[str, bool]]:
    """(tag text, whether the query spells it out) for each tag a query names: the tag's words
    occur in the query ("Rex" in "Rex on the beach"), or the query's words occur in a caption tag
    and are not all stopwords ("sofa" in "Rex asleep on the sofa"). Of the tags the query spells
    out, one that lies inside another is left out: "green circle and red triangle" names that
    caption, not also "green circle" (whose photos, the green circles without a red triangle, it
    does not ask for)."""
    query = _words(query_text)
    if not query:
        return []
    meaningful = any(w not in STOPWORDS for w in query)
    named = []  # (text, its words, whether they occur in the query)
    for text in tag_texts(store):
        words = _words(text)
        if words and _contains(query, words):
            named.append((text, words, True))
        elif words and meaningful and _contains(words, query):
            named.append((text, words, False))
    spelled = [words for _, words, within in named if within]
    return [
        (text, within)
        for text, words, within in named
        if not (within and any(len(other) > len(words) and _contains(other, words) for other in spelled))
    ]


def words_besides(query_text: str, texts: Sequence[str]) -> str:
    """The query's words other than those of the tag `texts` it names ("on the beach" of "Rex on
    the beach" naming "rex"); "" when only stopwords are left."""
    named = {w for text in texts for w in _words(text)}
    rest = [w for w in _words(query_text) if w not in named]
    return " ".join(rest) if any(w not in STOPWORDS for w in rest) else ""


def tagged_hashes(store: Store, query_text: str) -> set[str]:
    """The content hashes of the photos whose tags the query names (empty when none does)."""
    texts = matching_tag_texts(store, query_text)
    if not texts:
        return set()
    return store.tags.hashes_with(texts)


def sample_rows(table: PhotoTable, limit: int, seed: int = 0) -> np.ndarray:
    """Up to `limit` rows of the library's table (a fixed random sample), ascending."""
    rows = np.arange(len(table))
    if len(rows) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))
    return rows


def _without_keys(keys: np.ndarray, library: np.ndarray) -> np.ndarray:
    tagged = {k.tobytes() for k in keys}
    return np.stack([v for v in library if v.tobytes() not in tagged]) if len(library) else library


def tag_scorer(keys: np.ndarray, library: np.ndarray, config: ProbeConfig = ProbeConfig()) -> TagScorer | None:
    """The tag's probe and cache of its tagged photos (`keys`), fitted against `library` (a sample
    of the library, the tagged photos left out; engine/tag_scoring.py); None when the library
    holds no other photo."""
    negatives = _without_keys(keys, library)
    return TagScorer.fit(keys, negatives, config) if len(negatives) else None


def look_alikes(keys: np.ndarray, library: np.ndarray, config: ProbeConfig = ProbeConfig()) -> np.ndarray:
    """The library vectors the tag's own scorer of the global vectors ranks highest (top_share):
    the photos a text must tell the tag from to add anything to the tag's probe and cache."""
    if not len(library) or not len(keys):
        return library
    return library[top_share(tag_log_odds(keys, library, library, config))]


def top_share(scores: np.ndarray, share: float = 0.1, least: int = 20, most: int = 40) -> np.ndarray:
    """Indices of the highest `scores`, best first: their top `share`, at least `least` and at
    most `most`. The cap keeps the look-alikes the photos ranked beside a tag's, whatever the
    library's size: a tenth of a library of 1600 photos let in many no search would rank beside
    the tag, against which a trained name looked better than it was, and trusted, it lowered
    search's AP (docs/personal-tags.md)."""
    top = min(len(scores), most, max(least, int(share * len(scores))))
    return np.argsort(-scores, kind="stable")[:top]


def version_text_trusts(store: Store, library_path: Path, model: ModelSpec) -> dict[str, float]:
    """The held-out text trust of each tag (`TagStage`), as training measured it for the model
    version `model` is (engine-side reading of trainer/versions.py's records): {} for a base model
    or a version trained before it was measured."""
    record = _version_record(store, library_path, model)
    trusts = json.loads(record.metrics).get(TEXT_TRUST_METRIC, {}) if record is not None else {}
    return {str(text): float(value) for text, value in trusts.items()}


def version_tag_crops(store: Store, library_path: Path, model: ModelSpec) -> dict[str, TagCrops]:
    """The tags' crops training measured for the model version `model` is ({} for a base model)."""
    record = _version_record(store, library_path, model)
    return tag_crops.load(library_path / record.path) if record is not None else {}


def _version_record(store: Store, library_path: Path, model: ModelSpec) -> VersionRecord | None:
    if not model.pretrained or not model.pretrained.endswith(".safetensors"):
        return None
    folder = Path(model.pretrained).resolve().parent
    return next((r for r in store.versions.all() if (library_path.resolve() / r.path) == folder), None)


def ranking_auc(vector: np.ndarray, keys: np.ndarray, library: np.ndarray) -> float:
    """The AUC of the cosine to `vector` at ranking `keys` above `library`."""
    return auc(keys @ vector, library @ vector)


def text_trust(vector: np.ndarray, keys: np.ndarray, library: np.ndarray) -> float:
    """How much the query text itself knows the tag, 0..1: trust_of_auc of its cosine at telling
    the tagged photos from the library. A name the model never learnt scores 0 and is left out
    (without the margin, its noise alone gave it 0.1 or more from 30 photos); after training on
    the tag, up to 1."""
    if not len(library) or not len(keys):
        return 1.0
    return trust_of_auc(ranking_auc(vector, keys, library), len(keys), len(library))


@dataclass(frozen=True)
class WindowKeys:
    """What a tag's window cache is fitted from: the tagged photos it keys on (content hashes) and
    their (K, rows, cols, D) grids under `model`, their boxes in fractions of the grid (given or
    located), and the grids of the library photos that calibrate it, with their table rows."""

    model: str
    hashes: list[str]
    grids: np.ndarray
    boxes: list[Box]
    negatives: np.ndarray
    negative_rows: np.ndarray


def _read_close_ups(path: Path | None) -> dict[str, TagCrops]:
    return tag_crops.load(path.parent, path.name) if path is not None else {}


class TagStage:
    """The search stage of personal tags (engine/search.py), usable the moment tags are given.

    A query that names a tag makes the photos carrying it matches; every other photo gains
    `logit * (2p - 1)` from the tag's probability p (the sigmoid of `odds`); and the query's own
    meaning counts only as much as the text knows the tag (text_trust): the rest of the meaning
    stage's log-odds is taken back here, so a name the model never learnt does not rank by noise,
    while the query's other words ("on the beach" of "Rex on the beach": words_besides) keep theirs.
    A name the model was trained on separates its own tagged photos in-sample whether or not it
    learnt the look, so there the trust is at most what training measured on held-out photos
    (`held_out`, tag text -> trust: the trained text at telling held-out tagged photos from the
    photos this stage ranks highest for the tag, fitted on the other tagged photos, and no more
    than its share in this stage's ranking that ranked those photos best).
    """

    def __init__(
        self,
        store: Store,
        calibrator: Calibrator,
        config: TagSearchConfig = TagSearchConfig(),
        held_out: Mapping[str, float] | None = None,
        model: str | None = None,
        folder: Path | None = None,
        crops: Mapping[str, TagCrops] | None = None,
        close_ups: Path | None = None,
    ):
        self.store = store
        self.calibrator = calibrator
        self.config = config
        self.held_out = dict(held_out or {})
        self.crops = dict(crops or {})  # tag text -> its crops, measured by training (tag_crops.py)
        # tag text -> its crops made since (look_closer), kept in the file `close_ups` (None: not kept)
        self.close_ups_file = close_ups
        self.close_ups = _read_close_ups(close_ups)
        self.model = model  # the key the photos' patch grids are stored under (None: not read)
        self.folder = folder  # where fits are kept between processes (engine/tag_fits.py; None: not kept)
        self._fits: OrderedDict[tuple, Fitted] = OrderedDict()
        self._fitting: dict[tuple, threading.Event] = {}  # fits under way, by key
        self._lock = threading.Lock()

    def evidence(self, request: Request, pool: Pool) -> Evidence | None:
        named = named_tags(self.store, request.text) if request.text else []
        texts = [text for text, _ in named]
        hashes = self.store.tags.hashes_with(texts) if texts else set()
        if not hashes or len(pool) == 0:
            return None
        table = pool.table
        tagged_rows = table.rows_of_hashes(hashes)
        keys = table.matrix[tagged_rows]
        tagged = np.isin(pool.rows, tagged_rows)
        sample = self.sample(table)
        logit = self.belief(self.odds(texts, pool, tagged_rows, sample))
        if request.vector is not None:
            trust = text_trust(request.vector, keys, table.matrix[sample])
            measured = [self.held_out[t] for t in texts if t in self.held_out]
            if measured:
                trust = min(trust, *measured)
            meaning = self.calibrator.logits(
                table, pool.rows, request.vector, request.kind, text=request.text or None
            )
            logit = logit - (1.0 - trust) * meaning
            rest = words_besides(request.text, texts) if request.kind == "text" and trust < 1.0 else ""
            if rest:
                # "Rex on the beach": the tag stands in for the name, the rest of the words keep
                # their meaning (log-odds add: Rex, and on a beach).
                vector = self.calibrator.text_vector(rest)
                logit = logit + (1.0 - trust) * self.calibrator.logits(table, pool.rows, vector, "text", text=rest)
        tagged_logit = np.full(len(pool), TAGGED_LOGIT)
        tagged_logit[tagged] *= self._share_named(named, [table.hashes[r] for r in pool.rows[tagged]])
        return Evidence(np.where(tagged, tagged_logit, logit), "tag", tagged)

    def _share_named(self, named: list[tuple[str, bool]], hashes: list[str]) -> np.ndarray | float:
        """For the photos of content `hashes` (each carries a tag the query names), the share of the
        tags the query spells out that each carries (1 for a caption holding the whole query):
        "Rex and Max" puts the photos of both first, then those of one (still matches), as a query
        of several words asks for them all."""
        spelled = [text for text, within in named if within]
        if len(spelled) < 2:
            return 1.0
        carried = [self.store.tags.hashes_with([text]) for text in spelled]
        holding = [text for text, within in named if not within]
        whole = self.store.tags.hashes_with(holding) if holding else set()
        return np.array([1.0 if h in whole else np.mean([h in c for c in carried]) for h in hashes])

    def belief(self, odds: np.ndarray) -> np.ndarray:
        """The log-odds the tag gives photos of tag log-odds `odds`: logit * (2p - 1), p their
        sigmoid (2p - 1 = tanh(odds / 2), which cannot overflow)."""
        return self.config.logit * np.tanh(odds / 2)

    def sample(self, table: PhotoTable) -> np.ndarray:
        """The rows of `table` the tag's scorers are fitted and calibrated against (sample_rows)."""
        return sample_rows(table, self.config.probe.max_negatives, self.config.probe.seed)

    def odds(
        self, texts: list[str], pool: Pool, tagged_rows: np.ndarray, sample: np.ndarray, with_crops: bool = True
    ) -> np.ndarray:
        """The log-odds that each photo of the pool shows what the photos at `tagged_rows` of its
        table show (those carrying `texts`, whose highlight boxes the window cache reads), fitted
        against the table's `sample` (self.sample): the scorers of the global vectors, with the
        window cache mixed in for the candidates they rank highest, and training's crops of the tag
        (tag_crops.py) for the photos it measured, unless `with_crops` is False."""
        table = pool.table
        fitted, new, name = self._fit_of(texts, table, tagged_rows, sample)
        odds = np.zeros(len(pool), np.float32) if fitted.scorer is None else fitted.scorer.log_odds(pool.vectors)
        if fitted.windows is not None:
            scored = len(fitted.windows.odds)
            odds = self._with_windows(odds, fitted.windows, table, pool, tagged_rows)
            new = new or len(fitted.windows.odds) > scored
        if new and self.folder is not None:  # a new fit, or new candidates' window log-odds
            tag_fits.save(self.folder, name, fitted)
        crops = self.crops_of(texts[0]) if with_crops and len(texts) == 1 else None
        if crops is not None and crops.weight > 0:
            odds = crops.mixed_into(odds, table, pool.rows)
        return odds

    def crops_of(self, text: str) -> TagCrops | None:
        """The crops search mixes into the tag `text`'s log-odds: the latest made for it
        (look_closer), else training's."""
        return self.close_ups.get(text, self.crops.get(text))

    def tag_state(self, text: str, table: PhotoTable) -> str:
        """A digest of what a closer look at the tag `text` is made from: the search model, the
        photos of `table`, the tag's photos and their boxes."""
        tagged = sorted(self.store.tags.hashes_with([text]))
        state = (self.model, table.hashes, tagged, sorted(self._boxes([text], tagged).items()))
        return hashlib.sha1(repr(state).encode(), usedforsecurity=False).hexdigest()

    def keep_close_ups(self, text: str, crops: TagCrops | None) -> None:
        """Use `crops` for the tag `text` from now on (None: none), and keep them in the close-ups
        file (read again first: another process may have added another tag's). Not kept where the
        file cannot be written: this search still uses them."""
        with self._lock:
            self.close_ups.pop(text, None)
            if crops is not None:
                self.close_ups[text] = crops
            path = self.close_ups_file
            if path is None:
                return
            kept = {t: c for t, c in _read_close_ups(path).items() if t != text}
            kept |= {text: crops} if crops is not None else {}
            if not tag_crops.save(path.parent, kept, path.name):
                log.warning("the close-ups of %r could not be kept: they count until the app closes", text)

    def instant_odds(self, texts: list[str], table: PhotoTable, tagged_rows: np.ndarray) -> np.ndarray:
        """`odds` of every photo of `table`, without crops (what they are measured on)."""
        pool = Pool(table, np.arange(len(table)), np.zeros(len(table), np.float32))
        return self.odds(texts, pool, tagged_rows, self.sample(table), with_crops=False)

    def highlight_boxes(self, texts: list[str], table: PhotoTable, rows: np.ndarray) -> dict[str, Box]:
        """content hash -> the highlight box (fractions of the photo) of the photos at `rows`
        that have one for a tag among `texts`."""
        return self._boxes(texts, [table.hashes[r] for r in rows])

    def window_scorer(self, text: str, table: PhotoTable) -> WindowScorer | None:
        """The window cache search fits for a query naming the tag `text` (kept fits are reused), or
        None where search gives it no weight (too few photos with a grid, objects a cell wide,
        keys it does not trust)."""
        tagged_rows = table.rows_of_hashes(self.store.tags.hashes_with([text]))
        if not len(tagged_rows):
            return None
        fitted, new, name = self._fit_of([text], table, tagged_rows, self.sample(table))
        if new and self.folder is not None:
            tag_fits.save(self.folder, name, fitted)
        return fitted.windows.scorer if fitted.windows is not None and fitted.windows.weight > 0 else None

    def _fit_of(
        self, texts: list[str], table: PhotoTable, tagged_rows: np.ndarray, sample: np.ndarray
    ) -> tuple[Fitted, bool, str]:
        """_fitted for the photos at `tagged_rows`, carrying `texts`, and their boxes; and the name
        its fit is kept under."""
        boxes = self._boxes(texts, [table.hashes[r] for r in tagged_rows])
        key = (
            self.config,
            tuple(table.hashes[r] for r in tagged_rows),
            tuple(sorted(boxes.items())),
            tuple(table.hashes[r] for r in sample),
        )
        name = tag_fits.file_name(str(self.model), key)
        fitted, new = self._fitted(key, name, table, tagged_rows, sample, boxes)
        return fitted, new, name

    def _fitted(
        self,
        key: tuple,
        name: str,
        table: PhotoTable,
        tagged_rows: np.ndarray,
        sample: np.ndarray,
        boxes: dict[str, Box],
    ) -> tuple[Fitted, bool]:
        """The scorers of the tagged photos at `tagged_rows` (the photos carrying the query's tags),
        fitted against the library `sample`: kept from an earlier query that named the same tags over
        the same sample (in memory, else in `folder` as `name`), else fitted now, once (a query
        arriving while another thread fits the same waits for that fit); and whether fitted now."""
        while True:
            with self._lock:
                if key in self._fits:
                    self._fits.move_to_end(key)
                    return self._fits[key], False
                fitting = self._fitting.get(key)
                if fitting is None:
                    fitting = self._fitting[key] = threading.Event()
                    break
            fitting.wait()  # the same fit under way in another thread (the app preparing the tag)
        try:
            kept = tag_fits.load(self.folder, name) if self.folder is not None else None
            fitted = kept or self._fit(table, tagged_rows, sample, boxes)
            with self._lock:
                self._fits[key] = fitted
                while len(self._fits) > KEPT_FITS:
                    self._fits.popitem(last=False)
            return fitted, kept is None
        finally:
            with self._lock:
                del self._fitting[key]
            fitting.set()

    def _fit(
        self, table: PhotoTable, tagged_rows: np.ndarray, sample: np.ndarray, boxes: dict[str, Box]
    ) -> Fitted:
        scorer = tag_scorer(table.matrix[tagged_rows], table.matrix[sample], self.config.probe)
        config = self.config.windows
        keys = self._window_keys(table, tagged_rows, sample, boxes)
        if config is None or keys is None:
            return Fitted(scorer, None)
        sizes = view_sizes([(box, (0.0, 0.0, 1.0, 1.0)) for box in keys.boxes], *keys.grids.shape[1:3])
        side = float(np.sqrt(np.prod(sizes[len(sizes) // 2])))
        resolved = (side - config.flat_cells) / (config.full_cells - config.flat_cells)
        if resolved <= 0:  # objects a cell wide or less: it would weigh nothing, so it is not fitted
            return Fitted(scorer, None)
        templates = np.stack([box_template(grid, box) for grid, box in zip(keys.grids, keys.boxes, strict=True)])
        window_scorer = WindowScorer.fit(
            templates, keys.grids, keys.negatives, sizes, config.sharpness, config.step, config.shape_share, config.shrinkage
        )
        trust = trust_of_auc(window_scorer.auc, len(keys.grids), len(keys.negatives))
        trusted = (trust - config.least_trust) / (config.full_trust - config.least_trust)
        rival = held_out_auc(table.matrix[tagged_rows], table.matrix[keys.negative_rows], self.config.probe)
        rivalled = (window_scorer.auc - rival + config.rival_slack) / config.rival_slack
        share = min(len(keys.grids) / config.full_weight, trusted, rivalled, resolved)
        weight = config.weight * float(np.clip(share, 0.0, 1.0))
        return Fitted(scorer, Windows(window_scorer, keys.model, weight, config.candidates, {}))

    def located_boxes(self, text: str, table: PhotoTable) -> dict[str, Box]:
        """content hash -> where the window cache finds the tag `text`'s object (fractions of the
        upright photo) in each of its tagged photos that has no highlight box (locate); {} when
        the window cache has too few of them. Training's --token-loss takes these as targets."""
        tagged_rows = table.rows_of_hashes(self.store.tags.hashes_with([text]))
        boxes = self._boxes([text], [table.hashes[r] for r in tagged_rows])
        keys = self._window_keys(table, tagged_rows, self.sample(table), boxes)
        if keys is None:
            return {}
        sizes = self.store.photos.sizes_by_hash(keys.hashes)
        return {
            h: out_of_crop(box, square_crop(sizes.get(h)))
            for h, box in zip(keys.hashes, keys.boxes, strict=True)
            if h not in boxes
        }

    def _window_keys(
        self, table: PhotoTable, tagged_rows: np.ndarray, sample: np.ndarray, boxes: dict[str, Box]
    ) -> WindowKeys | None:
        """The tagged photos the window cache keys on, with their grids and boxes (the user's, the
        others located unless config.locate is off, then left out) and the grids of the library
        photos that calibrate it; None without a window cache or enough tagged photos with a grid."""
        config = self.config.windows
        if config is None or self.model is None:
            return None
        negative_rows = np.setdiff1d(sample, tagged_rows)
        if len(negative_rows) > config.negatives:
            rng = np.random.default_rng(self.config.probe.seed)
            negative_rows = np.sort(rng.choice(negative_rows, config.negatives, replace=False))
        tagged = [table.hashes[r] for r in tagged_rows]
        boxed = _spread([h for h in tagged if h in boxes], config.keys)
        unboxed = [h for h in tagged if h not in boxes] if config.locate else []
        tagged_grids = self.store.grids.of(self.model, boxed + _spread(unboxed, config.keys - len(boxed)))
        row_of = {table.hashes[r]: r for r in negative_rows}
        negatives = self.store.grids.of(self.model, list(row_of))
        if len(tagged_grids) < config.least or not negatives:
            return None
        grids, negative_grids = np.stack(list(tagged_grids.values())), np.stack(list(negatives.values()))
        # Boxes as fractions of the grid, which covers the part of the photo the model saw.
        photo_sizes = self.store.photos.sizes_by_hash(tagged_grids)
        given = [in_crop(boxes[h], square_crop(photo_sizes.get(h))) if h in boxes else None for h in tagged_grids]
        seen = locate(grids, given, negative_grids, config.sharpness, config.step)
        rows = np.array([row_of[h] for h in negatives], np.int64)
        return WindowKeys(self.model, list(tagged_grids), grids, seen, negative_grids, rows)

    def _with_windows(
        self, odds: np.ndarray, windows: Windows, table: PhotoTable, pool: Pool, tagged_rows: np.ndarray
    ) -> np.ndarray:
        """The tag's log-odds of the pool with the window cache mixed in for the `candidates` the
        global scorers rank highest, each scored once for all the queries that name the tag;
        unchanged where a candidate has no patch grid (a library indexed before grids were kept)."""
        untagged = ~np.isin(pool.rows, tagged_rows)
        order = np.flatnonzero(untagged)[np.argsort(-odds[untagged], kind="stable")][: windows.candidates]
        wanted = [table.hashes[r] for r in pool.rows[order]]
        grids = self.store.grids.of(windows.model, [h for h in wanted if h not in windows.odds])
        if grids:
            scored = windows.scorer.log_odds(np.stack(list(grids.values())))
            windows.odds.update(zip(grids, scored.tolist(), strict=True))
        found = [(i, windows.odds[h]) for i, h in zip(order, wanted, strict=True) if h in windows.odds]
        if not found:
            return odds
        rows, window = (np.array(column) for column in zip(*found, strict=True))
        mixed = odds.copy()
        mixed[rows] = (1.0 - windows.weight) * odds[rows] + windows.weight * window
        return mixed

    def _boxes(self, texts: list[str], hashes: list[str]) -> dict[str, Box]:
        """content hash -> the first highlight box of its tags among `texts`, where it has one."""
        out: dict[str, Box] = {}
        wanted = set(texts)
        for record in self.store.tags.records(hashes):
            if record.text in wanted and record.hash not in out:
                box = next((b for _, b, _ in record.highlights if b is not None), None)
                if box is not None:
                    out[record.hash] = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
        return out


def _spread(items: list[str], count: int) -> list[str]:
    """At most `count` of `items`, evenly spread over them."""
    if len(items) <= count:
        return items
    if count <= 0:
        return []
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


__all__ = [
    "STOPWORDS",
    "Highlight",
    "Tag",
    "TagError",
    "TagSearchConfig",
    "WindowConfig",
    "add_tag",
    "check_box",
    "list_tags",
    "matching_tag_texts",
    "named_tags",
    "words_besides",
    "phrase_in_text",
    "remove_tags",
    "TEXT_TRUST_METRIC",
    "TagStage",
    "sample_rows",
    "look_alikes",
    "tag_scorer",
    "tagged_hashes",
    "top_share",
    "ranking_auc",
    "text_trust",
    "trust_of_auc",
    "tag_texts",
    "version_tag_crops",
    "version_text_trusts",
    "tags_of",
]
