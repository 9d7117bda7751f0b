"""The window cache: a tag's tagged objects matched, cell by cell, against every part of a photo.

A photo's global vector mixes everything in it, and on the personal worlds it hardly tells Rex
from a decoy with Rex's colour, pattern and accent on another shape. The patch grid kept per photo
(engine/storage/grids.py) describes its parts, and where each part is: a shape is which cells of a
square its colour covers. Each tagged photo gives one key, a template: the region under its
highlight box resampled to 3 x 3 cells (each cell the area-weighted mean of the grid cells under it,
unit length). A photo's views are rectangles of the highlighted objects' sizes (as the grid sees
them: five scales from the smallest box to the largest, at the boxes' median aspect) at every
quarter of a cell, each resampled to 3 x 3 cells the same way; a view's similarity to a key is the
mean of its nine cells' cosines to the key's, so a diamond and a circle of the same colour and
pattern, which give the same mean, differ. A photo's affinity is Tip-Adapter's cache
(engine/tag_scoring.py) of the keys at its best view, calibrated like the other scorers (each tagged
photo's best view against the other keys -> +2, a sample of the library -> -2). Beside it, a
shape probe: a ridge over whole templates, the keys against the library sample's best views, which
weighs the cells and features that tell the tagged object from what merely resembles it; a third of
the window cache's log-odds. docs/personal-tags.md has the measurements.

Resampling is separable (rows, then columns), so views are never formed: each grid cell is
compared once with each key cell, and those cosines and the grid's own Gram matrix are summed over
the views' cover weights (`view_similarities`).

A tagged photo without a box is located (`locate`): its cells that find a match in most of the
other tagged photos, and not in the library, mark the object's core, and the view of it that best
matches the other tagged photos' keys becomes its box (twice, each time from the boxes before).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tag_scoring import Probe, auc, calibration, cross_fitted_probe, soft_max

# A key's side in cells; how many view sizes span the boxes' sizes; the views' step in cells.
TEMPLATE_CELLS = 3
VIEW_SCALES = 5
VIEW_STEP = 0.25
# The shape probe's share of the window cache's log-odds, and its ridge (fit_probe's shrinkage).
SHAPE_SHARE = 1 / 3
SHAPE_SHRINKAGE = 1.0
Box = tuple[float, float, float, float]
Size = tuple[float, float]  # a view's (height, width) in grid cells


def box_cover(box: Box, crop: Box, rows: int, cols: int) -> np.ndarray:
    """(rows, cols): the share of each cell of the model input's grid that `box` covers, 0..1. The
    box and the `crop` (the part of the photo the model sees) are fractions of the upright photo;
    what lies outside the crop is not seen. Training's highlight targets and the window cache's
    keys both read boxes this way."""
    u0, v0, u1, v1 = in_crop(box, crop)
    edges_x, edges_y = np.linspace(0, 1, cols + 1), np.linspace(0, 1, rows + 1)
    cover_x = np.clip(np.minimum(u1, edges_x[1:]) - np.maximum(u0, edges_x[:-1]), 0, None) * cols
    cover_y = np.clip(np.minimum(v1, edges_y[1:]) - np.maximum(v0, edges_y[:-1]), 0, None) * rows
    return np.outer(cover_y, cover_x).astype(np.float32)


def in_crop(box: Box, crop: Box) -> Box:
    """`box` (fractions of the upright photo) as fractions of the `crop`, clipped to it."""
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = crop
    u0, u1 = np.clip([(x0 - cx0) / (cx1 - cx0), (x1 - cx0) / (cx1 - cx0)], 0.0, 1.0)
    v0, v1 = np.clip([(y0 - cy0) / (cy1 - cy0), (y1 - cy0) / (cy1 - cy0)], 0.0, 1.0)
    return float(u0), float(v0), float(u1), float(v1)


def out_of_crop(box: Box, crop: Box) -> Box:
    """`box` in fractions of the `crop` as fractions of the whole photo (in_crop's inverse)."""
    x0, y0, x1, y1 = crop
    return (x0 + box[0] * (x1 - x0), y0 + box[1] * (y1 - y0), x0 + box[2] * (x1 - x0), y0 + box[3] * (y1 - y0))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def box_template(
    grid: np.ndarray, box: Box | None, crop: Box = (0.0, 0.0, 1.0, 1.0), cells: int = TEMPLATE_CELLS
) -> np.ndarray:
    """(cells, cells, D): the grid under `box` (its part inside the `crop`, see box_cover)
    resampled to cells x cells unit vectors, each the mean of the grid cells under its share of the
    box weighted by how much of each it covers; the whole grid without a box, or for a box outside
    what the model sees."""
    rows, cols, _ = grid.shape
    x0, y0, x1, y1 = crop
    if box is not None:
        x0, y0 = max(x0, box[0]), max(y0, box[1])
        x1, y1 = min(x1, box[2]), min(y1, box[3])
        if x0 >= x1 or y0 >= y1:
            x0, y0, x1, y1 = crop
    width, height = (x1 - x0) / cells, (y1 - y0) / cells
    out = np.empty((cells, cells, grid.shape[-1]), np.float32)
    for a in range(cells):
        for b in range(cells):
            part = (x0 + b * width, y0 + a * height, x0 + (b + 1) * width, y0 + (a + 1) * height)
            out[a, b] = (grid * box_cover(part, crop, rows, cols)[..., None]).sum((0, 1))
    return _unit(out)


def square_crop(size: tuple[int, int] | None) -> Box:
    """The part of a (width, height) photo the model sees, as fractions: its centre square (CLIP's
    preprocessing; the whole photo when the size is unknown)."""
    if size is None:
        return (0.0, 0.0, 1.0, 1.0)
    w, h = size
    side = min(w, h)
    return ((w - side) / 2 / w, (h - side) / 2 / h, (w + side) / 2 / w, (h + side) / 2 / h)


def _starts(length: float, cells: int, step: float) -> np.ndarray:
    """Where spans of `length` grid cells start: every `step` cells, as long as they fit."""
    return np.arange(0.0, cells - length + 1e-6, step)


def spans(length: float, cells: int, parts: int, step: float = VIEW_STEP) -> np.ndarray:
    """(P, parts, cells): for a span of `length` grid cells starting every `step` cells (as long as
    it fits), how much of each grid cell each of its `parts` equal parts covers."""
    starts = _starts(length, cells, step)
    low = starts[:, None] + np.arange(parts)[None, :] * (length / parts)
    edges = np.arange(cells + 1)
    cover = np.minimum(low[..., None] + length / parts, edges[1:]) - np.maximum(low[..., None], edges[:-1])
    return np.clip(cover, 0.0, None).astype(np.float32)


def view_sizes(boxes: list[tuple[Box, Box]], rows: int, cols: int, scales: int = VIEW_SCALES) -> list[Size]:
    """The views' (height, width) in cells of a rows x cols grid, from the tagged photos' (box, crop)
    pairs: `scales` sizes from the smallest box's area to the largest's (geometric steps), each at
    the boxes' median aspect, so that the views look for the object at the sizes and shape the
    user highlighted it (on the personal worlds, views of fixed squares lost most of their gain on
    wide objects). The whole grid when no box is inside its crop."""
    sides = []
    for box, crop in boxes:
        u0, v0, u1, v1 = in_crop(box, crop)
        if u1 > u0 and v1 > v0:
            sides.append(((v1 - v0) * rows, (u1 - u0) * cols))
    if not sides:
        return [(float(rows), float(cols))]
    heights, widths = np.array(sides).T
    stretch = float(np.sqrt(np.median(heights / widths)))  # height = scale * stretch, width = scale / stretch
    areas = np.sqrt(heights * widths)
    out: list[Size] = []
    for scale in np.geomspace(areas.min(), areas.max(), scales):
        size = (float(np.clip(scale * stretch, 1.0, rows)), float(np.clip(scale / stretch, 1.0, cols)))
        if size not in out:
            out.append(size)
    return out


def view_similarities(
    grids: np.ndarray, keys: np.ndarray, sizes: list[Size], step: float = VIEW_STEP
) -> np.ndarray:
    """(N, rows, cols, D) grids and (K, s, s, D) templates (box_template) -> (N, V, K): for each
    view of each grid (every rectangle of `sizes` at every `step` cells, resampled to s x s
    cells like a template), the mean over the s x s cells of the cosine between its cell and the
    key's.

    A view's cell (a, b) is sum_rc y[r] x[c] grid[r, c] for the cover weights y (rows) and x
    (columns) of its share of the view; its dot with a key cell is the same sum over the grid
    cells' dots with that key cell, and its squared norm sum_rc,te y[r] x[c] y[t] x[e] gram[rc, te]."""
    n, rows, cols, dim = grids.shape
    k, s = keys.shape[:2]
    # dots[a, b, n, r, c, k]: each grid cell (r, c) against each key's cell (a, b).
    dots = grids.reshape(-1, dim) @ keys.transpose(3, 1, 2, 0).reshape(dim, -1)
    dots = np.ascontiguousarray(dots.reshape(n, rows, cols, s, s, k).transpose(3, 4, 0, 1, 2, 5))
    # gram[n, r * t, c * e]: the dot of cells (r, c) and (t, e).
    flat = grids.reshape(n, rows * cols, dim)
    gram = np.matmul(flat, flat.transpose(0, 2, 1)).reshape(n, rows, cols, rows, cols)
    gram = gram.transpose(0, 1, 3, 2, 4).reshape(n, rows * rows, cols * cols)
    out = []
    for height, width in sizes:
        across = spans(width, cols, s, step)  # (X, s, cols)
        down = spans(height, rows, s, step)  # (Y, s, rows)
        wide, high = len(across), len(down)
        total = np.zeros((n, high, wide * k), np.float32)
        for b in range(s):
            x = across[:, b]
            # The squared norms' column sums: (n, rows * rows, X).
            gram_x = gram @ (x[:, :, None] * x[:, None, :]).reshape(wide, cols * cols).T
            for a in range(s):
                y = down[:, a]
                dot = y @ np.matmul(x, dots[a, b]).reshape(n, rows, wide * k)  # (n, Y, X * k)
                squared = (y[:, :, None] * y[:, None, :]).reshape(high, rows * rows) @ gram_x  # (n, Y, X)
                dot.reshape(n, high, wide, k)[...] /= np.sqrt(np.maximum(squared, 1e-12))[..., None]
                total += dot
        out.append(total.reshape(n, -1, k) / (s * s))
    return np.concatenate(out, axis=1)


def view_boxes(sizes: list[Size], rows: int, cols: int, step: float = VIEW_STEP) -> np.ndarray:
    """(V, 4): each view of view_similarities, in its order, as a box in fractions of the grid."""
    out = []
    for height, width in sizes:
        top, left = np.meshgrid(_starts(height, rows, step), _starts(width, cols, step), indexing="ij")
        top, left = top.ravel(), left.ravel()
        out.append(np.stack([left / cols, top / rows, (left + width) / cols, (top + height) / rows], axis=1))
    return np.concatenate(out)


# Locating a tagged object the user drew no box around: a cell's match is its best cosine with any
# cell of a photo, taken at this percentile over the other tagged photos (the object is in all of
# them, a generic object beside it in few) less the same over library photos; the core is the
# connected cells around the best one that reach half way from the median to the best, grown by
# half a cell on every side (cells are mixtures: the core misses the object's edges); then
# LOCATE_ROUNDS times, each photo's box becomes its best view against the other photos' keys.
# Chosen on the personal worlds, seeds 101-103 (docs/personal-tags.md).
LOCATE_PERCENTILE = 25.0
LOCATE_CORE = 0.5
LOCATE_GROW = 0.5
LOCATE_ROUNDS = 2


def cell_contrast(
    tagged: np.ndarray,
    negatives: np.ndarray,
    which: list[int] | None = None,
    percentile: float = LOCATE_PERCENTILE,
) -> np.ndarray:
    """(n, rows, cols, D) grids of the tagged photos and (m, rows, cols, D) of library photos ->
    (len(which), rows, cols) for the tagged photos at `which` (default: all): how much better each
    cell finds a match in the other tagged photos than in the library photos (see
    LOCATE_PERCENTILE)."""
    n, rows, cols, dim = tagged.shape
    which = list(range(n)) if which is None else which
    cells = _unit(tagged.reshape(n, rows * cols, dim))
    others = _unit(negatives.reshape(len(negatives), -1, dim))
    out = np.empty((len(which), rows * cols), np.float32)
    for j, i in enumerate(which):
        tagged_match = np.delete(np.matmul(cells, cells[i].T).max(axis=1), i, axis=0)
        library_match = np.matmul(others, cells[i].T).max(axis=1)
        out[j] = np.percentile(tagged_match, percentile, axis=0) - np.percentile(library_match, percentile, axis=0)
    return out.reshape(len(which), rows, cols)


def core_box(contrast: np.ndarray, core: float = LOCATE_CORE, grow: float = LOCATE_GROW) -> Box:
    """The box, in fractions of the grid, around the connected cells of a (rows, cols) contrast map
    (cell_contrast) that reach `core` of the way from its median to its best cell, grown by `grow`
    cells on every side."""
    rows, cols = contrast.shape
    low, high = float(np.median(contrast)), float(contrast.max())
    strong = contrast >= low + core * (high - low)
    found = np.zeros_like(strong)
    todo = [np.unravel_index(int(np.argmax(contrast)), contrast.shape)]
    while todo:
        r, c = todo.pop()
        if 0 <= r < rows and 0 <= c < cols and strong[r, c] and not found[r, c]:
            found[r, c] = True
            todo += [(r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)]
    ys, xs = np.nonzero(found)
    return (
        max(0.0, xs.min() - grow) / cols,
        max(0.0, ys.min() - grow) / rows,
        min(float(cols), xs.max() + 1 + grow) / cols,
        min(float(rows), ys.max() + 1 + grow) / rows,
    )


def locate(
    tagged: np.ndarray,
    boxes: list[Box | None],
    negatives: np.ndarray,
    sharpness: float = 200.0,
    step: float = VIEW_STEP,
    rounds: int = LOCATE_ROUNDS,
) -> list[Box]:
    """Boxes, in fractions of the grid, for the (n, rows, cols, D) tagged grids: `boxes` where given
    (the user's, which stay as they are), located where None (see LOCATE_PERCENTILE); `negatives`
    are library photos' grids."""
    missing = [i for i, box in enumerate(boxes) if box is None]
    out: list[Box] = [box if box is not None else (0.0, 0.0, 1.0, 1.0) for box in boxes]
    if not missing or len(boxes) < 2:
        return out
    rows, cols = tagged.shape[1:3]
    for i, contrast in zip(missing, cell_contrast(tagged, negatives, missing), strict=True):
        out[i] = core_box(contrast)
    whole = (0.0, 0.0, 1.0, 1.0)
    for _ in range(rounds):
        keys = np.stack([box_template(grid, box) for grid, box in zip(tagged, out, strict=True)])
        sizes = view_sizes([(box, whole) for box in out], rows, cols)
        logits = sharpness * (view_similarities(tagged[missing], keys, sizes, step) - 1.0)
        logits[np.arange(len(missing)), :, missing] = -np.inf  # each photo leaves its own key out
        views = view_boxes(sizes, rows, cols, step)
        for i, best in zip(missing, soft_max(logits).argmax(axis=1), strict=True):
            x0, y0, x1, y1 = (float(v) for v in views[best])
            out[i] = (x0, y0, x1, y1)
    return out


# The tag query's memory is bounded by forming the similarities of at most this many (photo, view,
# key) triples at once (ViT-B-32, 30 keys: 1689 views a photo, 78 photos at a time, about 40 MB
# at the peak), whatever the number of candidates.
CHUNK_VALUES = 4_000_000


def best_views(
    keys: np.ndarray,
    grids: np.ndarray,
    sizes: list[Size],
    sharpness: float,
    step: float = VIEW_STEP,
    *,
    own: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, rows, cols, D) grids -> (N,) cache affinity of the (K, s, s, D) keys at each grid's best
    view (of `sizes`), and (N,) which view that is (a row of view_boxes). own: the grids are the
    keys' own photos, in order, and each leaves its own key out."""
    rows, cols = grids.shape[1:3]
    views = sum(len(spans(width, cols, 1, step)) * len(spans(height, rows, 1, step)) for height, width in sizes)
    chunk = max(1, CHUNK_VALUES // max(1, views * len(keys)))
    affinity, best = np.zeros(len(grids), np.float32), np.zeros(len(grids), np.int64)
    for start in range(0, len(grids), chunk):
        logits = sharpness * (view_similarities(grids[start : start + chunk], keys, sizes, step) - 1.0)
        if own and len(keys) > 1:
            index = np.arange(len(logits))
            logits[index, :, start + index] = -np.inf
        affinity[start : start + len(logits)], best[start : start + len(logits)] = best_soft_max(logits)
    return affinity, best


def best_soft_max(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, V, K) logits -> (N,) the largest over V of the soft maximum over K (soft_max), and the
    view it is at, computed only for the views that can be it: a view's soft maximum lies within
    log K below its largest logit, so a view whose largest logit is more than log K below another
    view's cannot win (at sharpness 200 that leaves out most views)."""
    top = logits.max(axis=2)
    contenders = top >= top.max(axis=1, keepdims=True) - np.log(logits.shape[2])
    affinity = np.full(top.shape, -np.inf, np.float32)
    affinity[contenders] = soft_max(logits[contenders])
    return affinity.max(axis=1), affinity.argmax(axis=1)


def view_templates(grids: np.ndarray, views: np.ndarray, sizes: list[Size], step: float = VIEW_STEP) -> np.ndarray:
    """(N, rows, cols, D) grids and (N,) views (rows of view_boxes) -> (N, s * s * D): each grid's
    view resampled to s x s unit cells as box_template resamples a box, flattened."""
    n, rows, cols, _ = grids.shape
    s = TEMPLATE_CELLS
    down, across = np.zeros((n, s, rows), np.float32), np.zeros((n, s, cols), np.float32)
    first = 0
    for height, width in sizes:  # view_boxes' order: each size's views, row by row
        size_down, size_across = spans(height, rows, s, step), spans(width, cols, s, step)
        inside = (views >= first) & (views < first + len(size_down) * len(size_across))
        top, left = np.divmod(views[inside] - first, len(size_across))
        down[inside], across[inside] = size_down[top], size_across[left]
        first += len(size_down) * len(size_across)
    cells = np.einsum("nar,nbc,nrcd->nabd", down, across, grids, optimize=True)
    return _unit(cells).reshape(n, -1)


@dataclass(frozen=True)
class WindowScorer:
    """One tag's window cache, fitted: its keys (box_template, one per tagged photo), the views'
    sizes (view_sizes) and the calibration that maps a grid's best-view affinity to log-odds (each
    tagged photo's best view against the other keys -> +2, a library sample's -> -2); auc: how
    well those affinities tell the tagged photos from the library sample (0.5: not at all).

    shape: a probe over templates (cross_fitted_probe: the keys against the library sample's
    best views), which learns which cells and features tell the tagged object from what is
    merely like it (a decoy of its colour and pattern on another shape matches most of its nine
    cells); its log-odds are shape_share of the cache's (None: the affinity alone)."""

    keys: np.ndarray
    sizes: list[Size]
    sharpness: float
    step: float
    middle: float
    slope: float
    auc: float
    shape: Probe | None = None
    shape_share: float = 0.0

    @classmethod
    def fit(
        cls,
        keys: np.ndarray,
        tagged_grids: np.ndarray,
        negatives: np.ndarray,
        sizes: list[Size],
        sharpness: float = 200.0,
        step: float = VIEW_STEP,
        shape_share: float = SHAPE_SHARE,
        shrinkage: float = SHAPE_SHRINKAGE,
    ) -> WindowScorer:
        """`tagged_grids`: the keys' photos' grids, in the keys' order; `negatives`: a sample of the
        library's grids."""
        own, _ = best_views(keys, tagged_grids, sizes, sharpness, step, own=True)
        library, views = best_views(keys, negatives, sizes, sharpness, step)
        middle, slope = calibration(own, library)
        shape = None
        if shape_share > 0 and len(keys) >= 2 and len(negatives) >= 2:
            templates = view_templates(negatives, views, sizes, step)
            shape = cross_fitted_probe(keys.reshape(len(keys), -1), templates, shrinkage)
        return cls(keys, sizes, sharpness, step, middle, slope, auc(own, library), shape, shape_share)

    def log_odds(self, grids: np.ndarray) -> np.ndarray:
        """Calibrated log-odds that each grid holds what the keys show in one of its views."""
        affinity, views = best_views(self.keys, grids, self.sizes, self.sharpness, self.step)
        odds = self.slope * (affinity - self.middle)
        if self.shape is not None:
            shape = self.shape.slope * self.shape.logits(view_templates(grids, views, self.sizes, self.step))
            odds = (1.0 - self.shape_share) * odds + self.shape_share * shape
        return odds.astype(np.float32)


def view_map(scorer: WindowScorer, grid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(rows, cols) `shape` map over the photo of the (r, c, D) patch `grid`: at each cell, the
    probability that the tag's object is in the photo and covers the cell's centre. Which view
    holds the object is a softmax of the views' calibrated log-odds, and it is there with the best
    view's probability (the sigmoid of its log-odds). Where the object is, for the heatmap of its
    name; the cells most views of it share, its middle, come out highest."""
    rows, cols = grid.shape[:2]
    logits = scorer.sharpness * (view_similarities(grid[None], scorer.keys, scorer.sizes, scorer.step)[0] - 1.0)
    odds = scorer.slope * (soft_max(logits) - scorer.middle)  # (V,)
    boxes = view_boxes(scorer.sizes, rows, cols, scorer.step)
    ys, xs = (np.arange(shape[0]) + 0.5) / shape[0], (np.arange(shape[1]) + 0.5) / shape[1]
    down = (boxes[:, 1, None] <= ys) & (ys <= boxes[:, 3, None])  # (V, shape rows)
    across = (boxes[:, 0, None] <= xs) & (xs <= boxes[:, 2, None])
    where = np.exp(odds - odds.max())
    covered = np.einsum("v,vr,vc->rc", where / where.sum(), down, across)
    return (covered / (1.0 + np.exp(-odds.max()))).astype(np.float32)


__all__ = [
    "WindowScorer",
    "best_soft_max",
    "best_views",
    "box_cover",
    "box_template",
    "cell_contrast",
    "core_box",
    "in_crop",
    "locate",
    "out_of_crop",
    "spans",
    "square_crop",
    "view_boxes",
    "view_map",
    "view_similarities",
    "view_templates",
    "view_sizes",
]
