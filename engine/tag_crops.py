"""Tag crops: the tagged object seen up close, measured by `viewfinder train` for later searches.

The window cache (tag_windows.py) finds where in a photo a tag's object most likely is, on the
stored patch grid. On an 8 x 8 grid an object of a third of the photo spans two or three cells,
and what tells it from a look-alike with its colours on another outline (a diamond against a
circle, both white with a green cross) is a few cells' difference. Training has time that a
search has not: it decodes the photos the tag's search ranks first, cuts out the region the window
cache points at in each (a little larger: CROP_PAD), and runs the image tower on that crop alone,
so the object fills the model's view. The tagged photos' objects (their highlight boxes, or where
the window cache located them) are cut out the same way and are the keys. A candidate's crop score
is the mean of two log-odds (CropScorer), in each of two looks at the cut-out (Looks: its pooled
vector, and its patch grid's 3 x 3 template, which keeps the object's parts in place):
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
rest, for the photos that have a crop; photos indexed after training keep the tag's own
log-odds. Training also scores the held-out tagged photos' own cut-outs (Looks.views) by the
keys of the rest, to measure what the crops add (CutOuts.crops).

Measured on the personal worlds: docs/personal-tags.md, "The tag seen up close".
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import PhotoError
from .tag_scoring import (
    Probe,
    auc,
    cache_affinity,
    calibration,
    cross_fitted_probe,
    soft_max,
    trust_of_auc,
)
from .tag_windows import (
    TEMPLATE_CELLS,
    box_template,
    out_of_crop,
    square_crop,
    view_boxes,
    view_similarities,
)

if TYPE_CHECKING:
    from PIL import Image

    from .encoder import Encoder
    from .photo_table import PhotoTable
    from .tags import TagStage

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]

CROP_CANDIDATES = 200  # photos the tag's search ranks first that are cut out and re-encoded
CROP_NEGATIVES = 50  # library photos (the tag's calibration sample) cut out the same way
CROP_PAD = 0.15  # each side of a cut-out grows by this share of the box
CROP_SHARPNESS = 30.0
CROP_WEIGHT = 0.6  # share of the crop log-odds in the tag's, at full trust
PROBE_SHRINKAGE = 0.3  # the crop probe's ridge (fit_probe)
DECODE_SIZE = 1024  # longest side decoded before cutting (a third of it still fills a 224 input)
FILE_NAME = "tag-crops.npz"


@dataclass(frozen=True)
class TagCrops:
    """One tag's crops as search uses them: the log-odds `odds` (N,) of the candidates (content
    `hashes`) seen up close, weighed by `weight` in the tag's log-odds."""

    hashes: tuple[str, ...]
    odds: np.ndarray
    weight: float

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
    photos' objects, `views` of the same photos at their best views, `vectors` of the candidates
    and `negatives` of the library sample."""

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
    their highlight or located boxes; content `key_hashes`), the same photos cut at the window
    cache's best view as the candidates are, the candidates (the photos its search ranks first;
    `hashes`) and a library sample. `looks`: their pooled vectors, and where the image tower has
    patch tokens, their grids' 3 x 3 templates (the object's parts in place: what tells its accent
    from a look-alike's, which the pooled vector blurs)."""

    key_hashes: tuple[str, ...]
    hashes: tuple[str, ...]
    looks: tuple[Looks, ...]

    def crops(self, keyed: np.ndarray | None = None, held: np.ndarray | None = None) -> TagCrops:
        """The crops scored by the keys where `keyed` (a mask of them; all by default): the
        candidates', and the tagged photos' own (their views) where `held` is True. Each look
        scores them; their log-odds are averaged, and trusted as far as the pooled vectors' cache
        tells the keys from the library."""
        keyed = np.ones(len(self.key_hashes), bool) if keyed is None else keyed
        held = np.zeros(len(self.key_hashes), bool) if held is None else held
        scorers = [look.scorer(keyed) for look in self.looks]
        seen = [np.concatenate([look.vectors, look.views[held]]) for look in self.looks]
        odds = np.mean([s.log_odds(v) for s, v in zip(scorers, seen, strict=True)], axis=0)
        hashes = self.hashes + tuple(h for h, h_held in zip(self.key_hashes, held, strict=True) if h_held)
        return TagCrops(hashes, odds.astype(np.float32), CROP_WEIGHT * scorers[0].trust)


