"""Training data from the library: tagged photos, their texts and highlight maps, a held-out split,
and the features the loop trains on.

Coordinates: a highlight box is in fractions of the *upright* photo, but the model sees a centre
crop of it (shorter side resized, then cropped square for the usual "shortest" resize mode). Boxes
and brush masks are mapped into that crop before they become a target over the patch grid; the
part of a highlight outside the crop is simply not seen by the model.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from engine.encoder import Encoder
from engine.errors import PhotoError, ViewfinderError
from engine.photos import open_image
from engine.storage import Store
from engine.tag_windows import box_cover
from engine.tags import Highlight, list_tags

log = logging.getLogger(__name__)

# Below three photos nothing can be learnt and checked: one to learn from is a prototype, and the
# held-out check needs photos to hold out. One tag (a name on many photos) is enough.
MIN_TAGGED_PHOTOS = 3


class NotEnoughTags(ViewfinderError):
    """Training needs more tagged photos than the library has."""

    def __init__(self, photos: int, need_photos: int):
        super().__init__(
            f"Training needs at least {need_photos} tagged photos; the library has {photos}."
            " Tag more photos with `viewfinder tag TEXT --photos PHOTO...`."
        )
        self.photos, self.need_photos = photos, need_photos


@dataclass(frozen=True)
class TaggedPhoto:
    """One photo (by content) with all its tag texts and their highlights."""

    hash: str
    path: str  # one current path of the content
    size: tuple[int, int] | None  # upright (width, height), when known
    texts: tuple[str, ...]
    highlights: tuple[tuple[str, Highlight], ...] = ()  # (tag text, highlight)


def load_tagged_photos(store: Store) -> list[TaggedPhoto]:
    """Every tagged photo still in the library, ordered by content hash (deterministic)."""
    by_hash: dict[str, dict] = {}
    for tag in list_tags(store):
        entry = by_hash.setdefault(tag.hash, {"path": tag.paths[0], "texts": [], "highlights": []})
        entry["texts"].append(tag.text)
        entry["highlights"] += [(tag.text, h) for h in tag.highlights]
    sizes = store.photos.sizes_by_hash(by_hash)
    return [
        TaggedPhoto(h, e["path"], sizes.get(h), tuple(sorted(set(e["texts"]))), tuple(e["highlights"]))
        for h, e in sorted(by_hash.items())
    ]


def check_enough(photos: Sequence[TaggedPhoto], min_photos: int = MIN_TAGGED_PHOTOS) -> None:
    """Raise NotEnoughTags unless there are at least `min_photos` tagged photos."""
    if len(photos) < max(min_photos, MIN_TAGGED_PHOTOS):
        raise NotEnoughTags(len(photos), max(min_photos, MIN_TAGGED_PHOTOS))


def fold_photos(photos: Sequence[TaggedPhoto], folds: int, seed: int = 0) -> list[list[TaggedPhoto]]:
    """Cross-validation folds: each fold is a set of photos to hold out (train on the rest).

    Every tag with two photos or more is spread over the folds, so each of its photos is held out
    once and every fold still trains on some of it; a photo carrying a tag that has only one photo
    is never held out (that tag could not be learnt without it). Rarest tags are placed first.
    """
    rng = np.random.default_rng(seed)
    order = [photos[i] for i in rng.permutation(len(photos))]
    counts: dict[str, int] = {}
    for p in photos:
        for t in p.texts:
            counts[t] = counts.get(t, 0) + 1
    fold_of: dict[str, int] = {}
    for p in photos:
        if any(counts[t] < 2 for t in p.texts):
            fold_of[p.hash] = -1
    for text in sorted(counts, key=lambda t: (counts[t], t)):
        members = [p for p in order if text in p.texts]
        load = [sum(1 for p in members if fold_of.get(p.hash) == f) for f in range(folds)]
        for p in members:
            if p.hash not in fold_of:
                f = int(np.argmin(load))
                fold_of[p.hash] = f
                load[f] += 1
    return [
        [p for p in photos if fold_of[p.hash] == f]
        for f in range(folds)
        if any(fold_of[p.hash] == f for p in photos)
    ]


# -- highlight maps ----------------------------------------------------------------------------


def highlight_grid(
    highlight: Highlight, crop: tuple[float, float, float, float], grid: tuple[int, int]
) -> np.ndarray:
    """The highlight as a (rows * cols,) target over the model's patch grid, values in [0, 1]:
    the share of each patch covered by the box (or the mean of the brush mask over the patch)."""
    rows, cols = grid
    cx0, cy0, cx1, cy1 = crop
    if highlight.mask is not None:
        mask = Image.open(io.BytesIO(highlight.mask)).convert("L")
        mw, mh = mask.size
        region = mask.resize((cols, rows), Image.Resampling.BOX, box=(cx0 * mw, cy0 * mh, cx1 * mw, cy1 * mh))
        return (np.asarray(region, np.float32) / 255.0).reshape(-1)
    assert highlight.box is not None
    return box_cover(highlight.box, crop, rows, cols).reshape(-1)


def phrase_positions(encoder: Encoder, ids: torch.Tensor, phrase: str) -> list[int]:
    """Positions in one tokenised text (1-D ids, start token included) of `phrase`'s tokens.

    CLIP's BPE encodes each word on its own, so the phrase's tokens appear verbatim in the text's.
    """
    wanted = encoder.tokenizer.encode(phrase)
    row = ids.tolist()
    for start in range(len(row) - len(wanted) + 1):
        if wanted and row[start : start + len(wanted)] == wanted:
            return list(range(start, start + len(wanted)))
    return []


# -- features ----------------------------------------------------------------------------------


def load_pixels(encoder: Encoder, paths: Sequence[str]) -> tuple[torch.Tensor, list[int]]:
    """Preprocessed model inputs (N, 3, H, W) of the photos that could be read, and their indices."""
    tensors, ok = [], []
    for i, path in enumerate(paths):
        try:
            image, _ = open_image(path, min_size=encoder.image_size)
        except PhotoError as e:
            log.warning("skipping %s for training: %s", path, e.reason)
            continue
        tensors.append(encoder.preprocess_image(image))
        ok.append(i)
    if not tensors:
        h, w = encoder.image_size
        return torch.zeros((0, 3, h, w)), ok
    return torch.stack(tensors), ok


def stored_vectors(store: Store, model: str) -> tuple[list[str], np.ndarray]:
    """(content hashes, (N, D) vectors) of every photo in the library with a vector of `model`."""
    return store.vectors.present(model)


def photo_paths(store: Store, hashes: Sequence[str]) -> dict[str, str]:
    """One current path per content hash (readable photos only)."""
    return {h: paths[0] for h, paths in store.photos.paths_by_hash(hashes, readable_only=True).items()}


def sample_hashes(store: Store, exclude: set[str], limit: int, seed: int = 0) -> list[str]:
    """Up to `limit` content hashes of readable, hashed photos not in `exclude`, a fixed sample."""
    rows = [h for h in store.photos.readable_hashes() if h not in exclude]
    if len(rows) <= limit:
        return rows
    pick = np.random.default_rng(seed).choice(len(rows), size=limit, replace=False)
    return [rows[i] for i in sorted(pick)]
