"""The window cache: a tag's tagged objects matched against every part of a photo, not its whole.

A photo's global vector mixes everything in it, and on the personal worlds it hardly tells Rex
from a decoy with Rex's colour and shape in another pattern. The patch grid kept per photo
(engine/storage/grids.py) describes its parts. Each tagged photo gives one key: the mean of its grid
cells under the highlight box (weighted by how much of each cell the box covers; the whole grid
without a box). A photo's windows are the means of every square of cells of a quarter, three
eighths and half the grid's side (2, 3 and 4 cells of an 8 x 8 grid). Its window affinity is
Tip-Adapter's cache (engine/tag_scoring.py cache_affinity) of the keys at its best window, calibrated
like the other scorers (each tagged photo's best window against the other keys -> +2, a sample of
the library -> -2). docs/personal-tags.md has the measurements.
"""

from __future__ import annotations

import numpy as np

from .tag_scoring import _calibration, cache_affinity

# Window sides as shares of the grid's side.
WINDOW_SHARES = (0.25, 0.375, 0.5)
Box = tuple[float, float, float, float]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def window_sides(rows: int, cols: int) -> list[int]:
    side = min(rows, cols)
    return sorted({max(1, min(side, round(share * side))) for share in WINDOW_SHARES})


def windows(grids: np.ndarray) -> np.ndarray:
    """(N, rows, cols, D) grids -> (N, W, D) unit means of every square window of `window_sides`
    cells (a single (rows, cols, D) grid -> (W, D))."""
    if grids.ndim == 3:
        return windows(grids[None])[0]
    n, rows, cols, dim = grids.shape
    # Summed-area table: each window's sum from four corners.
    table = np.zeros((n, rows + 1, cols + 1, dim), np.float32)
    table[:, 1:, 1:] = grids.cumsum(1).cumsum(2)
    out = []
    for s in window_sides(rows, cols):
        sums = table[:, s:, s:] - table[:, :-s, s:] - table[:, s:, :-s] + table[:, :-s, :-s]
        out.append(sums.reshape(n, -1, dim))
    return _unit(np.concatenate(out, axis=1)).astype(np.float32, copy=False)


def box_cover(box: Box, crop: Box, rows: int, cols: int) -> np.ndarray:
    """(rows, cols): the share of each cell of the model input's grid that `box` covers, 0..1. The
    box and the `crop` (the part of the photo the model sees) are fractions of the upright photo;
    what lies outside the crop is not seen. Training's highlight targets and the window cache's
    keys both read boxes this way."""
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = crop
    u0, u1 = np.clip([(x0 - cx0) / (cx1 - cx0), (x1 - cx0) / (cx1 - cx0)], 0.0, 1.0)
    v0, v1 = np.clip([(y0 - cy0) / (cy1 - cy0), (y1 - cy0) / (cy1 - cy0)], 0.0, 1.0)
    edges_x, edges_y = np.linspace(0, 1, cols + 1), np.linspace(0, 1, rows + 1)
    cover_x = np.clip(np.minimum(u1, edges_x[1:]) - np.maximum(u0, edges_x[:-1]), 0, None) * cols
    cover_y = np.clip(np.minimum(v1, edges_y[1:]) - np.maximum(v0, edges_y[:-1]), 0, None) * rows
    return np.outer(cover_y, cover_x).astype(np.float32)


def box_key(grid: np.ndarray, box: Box | None, crop: Box = (0.0, 0.0, 1.0, 1.0)) -> np.ndarray:
    """The unit mean of the grid's cells weighted by how much of each the box covers (box_cover);
    the whole grid without a box, or for a box outside what the model sees."""
    rows, cols, _ = grid.shape
    weights = np.ones((rows, cols), np.float32)
    if box is not None:
        cover = box_cover(box, crop, rows, cols)
        if cover.sum() > 0:
            weights = cover
    return _unit((grid * weights[..., None]).sum((0, 1))).astype(np.float32)


def square_crop(size: tuple[int, int] | None) -> Box:
    """The part of a (width, height) photo the model sees, as fractions: its centre square (CLIP's
    preprocessing; the whole photo when the size is unknown)."""
    if size is None:
        return (0.0, 0.0, 1.0, 1.0)
    w, h = size
    side = min(w, h)
    return ((w - side) / 2 / w, (h - side) / 2 / h, (w + side) / 2 / w, (h + side) / 2 / h)


# Photos whose windows are formed at once: bounds the memory of a tag query (ViT-B-32: 64 photos x
# 77 windows x 512 floats, 10 MB) whatever the number of candidates.
CHUNK = 64


def best_window_affinity(keys: np.ndarray, grids: np.ndarray, sharpness: float) -> np.ndarray:
    """(N, rows, cols, D) grids -> (N,) cache affinity of the keys at each photo's best window."""
    out = np.zeros(len(grids), np.float32)
    for start in range(0, len(grids), CHUNK):
        chunk = windows(grids[start : start + CHUNK])
        n, w, d = chunk.shape
        affinity = cache_affinity(keys, chunk.reshape(n * w, d), sharpness)
        out[start : start + n] = affinity.reshape(n, w).max(axis=1)
    return out


def window_log_odds(
    keys: np.ndarray,
    tagged_grids: np.ndarray,
    negatives: np.ndarray,
    candidates: np.ndarray,
    sharpness: float = 30.0,
) -> np.ndarray:
    """Calibrated log-odds that each candidate grid holds what the keys (one per tagged photo, from
    `tagged_grids`) show: each tagged photo's best window against the other keys maps to +2, the
    negatives' (a library sample's grids) to -2."""
    if len(keys) > 1:
        own = np.array(
            [
                best_window_affinity(np.delete(keys, i, 0), tagged_grids[i : i + 1], sharpness)[0]
                for i in range(len(keys))
            ]
        )
    else:
        own = best_window_affinity(keys, tagged_grids, sharpness)
    middle, slope = _calibration(own, best_window_affinity(keys, negatives, sharpness))
    return (slope * (best_window_affinity(keys, candidates, sharpness) - middle)).astype(np.float32)


__all__ = ["best_window_affinity", "box_cover", "box_key", "square_crop", "window_log_odds", "window_sides", "windows"]
