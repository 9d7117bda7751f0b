"""A perceptual hash: 64 bits that stay nearly the same when a photo is resized, re-encoded or
lightly edited, and differ in about half their bits between unrelated photos.

The photo is reduced to 32x32 grey levels; the bits say whether each of the 8x8 lowest-frequency
2-D DCT coefficients is above their median (the pHash of Zauner's thesis, also imagehash's `phash`).
Low frequencies carry the layout of light and dark, which copies keep and different photos of the
same place do not. Hashes are stored as signed 64-bit integers, as SQLite holds them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

BITS = 64
_SIDE = 32
_KEEP = 8


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT = _dct_matrix(_SIDE)
_WEIGHTS = 1 << np.arange(BITS, dtype=np.uint64)


def perceptual_hash(image: Image.Image) -> int:
    """The 64-bit pHash of an image, as a signed integer."""
    grey = image.convert("L").resize((_SIDE, _SIDE), Image.Resampling.BOX)
    pixels = np.asarray(grey, dtype=np.float64)
    low = (_DCT @ pixels @ _DCT.T)[:_KEEP, :_KEEP].reshape(-1)
    bits = (low > np.median(low)).astype(np.uint64)
    return int(np.int64(np.sum(bits * _WEIGHTS, dtype=np.uint64)))


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise distance between arrays of hashes (int64), element by element."""
    x = np.bitwise_xor(
        np.asarray(a, dtype=np.int64).view(np.uint64), np.asarray(b, dtype=np.int64).view(np.uint64)
    )
    return np.bitwise_count(x).astype(np.int64)


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - hamming / 64: 1 for identical hashes, about 0.5 for unrelated photos."""
    return 1.0 - hamming(a, b) / BITS
