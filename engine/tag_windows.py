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


def box_key(grid: np.ndarray, box: Box | None) -> np.ndarray:
    """The unit mean of the grid's cells weighted by how much of each the box covers (fractions of
    the model's input); the whole grid without a box, or for a box outside it."""
    rows, cols, _ = grid.shape
    weights = np.ones((rows, cols))
    if box is not None:
        y, x = np.arange(rows + 1) / rows, np.arange(cols + 1) / cols
        over_y = np.clip(np.minimum(y[1:], box[3]) - np.maximum(y[:-1], box[1]), 0, None)
        over_x = np.clip(np.minimum(x[1:], box[2]) - np.maximum(x[:-1], box[0]), 0, None)
        if (over_y.sum() * over_x.sum()) > 0:
            weights = over_y[:, None] * over_x[None, :]
    return _unit((grid * weights[..., None]).sum((0, 1))).astype(np.float32)


def input_box(box: Box, size: tuple[int, int] | None) -> Box:
    """A box on the upright photo as fractions of the model's input, a centre square crop of the
    photo (CLIP's preprocessing; the whole photo when the size is unknown)."""
    if size is None:
        return box
    w, h = size
    side = min(w, h)
    x0, y0 = (w - side) / 2 / w, (h - side) / 2 / h
    sx, sy = side / w, side / h
    return (
        float(np.clip((box[0] - x0) / sx, 0, 1)),
        float(np.clip((box[1] - y0) / sy, 0, 1)),
        float(np.clip((box[2] - x0) / sx, 0, 1)),
        float(np.clip((box[3] - y0) / sy, 0, 1)),
    )


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


__all__ = ["best_window_affinity", "box_key", "input_box", "window_log_odds", "window_sides", "windows"]