def cut_out(stage: TagStage, table: PhotoTable, text: str, encoder: Encoder) -> CutOuts | None:
    """The cut-outs of tag `text`, or None where its search has no window cache to point at
    objects (too few photos, objects a cell wide, keys it does not trust) or too little could be
    cut out."""
    scorer = stage.window_scorer(text, table)
    tagged_rows = table.rows_of_hashes(stage.store.tags.hashes_with([text]))
    if scorer is None or len(tagged_rows) < 3:
        return None
    boxes = {**stage.located_boxes(text, table), **stage.highlight_boxes([text], table, tagged_rows)}
    keyed = np.array([r for r in tagged_rows if table.hashes[r] in boxes], np.int64)
    keys, key_shapes, read = _encode(encoder, [(table.paths[r][0], boxes[table.hashes[r]]) for r in keyed])
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
    grids = stage.store.grids.of(str(stage.model), [table.hashes[r] for r in rows])
    rows = np.array([r for r in rows if table.hashes[r] in grids], np.int64)
    # Each photo's best view (the window cache's soft maximum over its keys), as a box of the photo.
    stacked = np.stack([grids[table.hashes[r]] for r in rows])
    views = soft_max(
        scorer.sharpness * (view_similarities(stacked, scorer.keys, scorer.sizes, scorer.step) - 1)
    )
    where = view_boxes(scorer.sizes, stacked.shape[1], stacked.shape[2], scorer.step)[views.argmax(axis=1)]
    sizes = stage.store.photos.sizes_by_hash(table.hashes[r] for r in rows)
    cuts = [
        (table.paths[r][0], out_of_crop(tuple(box), square_crop(sizes.get(table.hashes[r]))))  # type: ignore[arg-type]
        for r, box in zip(rows, where, strict=True)
    ]
    vectors, shapes, read = _encode(encoder, cuts)
    rows = rows[read]  # a photo that can no longer be read is left out
    kinds = np.isin(rows, candidates) + 2 * np.isin(rows, negatives)  # 1, 2, or 0: a tagged photo's view
    if not (kinds == 1).any():
        return None
    key_hashes = tuple(table.hashes[r] for r in keyed)
    at = {table.hashes[r]: i for i, r in enumerate(rows) if kinds[i] == 0}
    looks = tuple(
        Looks(
            of_keys,
            # a tagged photo whose view could not be cut is seen as its key
            np.stack([of_all[at[h]] if h in at else k for h, k in zip(key_hashes, of_keys, strict=True)]),
            of_all[kinds == 1],
            of_all[kinds == 2],
        )
        for of_keys, of_all in ((keys, vectors), (key_shapes, shapes))
        if of_keys is not None and of_all is not None
    )
    return CutOuts(key_hashes, tuple(table.hashes[r] for r in rows[kinds == 1]), looks)


def cut(image: Image.Image, box: Box, pad: float = CROP_PAD) -> Image.Image:
    """The part of `image` inside `box` (fractions), grown by `pad` of its size on each side."""
    width, height = image.size
    x0, y0, x1, y1 = box[0] * width, box[1] * height, box[2] * width, box[3] * height
    grow_x, grow_y = pad * (x1 - x0), pad * (y1 - y0)
    left, top = max(0, int(x0 - grow_x)), max(0, int(y0 - grow_y))
    right, bottom = min(width, int(np.ceil(x1 + grow_x))), min(height, int(np.ceil(y1 + grow_y)))
    return image.crop((left, top, max(right, left + 1), max(bottom, top + 1)))


def _encode(
    encoder: Encoder, cuts: Sequence[tuple[str, Box]], batch: int = 32
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The cut-outs (path, box) that could be read, encoded: their unit vectors, their patch
    grids' templates (_shapes; None for a tower without patch tokens), and which were read."""
    from .photos import thumbnail

    vectors, shapes, read = [], [], np.zeros(len(cuts), bool)
    for start in range(0, len(cuts), batch):
        pixels = []
        for at, (path, box) in enumerate(cuts[start : start + batch], start):
            try:
                image = thumbnail(path, DECODE_SIZE).convert("RGB")
            except (PhotoError, OSError) as e:
                log.info("tag crops: %s left out: %s", path, e)
                continue
            pixels.append(encoder.preprocess_array(cut(image, box)))
            read[at] = True
        if pixels:
            encoded, grids = encoder.encode_images_and_grids(np.stack(pixels))
            vectors.append(np.asarray(encoded, np.float32))
            shapes.append(_shapes(grids) if grids is not None else None)
    if not vectors:
        return np.zeros((0, 0), np.float32), None, read
    known = all(s is not None for s in shapes)
    return np.concatenate(vectors), (np.concatenate(shapes) if known else None), read  # type: ignore[arg-type]


def _shapes(grids: np.ndarray) -> np.ndarray:
    """(N, 9 D) unit vectors: each grid's 3 x 3 template (box_template of the whole cut-out), its
    cells unit vectors in place."""
    templates = np.stack([box_template(grid, None) for grid in grids])
    return (templates.reshape(len(grids), -1) / np.sqrt(TEMPLATE_CELLS * TEMPLATE_CELLS)).astype(np.float32)


def save(folder: Path, crops: Mapping[str, TagCrops]) -> None:
    """Keep `crops` (tag text -> crops) in `folder` (a model version's)."""
    arrays: dict[str, np.ndarray] = {}
    index = []
    for i, (text, c) in enumerate(sorted(crops.items())):
        arrays[f"odds{i}"], arrays[f"hashes{i}"] = c.odds, np.array(c.hashes, dtype=str)
        index.append({"text": text, "weight": c.weight})
    arrays["index"] = np.array(json.dumps(index))
    partial = folder / (FILE_NAME + ".partial")
    with open(partial, "wb") as f:  # a kill mid-write leaves the partial file, never a broken one
        np.savez(f, **arrays)  # type: ignore[arg-type]
    os.replace(partial, folder / FILE_NAME)


def load(folder: Path) -> dict[str, TagCrops]:
    """What `save` kept in `folder` ({} when nothing, or unreadable)."""
    path = folder / FILE_NAME
    if not path.exists():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            index = json.loads(str(data["index"]))
            return {
                item["text"]: TagCrops(
                    tuple(str(h) for h in data[f"hashes{i}"]),
                    _kept_odds(data, i, item),
                    float(item["weight"]),
                )
                for i, item in enumerate(index)
            }
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        log.warning("tag crops in %s could not be read (%s): searches use the tags without them", folder, e)
        return {}


def _kept_odds(data: Mapping[str, np.ndarray], i: int, item: dict) -> np.ndarray:
    """The `i`th tag's kept log-odds; from a version trained before they were kept (2026-11-24),
    its cache's over the kept keys and vectors."""
    if f"odds{i}" in data:
        return data[f"odds{i}"]
    affinity = cache_affinity(data[f"keys{i}"], data[f"vectors{i}"], CROP_SHARPNESS)
    return (item["slope"] * (affinity - item["middle"])).astype(np.float32)
