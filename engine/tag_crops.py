"""Tag crops: the tagged object seen up close, measured by `viewfinder train` for later searches.

The window cache (tag_windows.py) finds where in a photo a tag's object most likely is, on the
stored patch grid. On an 8 x 8 grid an object of a third of the photo spans two or three cells,
and what tells it from a look-alike with its colours on another outline (a diamond against a
circle, both white with a green cross) is a few cells' difference. Training has time that a
search has not: it decodes the photos the tag's search ranks first, cuts out the region the window
cache points at in each (a little larger: CROP_PAD), and runs the image tower on that crop alone,
so the object fills the model's view. The tagged photos' objects (their highlight boxes, or where
the window cache located them) are cut out the same way and are the keys. A candidate's crop score
is the cache's soft maximum over the keys (Tip-Adapter's affinity at sharpness 30, as the global
cache), calibrated like the other scorers (the keys, each left out of its own score, -> +2; a
sample of the library, also cut at its best views, -> -2) and trusted as far as it tells the two
apart (trust_of_auc). Search mixes its log-odds into the tag's, CROP_WEIGHT x trust to the rest,
for the photos that have a crop; photos indexed after training keep the tag's own log-odds.

Measured on the personal worlds (docs/personal-tags.md): see "Tag crops" there.
"""

from __future__ import annotations

import functools
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
from .tag_scoring import auc, cache_affinity, calibration, soft_max
from .tag_windows import out_of_crop, square_crop, view_boxes, view_similarities

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
DECODE_SIZE = 1024  # longest side decoded before cutting (a third of it still fills a 224 input)
FILE_NAME = "tag-crops.npz"


@dataclass(frozen=True)
class TagCrops:
    """One tag's crops: `keys` (K, D) of its tagged photos' objects, `vectors` (N, D) of the
    candidates' (content `hashes`), and the calibration: log-odds = slope * (affinity - middle),
    weighed by `weight` in the tag's log-odds."""

    keys: np.ndarray
    hashes: tuple[str, ...]
    vectors: np.ndarray
    slope: float
    middle: float
    weight: float

    @functools.cached_property
    def odds(self) -> np.ndarray:
        """(N,) the log-odds of each of `hashes`."""
        return (self.slope * (cache_affinity(self.keys, self.vectors, CROP_SHARPNESS) - self.middle)).astype(
            np.float32
        )

    def log_odds(self, table: PhotoTable, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of the `table`'s `rows` have a crop, their log-odds)."""
        row_of = table.row_of_hash()
        at = np.array([row_of.get(h, -1) for h in self.hashes], np.int64)
        known = at >= 0
        every = np.full(len(table), np.nan, np.float32)
        every[at[known]] = self.odds[known]
        picked = every[rows]
        have = ~np.isnan(picked)
        return have, picked[have]


def measure(
    stage: TagStage,
    table: PhotoTable,
    text: str,
    encoder: Encoder,
) -> TagCrops | None:
    """The crops of tag `text`, or None where its search has no window cache to point at objects
    (too few photos, objects a cell wide, keys it does not trust) or nothing could be cut out."""
    from .tags import trust_of_auc

    scorer = stage.window_scorer(text, table)
    tagged_rows = table.rows_of_hashes(stage.store.tags.hashes_with([text]))
    if scorer is None or len(tagged_rows) < 3:
        return None
    boxes = {**stage.located_boxes(text, table), **stage.highlight_boxes([text], table, tagged_rows)}
    keyed = [r for r in tagged_rows if table.hashes[r] in boxes]
    keys, _ = _encode(encoder, [(table.paths[r][0], boxes[table.hashes[r]]) for r in keyed])
    if len(keys) < 3:
        return None
    odds = stage.instant_odds([text], table, tagged_rows)
    odds[tagged_rows] = -np.inf
    candidates = np.argsort(-odds)[: min(CROP_CANDIDATES, len(table) - len(tagged_rows))]
    sample = np.setdiff1d(stage.sample(table), np.concatenate([tagged_rows, candidates]))
    spread = np.linspace(0, len(sample) - 1, min(CROP_NEGATIVES, len(sample))).astype(int)
    negatives = sample[spread] if len(sample) else sample
    rows = np.concatenate([candidates, negatives]).astype(np.int64)
    grids = stage.store.grids.of(str(stage.model), [table.hashes[r] for r in rows])
    rows = np.array([r for r in rows if table.hashes[r] in grids], np.int64)
    if not len(rows):
        return None
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
    vectors, read = _encode(encoder, cuts)
    rows = rows[read]  # a photo that can no longer be read is left out
    is_negative = np.isin(rows, negatives)
    if not len(vectors):
        return None
    # Calibrated against the library sample's cut-outs; in a library small enough for every photo
    # to be a candidate, against all of them (mostly not the tag, as a library is).
    below = cache_affinity(keys, vectors[is_negative] if is_negative.any() else vectors, CROP_SHARPNESS)
    own = cache_affinity(keys, keys, CROP_SHARPNESS, own=True)
    middle, slope = calibration(own, below)
    trust = trust_of_auc(auc(own, below), len(own), len(below))
    hashes = tuple(table.hashes[r] for r in rows[~is_negative])
    return TagCrops(keys, hashes, vectors[~is_negative], slope, middle, CROP_WEIGHT * trust)


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
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of the cut-outs (path, box) that could be read, and which those were."""
    from .photos import thumbnail

    out, read = [], np.zeros(len(cuts), bool)
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
            out.append(np.asarray(encoder.encode_images(np.stack(pixels)), np.float32))
    return (np.concatenate(out) if out else np.zeros((0, 0), np.float32)), read


def save(folder: Path, crops: Mapping[str, TagCrops]) -> None:
    """Keep `crops` (tag text -> crops) in `folder` (a model version's)."""
    arrays: dict[str, np.ndarray] = {}
    index = []
    for i, (text, c) in enumerate(sorted(crops.items())):
        arrays[f"keys{i}"], arrays[f"vectors{i}"] = c.keys, c.vectors
        arrays[f"hashes{i}"] = np.array(c.hashes, dtype=str)
        index.append({"text": text, "slope": c.slope, "middle": c.middle, "weight": c.weight})
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
                    data[f"keys{i}"],
                    tuple(str(h) for h in data[f"hashes{i}"]),
                    data[f"vectors{i}"],
                    float(item["slope"]),
                    float(item["middle"]),
                    float(item["weight"]),
                )
                for i, item in enumerate(index)
            }
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        log.warning("tag crops in %s could not be read (%s): searches use the tags without them", folder, e)
        return {}
