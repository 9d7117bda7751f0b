"""Tag crops: the tagged object seen up close, for later searches: made after tagging
(Library.look_closer: `viewfinder tag`, the app in the background) and by `viewfinder train`.

The window cache (tag_windows.py) finds where in a photo a tag's object most likely is, on the
stored patch grid. On an 8 x 8 grid an object of a third of the photo spans two or three cells,
and what tells it from a look-alike with its colours on another outline (a diamond against a
circle, both white with a green cross) is a few cells' difference. A closer look has time that
a search has not: it decodes the photos the tag's search ranks first, cuts out of each the region
the window cache points at (a little larger: CROP_PAD), and runs the image tower on that crop
alone, so the object fills the model's view. The tagged photos' objects (their highlight boxes, or
where the window cache located them) are cut out the same way and are the keys. A coarse grid
points only roughly, so each photo is also cut a little moved and scaled around where it looks
most like the keys, twice (_place), and its score is its best cut-out's; where search gives
the window cache no weight, the user's highlight boxes are the keys and a lattice of places the
first tries. A cut-out's crop score is the mean of two log-odds (CropScorer), in each of two looks
at it (Looks: its pooled vector, and its patch grid's 3 x 3 template, which keeps the object's
parts in place):
- the cache's soft maximum over the keys (Tip-Adapter's affinity at sharpness 30, as the global
  cache), calibrated like the other scorers (the keys, each left out of its own score, -> +2; a
  sample of the library, also cut at its best views, -> -2);
- a linear probe of the keys against every cut-out (candidates and sample), cross-fitted: the
  candidates hold the tag's untagged photos among its look-alikes, and a classifier of tagged
  against unlabelled photos ranks them as one of the tag against the rest would (Elkan and Noto),
  as long as the tagged photos are a fair sample of the tag's. It weighs the few dimensions that
  tell the object from its look-alikes, where the cache weighs all alike.
The four are averaged and trusted as far as the pooled vectors' cache tells the keys from the
sample (trust_of_auc). Search mixes that into the tag's log-odds, CROP_WEIGHT x trust to the
rest, for the photos that have a crop; photos indexed after the look keep the tag's own
log-odds. The held-out tagged photos' own cut-outs (Looks.views) are scored by the keys of the
rest, to measure what the crops add (CutOuts.crops, held_out_check, training's gate). The
cut-outs are kept for the next look (engine/cut_cache.py): after one more photo is tagged, a
rename, or in training after a look, only the cut-outs not seen before are encoded.

Measured on the personal worlds: docs/personal-tags.md, "A closer look, at once" and "The tag
seen up close".
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import npz
from .cut_cache import CutOutCache
from .errors import PhotoError
from .search import Pool
from .tag_scoring import (
    Probe,
    auc,
    cache_affinity,
    calibration,
    cross_fitted_probe,
    trust_of_auc,
)
from .tag_windows import (
    TEMPLATE_CELLS,
    best_views,
    box_template,
    out_of_crop,
    square_crop,
    view_boxes,
)

if TYPE_CHECKING:
    from PIL import Image

    from .encoder import Encoder
    from .photo_table import PhotoTable
    from .tag_windows import WindowScorer
    from .tags import TagStage

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]

CROP_CANDIDATES = 200  # photos the tag's search ranks first that are cut out and re-encoded
CROP_NEGATIVES = 50  # library photos (the tag's calibration sample) cut out the same way
CROP_PAD = 0.15  # each side of a cut-out grows by this share of the box
CROP_SHARPNESS = 30.0
CROP_WEIGHT = 1.0  # share of the crop log-odds in the tag's, at full trust (so: their trust)
PROBE_SHRINKAGE = 0.3  # the crop probe's ridge (fit_probe)
PROBE_ROWS = 1500  # cut-outs the probe is fitted on at most, spread evenly over them (its cost)
DECODE_SIZE = 1024  # longest side decoded before cutting (a third of it still fills a 224 input)
# Where a photo is cut (_place): its first tries (_first_tries), then, for each of REFINE_STEPS,
# the place most like the keys so far moved by that share of its size and scaled by REFINE_SCALES.
REFINE_STEPS = (0.2, 0.1)
REFINE_SCALES = (0.8, 1.25)
LATTICE = 3  # first tries without the window cache: the keys' size at 3 x 3 places
PLACED_TOGETHER = 8  # photos whose cut-outs are encoded in one batch (at most 8 x 9 at a time)
CHECK_FOLDS = 5  # the close-up check's folds of the tagged photos (held_out_check)
CLEARLY_WORSE = 0.02  # the least mean AUC loss, beyond two standard errors, that refuses the crops
FILE_NAME = "tag-crops.npz"


@dataclass(frozen=True)
class TagCrops:
    """One tag's crops as search uses them: the log-odds `odds` (N,) of the candidates (content
    `hashes`) seen up close, weighed by `weight` in the tag's log-odds. `made_from`: what a closer
    look made them from (TagStage.tag_state; "" for training's)."""

    hashes: tuple[str, ...]
    odds: np.ndarray
    weight: float
    made_from: str = ""

    def log_odds(self, table: PhotoTable, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of the `table`'s `rows` have a crop, their log-odds)."""
        row_of = table.row_of_hash
        at = np.array([row_of.get(h, -1) for h in self.hashes], np.int64)
        known = at >= 0
        every = np.full(len(table), np.nan, np.float32)
        every[at[known]] = self.odds[known]
        picked = every[rows]
        have = ~np.isnan(picked)
        return have, picked[have]

    def mixed_into(self, odds: np.ndarray, table: PhotoTable, rows: np.ndarray) -> np.ndarray:
        """The tag's log-odds `odds` of the `table`'s `rows`, with the crops' mixed in at `weight`."""
        have, crop_odds = self.log_odds(table, rows)
        odds = odds.copy()
        odds[have] = (1 - self.weight) * odds[have] + self.weight * crop_odds
        return odds


@dataclass(frozen=True)
class Looks:
    """The cut-outs described one way (unit vectors, rows as in CutOuts): `keys` of the tagged
    photos' objects, `views` of the same photos cut as the candidates are, `vectors` of the
    candidates and `negatives` of the library sample (several rows a photo: each place it was cut)."""

    keys: np.ndarray
    views: np.ndarray
    vectors: np.ndarray
    negatives: np.ndarray

    def scorer(self, keyed: np.ndarray) -> CropScorer:
        """The scorer of the keys where `keyed` (a mask of them) is True."""
        keys = self.keys[keyed]
        # Calibrated against the library sample's cut-outs; in a library small enough for every
        # photo to be a candidate, against all of them (mostly not the tag, as a library is).
        below = self.negatives if len(self.negatives) else self.vectors
        own = cache_affinity(keys, keys, CROP_SHARPNESS, own=True)
        affinity = cache_affinity(keys, below, CROP_SHARPNESS)
        middle, slope = calibration(own, affinity)
        trust = trust_of_auc(auc(own, affinity), len(own), len(affinity))
        unlabelled = np.concatenate([self.vectors, self.negatives])
        unlabelled = unlabelled[
            np.linspace(0, len(unlabelled) - 1, min(PROBE_ROWS, len(unlabelled))).astype(int)
        ]
        return CropScorer(keys, slope, middle, cross_fitted_probe(keys, unlabelled, PROBE_SHRINKAGE), trust)


@dataclass(frozen=True)
class CropScorer:
    """Log-odds that a cut-out shows the tag's object, in one of its Looks: the mean of the cache's
    over the `keys` (calibrated: slope * (affinity - middle)) and a linear probe's of the keys
    against every cut-out (`probe`); `trust`: trust_of_auc of the cache."""

    keys: np.ndarray
    slope: float
    middle: float
    probe: Probe
    trust: float

    def log_odds(self, vectors: np.ndarray) -> np.ndarray:
        cache = self.slope * (cache_affinity(self.keys, vectors, CROP_SHARPNESS) - self.middle)
        return (cache + self.probe.slope * self.probe.logits(vectors)) / 2


@dataclass(frozen=True)
class CutOuts:
    """A tag's photos cut out where its object is, and encoded: its tagged photos' objects (at
    their highlight or located boxes; content `key_hashes`), the same photos cut as the candidates
    are, the candidates (the photos its search ranks first; `hashes`) and a library sample, each
    of these photos at every place it was cut (_place). `looks`: their pooled vectors, and
    where the image tower has patch tokens, their grids' 3 x 3 templates (the object's parts in
    place: what tells its accent from a look-alike's, which the pooled vector blurs). `of_view`:
    the key each of the looks' views is of; `of_vector`: the candidate each vector is of."""

    key_hashes: tuple[str, ...]
    hashes: tuple[str, ...]
    looks: tuple[Looks, ...]
    of_view: np.ndarray
    of_vector: np.ndarray

    def crops(self, keyed: np.ndarray | None = None, held: np.ndarray | None = None) -> TagCrops:
        """The crops scored by the keys where `keyed` (a mask of them; all by default): the
        candidates', and the tagged photos' own (their views) where `held` is True. Each look
        scores each cut-out; their log-odds are averaged, a photo's are those of its best cut-out,
        and they are trusted as far as the pooled vectors' cache tells the keys from the library."""
        keyed = np.ones(len(self.key_hashes), bool) if keyed is None else keyed
        held = np.zeros(len(self.key_hashes), bool) if held is None else held
        scorers = [look.scorer(keyed) for look in self.looks]
        views = held[self.of_view]
        seen = [np.concatenate([look.vectors, look.views[views]]) for look in self.looks]
        odds = np.mean([s.log_odds(v) for s, v in zip(scorers, seen, strict=True)], axis=0)
        of = np.concatenate([self.of_vector, len(self.hashes) + self.of_view[views]])
        best = np.full(len(self.hashes) + len(self.key_hashes), -np.inf)
        np.maximum.at(best, of, odds)
        best = np.concatenate([best[: len(self.hashes)], best[len(self.hashes) :][held]])
        hashes = self.hashes + tuple(h for h, h_held in zip(self.key_hashes, held, strict=True) if h_held)
        return TagCrops(hashes, best.astype(np.float32), CROP_WEIGHT * scorers[0].trust)


@dataclass(frozen=True)
class CloseUpCheck:
    """How each fold of a tag's tagged photos ranks among its untagged photos, by the tag's
    log-odds fitted on the other tagged photos, `without` and `with_crops` scored by their keys
    (held_out_check): the AUC, the share of untagged photos ranked below a held-out one, averaged."""

    without: tuple[float, ...]
    with_crops: tuple[float, ...]
    weight: float = 0.0  # the crops' share in the tag's log-odds where they are used
    unchanged: bool = False  # nothing looked at had changed since the last look, which stands

    def summary(self, text: str) -> str:
        """One line for the user."""
        if self.unchanged:
            uses = f"its searches use it (weight {self.weight:.2f})" if self.weight > 0 else "not used"
            return f"Looked closer at “{text}” before, and nothing has changed since: {uses}."
        if not self.without:
            return f"Looked closer at “{text}”: too few tagged photos to measure what it adds."
        measured = (
            f"held-out tagged photos rank above {100 * np.mean(self.with_crops):.1f}% of the others "
            f"with it, {100 * np.mean(self.without):.1f}% without"
        )
        if self.clearly_worse:
            return f"Looked closer at “{text}”: not used: {measured}."
        if self.weight <= 0:
            return (
                f"Looked closer at “{text}”: not used, up close its photos look like the rest ({measured})."
            )
        return f"Looked closer at “{text}”: {measured}; its searches use it (weight {self.weight:.2f})."

    @property
    def gain(self) -> float:
        return float(np.mean(self.with_crops) - np.mean(self.without)) if self.without else 0.0

    @property
    def clearly_worse(self) -> bool:
        """A mean loss beyond CLEARLY_WORSE and two standard errors of the folds' differences."""
        if len(self.without) < 2:
            return False
        diffs = np.subtract(self.with_crops, self.without)
        se = float(diffs.std(ddof=1) / np.sqrt(len(diffs)))
        return self.gain < -max(CLEARLY_WORSE, 2 * se)


def held_out_check(
    stage: TagStage, table: PhotoTable, text: str, cuts: CutOuts, folds: int = CHECK_FOLDS
) -> CloseUpCheck:
    """What the crops of tag `text` add to its search: each of `folds` folds of the tagged photos
    that are keys is held out in turn, and ranked among the untagged photos by the tag's log-odds
    fitted on the other tagged photos, without and with crops scored by their keys only (each
    held-out photo scored by its own views, cut as an untagged photo of the tag is).

    AUC and not AP: the untagged photos hold the tag's untagged photos too, which good crops raise
    as much as the held-out ones. AP weighs the order among those few at the top, and fell where
    the crops ranked the untagged photos better (docs/personal-tags.md, "A closer look, at once");
    AUC counts how many untagged photos rank above each held-out one, which junk crops raise."""
    tagged_rows = table.rows_of_hashes(stage.store.tags.hashes_with([text]))
    untagged = np.setdiff1d(np.arange(len(table)), tagged_rows)
    sample = stage.sample(table)
    fold_of = np.random.default_rng(0).permutation(len(cuts.key_hashes)) % folds
    without, with_crops = [], []
    for fold in range(min(folds, len(cuts.key_hashes))):
        held = fold_of == fold
        if np.count_nonzero(~held) < 3 or not len(untagged):
            continue
        held_rows = table.rows_of_hashes(
            {h for h, h_held in zip(cuts.key_hashes, held, strict=True) if h_held}
        )
        rows = np.union1d(untagged, held_rows)
        pool = Pool(table, rows, np.zeros(len(rows), np.float32))
        odds = stage.odds([text], pool, np.setdiff1d(tagged_rows, held_rows), sample, with_crops=False)
        relevant = np.isin(rows, held_rows)
        mixed = cuts.crops(~held, held).mixed_into(odds, table, rows)
        without.append(auc(odds[relevant], odds[~relevant]))
        with_crops.append(auc(mixed[relevant], mixed[~relevant]))
    return CloseUpCheck(tuple(without), tuple(with_crops))


def cut_out(
    stage: TagStage,
    table: PhotoTable,
    text: str,
    encoder: Encoder,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> CutOuts | None:
    """The cut-outs of tag `text`, or None where fewer than 3 of its tagged photos show where its
    object is (a highlight box, or where a window cache that search gives weight located it),
    nothing else is left to cut, or `cancel` was set. `progress(done, total)`: photos cut out."""
    tagged_rows = table.rows_of_hashes(stage.store.tags.hashes_with([text]))
    scorer = stage.window_scorer(text, table)
    boxes = stage.highlight_boxes([text], table, tagged_rows)
    if scorer is not None:
        boxes = {**stage.located_boxes(text, table), **boxes}
    keyed = np.array([r for r in tagged_rows if table.hashes[r] in boxes], np.int64)
    if len(keyed) < 3:
        return None
    cache = _cut_out_cache(stage)
    keys, key_shapes, read = _encode(
        encoder, [(_Photo(table.paths[r][0], table.hashes[r]), boxes[table.hashes[r]]) for r in keyed], cache
    )
    keyed = keyed[read]
    if len(keyed) < 3:
        return None
    odds = stage.instant_odds([text], table, tagged_rows)
    odds[tagged_rows] = -np.inf
    candidates = np.argsort(-odds)[: min(CROP_CANDIDATES, len(table) - len(tagged_rows))]
    sample = np.setdiff1d(stage.sample(table), np.concatenate([tagged_rows, candidates]))
    spread = np.linspace(0, len(sample) - 1, min(CROP_NEGATIVES, len(sample))).astype(int)
    negatives = sample[spread] if len(sample) else sample
    rows = np.concatenate([candidates, negatives, keyed]).astype(np.int64)
    tries = _first_tries(stage, table, scorer, rows, [boxes[table.hashes[r]] for r in keyed])
    key_looks = [keys] if key_shapes is None else [keys, key_shapes]
    own = {r: i for i, r in enumerate(keyed)}  # a tagged photo's view is placed without its own key
    photos = [
        (_Photo(table.paths[r][0], table.hashes[r]), t, own.get(r)) for r, t in zip(rows, tries, strict=True)
    ]
    cut_outs = _cut_outs(encoder, photos, key_looks, cache, progress, cancel)
    cache.save()  # a look stopped half way leaves the next one less to encode
    log.info("closer look at %r: %d cut-outs read back, %d not kept before", text, cache.hits, cache.misses)
    if cut_outs is None:
        return None
    looks, of = cut_outs
    # a photo that can no longer be read has no cut-outs and is left out
    kinds = np.isin(rows, candidates) + 2 * np.isin(rows, negatives)  # 1, 2, or 0: a tagged photo's view
    read = np.zeros(len(rows), bool)
    read[of] = True
    shown = np.flatnonzero(read & (kinds == 1))
    if not len(shown):
        return None
    position = np.full(len(rows), -1)
    position[shown] = np.arange(len(shown))
    views = kinds[of] == 0
    # a tagged photo whose view could not be cut is seen as its key
    unseen = np.flatnonzero(~read[-len(keyed) :])  # the tagged photos are the last rows
    of_view = np.concatenate([[own[r] for r in rows[of[views]]], unseen]).astype(np.int64)
    return CutOuts(
        tuple(table.hashes[r] for r in keyed),
        tuple(table.hashes[rows[i]] for i in shown),
        tuple(
            Looks(
                of_keys,
                np.concatenate([of_all[views], of_keys[unseen]]),
                of_all[kinds[of] == 1],
                of_all[kinds[of] == 2],
            )
            for of_keys, of_all in zip(key_looks, looks, strict=True)
        ),
        of_view,
        position[of[kinds[of] == 1]],
    )


def _cut_out_cache(stage: TagStage) -> CutOutCache:
    """The cut-outs earlier looks encoded under the search model, kept beside its close-ups (for a
    library that is read-only, only during this look)."""
    kept = stage.close_ups_file
    settings = f"padded {CROP_PAD}, decoded at {DECODE_SIZE}, templates of {TEMPLATE_CELLS} cells"
    return CutOutCache(kept.with_name(f"{kept.stem}-cut-outs.npz") if kept else None, settings)


def _first_tries(
    stage: TagStage,
    table: PhotoTable,
    scorer: WindowScorer | None,
    rows: np.ndarray,
    key_boxes: Sequence[Box],
) -> list[list[Box]]:
    """Where each photo at `rows` is first cut (boxes of the photo): its best view by the window
    cache `scorer`, or without one (or for a photo without a grid) a LATTICE x LATTICE lattice of
    boxes of the keys' median size."""
    tries = [_lattice(key_boxes)] * len(rows)
    if scorer is None:
        return tries
    grids = stage.store.grids.of(str(stage.model), [table.hashes[r] for r in rows])
    have = [i for i, r in enumerate(rows) if table.hashes[r] in grids]
    if not have:
        return tries
    stacked = np.stack([grids[table.hashes[rows[i]]] for i in have])
    _, best = best_views(scorer.keys, stacked, scorer.sizes, scorer.sharpness, scorer.step)
    where = view_boxes(scorer.sizes, stacked.shape[1], stacked.shape[2], scorer.step)[best]
    sizes = stage.store.photos.sizes_by_hash(table.hashes[rows[i]] for i in have)
    for i, box in zip(have, where, strict=True):
        tries[i] = [out_of_crop(tuple(box), square_crop(sizes.get(table.hashes[rows[i]])))]  # type: ignore[arg-type]
    return tries


def _lattice(key_boxes: Sequence[Box]) -> list[Box]:
    """LATTICE x LATTICE boxes of the `key_boxes`' median size, spread over the photo."""
    sides = np.median(np.array([(b[2] - b[0], b[3] - b[1]) for b in key_boxes]), axis=0)
    width, height = (float(s) for s in sides)
    return [
        (x, y, x + width, y + height)
        for y in np.linspace(0, 1 - height, LATTICE)
        for x in np.linspace(0, 1 - width, LATTICE)
    ]


def _cut_outs(
    encoder: Encoder,
    photos: Sequence[tuple[_Photo, list[Box], int | None]],
    key_looks: Sequence[np.ndarray],
    cache: CutOutCache,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[list[np.ndarray], np.ndarray] | None:
    """Each photo (its first tries, the index of its own key or None) cut at the places of _place,
    around where it looks most like the other keys, PLACED_TOGETHER photos at a time: the
    cut-outs' looks (one array per look in `key_looks`, rows of every photo's cut-outs) and the
    photo each row is of; None if `cancel` was set."""
    looks: list[list[np.ndarray]] = [[] for _ in key_looks]
    of: list[int] = []
    for start in range(0, len(photos), PLACED_TOGETHER):
        if cancel is not None and cancel.is_set():
            return None
        if progress is not None:
            progress(start, len(photos))
        group = []
        for at, (photo, tries, own) in enumerate(photos[start : start + PLACED_TOGETHER], start):
            keys = [k if own is None else np.delete(k, own, axis=0) for k in key_looks]
            group.append((at, _Placing(photo, list(tries), keys)))
        _place([placing for _, placing in group], encoder, cache)
        for at, placing in group:
            placing.photo.release()
            if not placing.boxes:  # unreadable, and never seen before
                continue
            for rows, look in zip(looks, placing.looks, strict=True):
                rows.append(look)
            of += [at] * len(placing.boxes)
    if progress is not None:
        progress(len(photos), len(photos))
    if not of:
        return [np.zeros((0, k.shape[1]), np.float32) for k in key_looks], np.zeros(0, np.int64)
    return [np.concatenate(rows) for rows in looks], np.array(of, np.int64)


class _Photo:
    """A photo to cut out (`path`, content `hash`), decoded (to DECODE_SIZE, upright) the first
    time a cut-out of it is not in the cache; `image()` is None where it cannot be read."""

    def __init__(self, path: str, hash: str):
        self.path, self.hash = path, hash
        self._image: Image.Image | None = None
        self._read = False

    def image(self) -> Image.Image | None:
        if not self._read:
            self._image, self._read = _image(self.path), True
        return self._image

    def release(self) -> None:
        """Let the decoded photo go (decoded again if needed)."""
        self._image, self._read = None, False


@dataclass
class _Placing:
    """One photo being cut (_place): the `photo`, the `boxes` it was cut at so far (its first
    tries to begin with) and their `looks` (as the `keys`', those it is compared with)."""

    photo: _Photo
    boxes: list[Box]
    keys: list[np.ndarray]
    looks: list[np.ndarray] = field(default_factory=list)

    def most_like_keys(self) -> Box:
        """The box whose cut-out looks most like the keys: the cache affinity (sharpness
        CROP_SHARPNESS) summed over the looks."""
        affinity = np.sum(
            [cache_affinity(k, look, CROP_SHARPNESS) for k, look in zip(self.keys, self.looks, strict=True)],
            axis=0,
        )
        return self.boxes[int(np.argmax(affinity))]


def _place(photos: Sequence[_Placing], encoder: Encoder, cache: CutOutCache) -> None:
    """Cut each photo at its first tries, then, for each step of REFINE_STEPS, around its place
    most like the keys so far (_around): moved by that share of its size each way, and scaled by
    REFINE_SCALES. A coarse window cache points beside the object, and search scores a photo by
    its best cut-out. Each round's cut-outs of all `photos` are encoded together. A photo that
    cannot be read keeps only the cut-outs the cache held (none: no boxes)."""
    tries = [p.boxes for p in photos]
    for p in photos:
        p.boxes = []
    for step in (None, *REFINE_STEPS):
        if step is not None:
            tries = [_around(p.most_like_keys(), step) if p.boxes else [] for p in photos]
        cuts = [(p.photo, box) for p, boxes in zip(photos, tries, strict=True) for box in boxes]
        encoded = _encoded(encoder, cuts, cache)
        start = 0
        for p, boxes in zip(photos, tries, strict=True):
            had = zip(boxes, encoded[start : start + len(boxes)], strict=True)
            mine = [(box, looks) for box, looks in had if looks is not None]
            start += len(boxes)
            if not mine:
                continue
            p.boxes = p.boxes + [box for box, _ in mine]
            stacked = [np.stack(rows) for rows in zip(*(looks for _, looks in mine), strict=True)]
            p.looks = (
                stacked
                if not p.looks
                else [np.concatenate([a, b]) for a, b in zip(p.looks, stacked, strict=True)]
            )


def _encoded(
    encoder: Encoder, cuts: Sequence[tuple[_Photo, Box]], cache: CutOutCache, batch: int = 64
) -> list[list[np.ndarray] | None]:
    """Each cut-out's looks (a row each: _looks), from the `cache` or cut out, encoded and kept
    in it; None where it was not kept and its photo cannot be read."""
    found = [cache.get(photo.hash, box) for photo, box in cuts]
    missing = [i for i, looks in enumerate(found) if looks is None and cuts[i][0].image() is not None]
    for start in range(0, len(missing), batch):
        chunk = missing[start : start + batch]
        looks = _looks(encoder, [cut(cuts[i][0].image(), cuts[i][1]) for i in chunk])  # type: ignore[arg-type]
        for j, i in enumerate(chunk):
            found[i] = cache.put(cuts[i][0].hash, cuts[i][1], [look[j] for look in looks])
    return found


def _looks(encoder: Encoder, cut_outs: Sequence[Image.Image]) -> list[np.ndarray]:
    """The `cut_outs` encoded: their pooled vectors, and their templates (_shapes) where the tower
    has patch tokens."""
    encoded, grids = encoder.encode_images_and_grids(
        np.stack([encoder.preprocess_array(c) for c in cut_outs])
    )
    return [np.asarray(encoded, np.float32)] + ([_shapes(grids)] if grids is not None else [])


def _around(box: Box, step: float) -> list[Box]:
    """`box` moved by `step` of its size left, right, up and down (kept inside the photo), and
    scaled about its centre by each of REFINE_SCALES (clipped to the photo)."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    out: list[Box] = []
    for dx, dy in ((-step, 0.0), (step, 0.0), (0.0, -step), (0.0, step)):
        left = min(max(x0 + dx * width, 0.0), 1 - width)
        top = min(max(y0 + dy * height, 0.0), 1 - height)
        out.append((left, top, left + width, top + height))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    for f in REFINE_SCALES:
        half_w, half_h = f * width / 2, f * height / 2
        out.append(
            (max(cx - half_w, 0.0), max(cy - half_h, 0.0), min(cx + half_w, 1.0), min(cy + half_h, 1.0))
        )
    return out


def cut(image: Image.Image, box: Box, pad: float = CROP_PAD) -> Image.Image:
    """The part of `image` inside `box` (fractions), grown by `pad` of its size on each side."""
    width, height = image.size
    x0, y0, x1, y1 = box[0] * width, box[1] * height, box[2] * width, box[3] * height
    grow_x, grow_y = pad * (x1 - x0), pad * (y1 - y0)
    left, top = max(0, int(x0 - grow_x)), max(0, int(y0 - grow_y))
    right, bottom = min(width, int(np.ceil(x1 + grow_x))), min(height, int(np.ceil(y1 + grow_y)))
    return image.crop((left, top, max(right, left + 1), max(bottom, top + 1)))


def _image(path: str) -> Image.Image | None:
    """The photo at `path`, upright, decoded to DECODE_SIZE; None (logged) where it cannot be read."""
    from .photos import thumbnail

    try:
        return thumbnail(path, DECODE_SIZE).convert("RGB")
    except (PhotoError, OSError) as e:
        log.info("tag crops: %s left out: %s", path, e)
        return None


def _encode(
    encoder: Encoder, cuts: Sequence[tuple[_Photo, Box]], cache: CutOutCache, batch: int = 32
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The cut-outs (photo, box) that could be had (_encoded), `batch` at a time: their unit
    vectors, their patch grids' templates (_shapes; None for a tower without patch tokens), and
    which were had."""
    found: list[list[np.ndarray] | None] = []
    for start in range(0, len(cuts), batch):
        found += _encoded(encoder, cuts[start : start + batch], cache)
        for photo, _ in cuts[start : start + batch]:
            photo.release()
    had = np.array([looks is not None for looks in found], bool)
    rows = [looks for looks in found if looks is not None]
    if not rows:
        return np.zeros((0, 0), np.float32), None, had
    stacked = [np.stack(each) for each in zip(*rows, strict=True)]
    return stacked[0], (stacked[1] if len(stacked) > 1 else None), had


def _shapes(grids: np.ndarray) -> np.ndarray:
    """(N, 9 D) unit vectors: each grid's 3 x 3 template (box_template of the whole cut-out), its
    cells unit vectors in place."""
    templates = np.stack([box_template(grid, None) for grid in grids])
    return (templates.reshape(len(grids), -1) / np.sqrt(TEMPLATE_CELLS * TEMPLATE_CELLS)).astype(np.float32)


def save(folder: Path, crops: Mapping[str, TagCrops], name: str = FILE_NAME) -> bool:
    """Keep `crops` (tag text -> crops) in `folder` (a model version's) as `name`, written whole
    (npz.write: a kill mid-write, or another process writing the same file, never leaves a broken
    one); False where it cannot be written."""
    arrays: dict[str, np.ndarray] = {}
    index = []
    for i, (text, c) in enumerate(sorted(crops.items())):
        arrays[f"odds{i}"], arrays[f"hashes{i}"] = c.odds, np.array(c.hashes, dtype=str)
        index.append({"text": text, "weight": c.weight, "made_from": c.made_from})
    arrays["index"] = np.array(json.dumps(index))
    return npz.write(folder / name, arrays)


def load(folder: Path, name: str = FILE_NAME) -> dict[str, TagCrops]:
    """What `save` kept in `folder` as `name` ({} when nothing, or unreadable)."""
    data = npz.read(folder / name)
    if data is None:
        return {}
    try:
        index = json.loads(str(data["index"]))
        return {
            item["text"]: TagCrops(
                tuple(str(h) for h in data[f"hashes{i}"]),
                _kept_odds(data, i, item),
                float(item["weight"]),
                str(item.get("made_from", "")),
            )
            for i, item in enumerate(index)
        }
    except (ValueError, KeyError) as e:
        log.warning("tag crops in %s could not be read (%s): searches use the tags without them", folder, e)
        return {}


def _kept_odds(data: Mapping[str, np.ndarray], i: int, item: dict) -> np.ndarray:
    """The `i`th tag's kept log-odds; from a version trained before they were kept (2026-11-24),
    its cache's over the kept keys and vectors."""
    if f"odds{i}" in data:
        return data[f"odds{i}"]
    affinity = cache_affinity(data[f"keys{i}"], data[f"vectors{i}"], CROP_SHARPNESS)
    return (item["slope"] * (affinity - item["middle"])).astype(np.float32)
