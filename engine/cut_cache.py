"""The cut-outs closer looks encoded (engine/tag_crops.py), kept for the next look.

A look cuts about 250 photos at 13 places each and runs the image tower on every cut-out: at
ViT-B-32 sizes on a laptop CPU that is most of its 40 seconds. The next look at the same tag
(one more photo tagged, the tag renamed, `viewfinder train` after a look) cuts almost all of them
at the same places, since where a photo is cut follows from the window cache and the keys, which
one more tagged photo hardly moves. So each cut-out's looks (its pooled vector and its template)
are kept under its photo's content and its box, and a look encodes only those it has not seen.

One file per search model beside its close-ups, holding the MAX_ROWS cut-outs used last (about
100 MB at ViT-B-32 sizes: four or five tags' looks), as int8 codes with one scale per row. Every
cut-out a look uses goes through that rounding, whether it was just encoded or read back, so a
look ranks the same with or without the file. The file is a cache: written whole (npz.write),
ignored where it cannot be read or was written for other settings, and never needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import npz
from .int8 import quantise

MAX_ROWS = 20_000

Box = tuple[float, float, float, float]


def _key(photo_hash: str, box: Box) -> str:
    # Boxes are fractions of the photo; 1e-5 of a photo is far below a pixel of its decoded copy.
    return photo_hash + ":" + ",".join(f"{v:.5f}" for v in box)


def _rounded(look: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, scale = quantise(np.asarray(look, np.float32), axis=-1)
    return codes, scale.reshape(())


def _unit(codes: np.ndarray, scale: np.ndarray) -> np.ndarray:
    rows = codes * scale
    return (rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


class CutOutCache:
    """Cut-outs' looks by (photo content hash, box), read from the file at `path` (None: kept for
    this object's life only). `settings`: what else a cut-out depends on (its padding, the decoded
    size, the template's cells); a file written under other settings is not read."""

    def __init__(self, path: Path | None, settings: str):
        self.path = path
        self.settings = settings
        self.hits = self.misses = 0  # lookups that found a cut-out, and those that did not
        self._codes: list[np.ndarray] = []  # per look: (N, D) int8
        self._scales: list[np.ndarray] = []  # per look: (N,) float32
        self._keys: list[str] = []
        self._stamps = np.zeros(0, np.int64)  # the look that last used each row
        data = npz.read(path) if path is not None else None
        if data is not None and str(data.get("settings", "")) == settings:
            looks = int(data["looks"])
            self._codes = [data[f"codes{i}"] for i in range(looks)]
            self._scales = [data[f"scales{i}"] for i in range(looks)]
            self._keys = data["keys"].tolist()
            self._stamps = data["stamps"].astype(np.int64)
        self._row = {k: i for i, k in enumerate(self._keys)}
        self._now = int(self._stamps.max()) + 1 if len(self._stamps) else 1
        self._used: set[int] = set()
        self._added: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}

    def get(self, photo_hash: str, box: Box) -> list[np.ndarray] | None:
        """The looks of `photo_hash`'s cut-out at `box` (a unit row each), or None if not kept."""
        key = _key(photo_hash, box)
        if key in self._added:
            self.hits += 1
            return [_unit(codes, scale) for codes, scale in self._added[key]]
        row = self._row.get(key)
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        self._used.add(row)
        return [
            _unit(codes[row], scales[row]) for codes, scales in zip(self._codes, self._scales, strict=True)
        ]

    def put(self, photo_hash: str, box: Box, looks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Keep the looks (a row each) of a cut-out just encoded; returns them as `get` will."""
        kept = [_rounded(look) for look in looks]
        if self._codes and [c.shape[1] for c in self._codes] != [len(codes) for codes, _ in kept]:
            self._forget_read()  # another tower's: a file written before the model changed
        self._added[_key(photo_hash, box)] = kept
        return [_unit(codes, scale) for codes, scale in kept]

    def save(self) -> bool:
        """Write the rows used or added since this cache was read, and as many of the others as
        MAX_ROWS leaves room for (the most recently used first). False where not written."""
        if self.path is None or not (self._added or self._used):
            return False
        added = list(self._added.items())[-MAX_ROWS:]
        stamps = self._stamps.copy()
        stamps[list(self._used)] = self._now
        kept = np.argsort(-stamps, kind="stable")[: MAX_ROWS - len(added)]
        looks = len(added[0][1]) if added else len(self._codes)
        arrays: dict[str, np.ndarray] = {
            "settings": np.array(self.settings),
            "looks": np.array(looks),
            "keys": np.array([self._keys[i] for i in kept] + [key for key, _ in added], dtype=str),
            "stamps": np.concatenate([stamps[kept], np.full(len(added), self._now, np.int64)]),
        }
        for i in range(looks):
            codes = [self._codes[i][kept]] if self._codes else []
            scales = [self._scales[i][kept]] if self._codes else []
            if added:
                codes.append(np.stack([each[i][0] for _, each in added]))
                scales.append(np.stack([each[i][1] for _, each in added]))
            arrays[f"codes{i}"], arrays[f"scales{i}"] = np.concatenate(codes), np.concatenate(scales)
        return npz.write(self.path, arrays)

    def _forget_read(self) -> None:
        self._codes, self._scales, self._keys = [], [], []
        self._stamps = np.zeros(0, np.int64)
        self._row, self._used = {}, set()
