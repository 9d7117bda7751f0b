"""A justified photo layout, as the best photo apps lay out their grids (no Qt here).

Photos keep their own aspect ratio and sit in rows of one height; each row is scaled down until it
fills the width exactly, so there is no gutter. A section (the photos of one month, the weaker
results) starts on a new row under its header, and its last row keeps the target height instead
of being stretched over the whole width.

Rows are broken greedily from the running sum of the photos' widths at the target height (one
bisection per row); everything else is array arithmetic, so laying out 100,000 photos takes a few
tens of milliseconds and only the rows in view are ever painted (`items_between`).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_ASPECT, MAX_ASPECT = 0.25, 4.0  # a panorama or a strip still gets a usable cell


@dataclass(frozen=True)
class Section:
    """Items start..end (exclusive) under a header `title` ("" for none). kind: "date" (a month),
    "weaker" (the results below the search's cut) or "plain"."""

    title: str
    start: int
    end: int
    kind: str = "plain"


@dataclass(frozen=True)
class Header:
    y: int
    height: int
    section: Section


@dataclass(frozen=True)
class Metrics:
    width: int  # of the area to fill, margins included
    row_height: int  # the target: rows are never taller
    spacing: int = 4
    margin: int = 8
    header_height: int = 40
    footer_height: int = 0  # room left below the last row (the "Show weaker results" button)


class JustifiedLayout:
    """Where every item goes: `rect(i)` -> (x, y, width, height) in content coordinates."""

    def __init__(
        self,
        aspects: Sequence[float],
        sections: Sequence[Section],
        metrics: Metrics,
        heights: Sequence[float] | None = None,
    ):
        """`heights`: each photo's own height in pixels (0 when unknown): a photo smaller than its
        row is shown at its own size, centred in the row, and a row of small photos is lower."""
        self.metrics = metrics
        n = len(aspects)
        self._x = np.zeros(n, np.int32)
        self._y = np.zeros(n, np.int32)
        self._w = np.zeros(n, np.int32)
        self._h = np.zeros(n, np.int32)
        self.headers: list[Header] = []
        self._row_top: list[int] = []  # every row's top, ascending
        self._row_bottom: list[int] = []
        self._row_first: list[int] = []  # the first item of each row
        ratio = np.clip(np.asarray(aspects, np.float64), MIN_ASPECT, MAX_ASPECT) if n else np.zeros(0)
        own = np.asarray(heights, np.float64) if heights is not None and n else np.zeros(n)
        self._own = np.where(own > 0, own, np.inf)
        y = metrics.margin
        for section in sections:
            if section.title:
                self.headers.append(Header(y, metrics.header_height, section))
                y += metrics.header_height
            if section.end > section.start:
                y = self._lay_section(ratio, section.start, section.end, y) + metrics.spacing
        self.footer_y = y
        self.height = y + metrics.footer_height + metrics.margin

    def __len__(self) -> int:
        return len(self._x)

    # -- building ----------------------------------------------------------------------------

    def _lay_section(self, ratio: np.ndarray, start: int, end: int, top: int) -> int:
        """Lay items start..end out in rows from `top`; returns the bottom of the last row."""
        m = self.metrics
        inner = max(1, m.width - 2 * m.margin)
        target = m.row_height
        a = ratio[start:end]
        own = self._own[start:end]
        count = len(a)
        # Each photo's width at the target height (a small photo: at its own height), with its gap;
        # a row starting at item i ends with the first item that makes it reach the width (the gap
        # after its last item excluded). Found for every i at once; the rows then follow the chain.
        reach = np.cumsum(a * np.minimum(own, target) + m.spacing)
        done = np.concatenate(([0.0], reach[:-1]))
        after = (np.searchsorted(reach, done + inner + m.spacing) + 1).tolist()
        starts: list[int] = []
        first = 0
        while first < count:
            starts.append(first)
            first = after[first]
        firsts = np.array(starts, np.int64)
        ends = np.array(starts[1:] + [count], np.int64)
        fills = np.array([after[f] <= count for f in starts], bool)
        counts = ends - firsts
        sums = np.add.reduceat(a, firsts)
        heights = np.where(fills, (inner - m.spacing * (counts - 1)) / sums, float(target))
        heights = np.minimum(heights, float(target))
        row = np.repeat(np.arange(len(starts)), counts)
        # Rows holding a photo smaller than the row: worked out one by one below (rare in a real
        # library, where photos are far larger than thumbnails).
        small = np.zeros(len(starts), bool)
        np.logical_or.at(small, row, own < heights[row])
        for r in np.flatnonzero(small):
            heights[r] = _row_height(a[firsts[r] : ends[r]], own[firsts[r] : ends[r]], inner, m.spacing, target, fills[r])
        rounded = np.maximum(1, np.round(heights)).astype(np.int32)
        tops = top + np.concatenate(([0], np.cumsum(rounded + m.spacing)[:-1])).astype(np.int32)
        item_h = np.minimum(heights[row], own)
        widths = a * item_h
        steps = np.cumsum(widths + m.spacing)
        before = np.concatenate(([0.0], steps))[firsts]  # the running sum where each row starts
        lefts = m.margin + np.concatenate(([0.0], steps[:-1])) - before[row]
        rights = lefts + widths
        lasts = ends - 1
        flush = fills & (np.abs(rights[lasts] - (m.margin + inner)) < 0.01 * inner + 2)
        rights[lasts[flush]] = m.margin + inner  # flush with the right edge, whatever the rounding
        x0, x1 = np.round(lefts).astype(np.int32), np.round(rights).astype(np.int32)
        h = np.maximum(1, np.round(item_h)).astype(np.int32)
        s = slice(start, end)
        self._x[s], self._w[s] = x0, np.maximum(1, x1 - x0)
        self._y[s], self._h[s] = tops[row] + (rounded[row] - h) // 2, h  # a small photo: centred
        self._row_top.extend(tops.tolist())
        self._row_bottom.extend((tops + rounded).tolist())
        self._row_first.extend((start + firsts).tolist())
        return int(tops[-1] + rounded[-1])

    # -- asking ------------------------------------------------------------------------------

    def rect(self, i: int) -> tuple[int, int, int, int]:
        return int(self._x[i]), int(self._y[i]), int(self._w[i]), int(self._h[i])

    def row_of(self, i: int) -> int:
        return bisect.bisect_right(self._row_first, i) - 1

    def row_items(self, row: int) -> range:
        end = self._row_first[row + 1] if row + 1 < len(self._row_first) else len(self)
        return range(self._row_first[row], end)

    @property
    def rows(self) -> int:
        return len(self._row_first)

    def items_between(self, top: int, bottom: int) -> range:
        """The items of the rows that overlap the band top..bottom (content coordinates)."""
        if not self._row_first:
            return range(0)
        first_row = bisect.bisect_right(self._row_bottom, top)
        last_row = bisect.bisect_left(self._row_top, bottom) - 1
        if first_row > last_row:
            return range(0)
        return range(self._row_first[first_row], self.row_items(last_row).stop)

    def headers_between(self, top: int, bottom: int) -> list[Header]:
        return [h for h in self.headers if h.y < bottom and h.y + h.height > top]

    def item_at(self, x: int, y: int) -> int | None:
        """The item under the point, or None (a gap, a header, below the end)."""
        row = bisect.bisect_right(self._row_top, y) - 1
        if row < 0 or y >= self._row_bottom[row]:
            return None
        for i in self.row_items(row):
            if self._x[i] <= x < self._x[i] + self._w[i]:
                return i
        return None

    def nearest(self, x: int, y: int) -> int | None:
        """The item nearest to the point: in the row at (or next below) y, the closest in x."""
        if not self._row_first:
            return None
        row = min(max(bisect.bisect_right(self._row_bottom, y), 0), self.rows - 1)
        return self.nearest_in_row(row, x)

    def nearest_in_row(self, row: int, x: int) -> int:
        items = self.row_items(row)
        centres = self._x[items.start : items.stop] + self._w[items.start : items.stop] / 2
        return items.start + int(np.argmin(np.abs(centres - x)))


def _row_height(a: np.ndarray, own: np.ndarray, inner: int, spacing: int, target: int, fills: bool) -> float:
    """The height of a row holding photos smaller than it: they keep their own size, the others
    share what is left of the width. A row of small photos only is as high as its highest."""
    free = inner - spacing * (len(a) - 1)
    height = float(target)
    for _ in range(len(a) + 1):  # the set of photos shown at their own size only grows
        capped = own < height
        if capped.all():
            return float(own.max())
        if not fills:
            return height
        grown = (free - float((a[capped] * own[capped]).sum())) / float(a[~capped].sum())
        grown = min(grown, float(target))
        if abs(grown - height) < 1e-9:
            break
        height = grown
    return height
