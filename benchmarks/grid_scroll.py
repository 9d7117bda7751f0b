"""The results grid with many photos: setting the results, laying them out, and painting while
scrolling, against Qt's own QListView icon grid over the same model (the grid this one replaced).

    QT_QPA_PLATFORM=offscreen python benchmarks/grid_scroll.py [--photos 100000]

Hits are made up (no library, no thumbnails: each cell paints its placeholder, as while the
thumbnails load), sorted newest first with a header per month. Prints the median milliseconds of:
set_hits (sort + month sections), a layout at the window's width, a resize to another width, and
one frame scrolled to 50 positions through the grid (viewport repaint). A frame under 16 ms keeps
scrolling at 60 frames per second.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _hits(n: int, seed: int = 0) -> list:
    from engine.search import Hit
    from engine.store import PhotoRow

    rng = random.Random(seed)
    shapes = [(4000, 3000), (3000, 4000), (6000, 4000), (4000, 4000), (8000, 2000)]
    start = 1_262_304_000.0  # 2010
    hits = []
    for i in range(n):
        w, h = rng.choice(shapes)
        path = f"/photos/{i // 1000}/{i}.jpg"
        row = PhotoRow(i, path, "/photos", 1, 1.0, None, None, w, h, start + rng.random() * 15 * 365 * 86400)
        hits.append(Hit(path, 0.5, row))
    return hits


def _ms(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=100_000)
    args = parser.parse_args()

    from PySide6.QtCore import QSize
    from PySide6.QtWidgets import QApplication, QListView

    from app.gui.delegate import ThumbnailDelegate
    from app.gui.grid_view import PhotoGrid
    from app.gui.results_model import ResultsModel
    from app.gui.state import SORT_NEWEST

    app = QApplication.instance() or QApplication([])
    hits = _hits(args.photos)
    model = ResultsModel(thumb_size=192)
    model.set_sort(SORT_NEWEST)
    grid = PhotoGrid()
    grid.setModel(model)
    grid.setItemDelegate(ThumbnailDelegate(grid))
    grid.resize(1000, 700)
    grid.show()
    app.processEvents()

    print(f"{args.photos:,} photos, load average {os.getloadavg()[0]:.1f}")
    print(f"set_hits (sort, month sections, layout): {_ms(lambda: model.set_hits(hits), 3):.0f} ms")
    print(f"  sections: {len(model.sections())} months, {grid.grid_layout.rows:,} rows")
    print(f"layout at 1000 px:                      {_ms(grid.relayout):.0f} ms")
    widths = iter([900, 1000] * 10)
    print(f"resize (relayout + frame):              {_ms(lambda: (grid.resize(next(widths), 700), grid.viewport().repaint())):.0f} ms")
    bar = grid.verticalScrollBar()

    def frames(view) -> float:
        bar = view.verticalScrollBar()
        positions = [round(bar.maximum() * k / 49) for k in range(50)]
        times = []
        for p in positions:
            t = time.perf_counter()
            bar.setValue(p)
            view.viewport().repaint()
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    print(f"scroll frame, justified grid:           {frames(grid):.1f} ms (median of 50 positions)")
    assert bar.maximum() > 0

    plain = QListView()  # what the grid was before: Qt's icon mode, uniform square cells
    plain.setViewMode(QListView.ViewMode.IconMode)
    plain.setUniformItemSizes(True)
    plain.setResizeMode(QListView.ResizeMode.Adjust)
    plain.setModel(model)
    plain.setItemDelegate(ThumbnailDelegate(plain))
    plain.setGridSize(QSize(204, 224))  # its old cell: a 192 px thumbnail, padding and a caption
    plain.resize(1000, 700)
    plain.show()
    t = time.perf_counter()
    plain.doItemsLayout()
    app.processEvents()
    print(f"QListView icon grid, layout:            {(time.perf_counter() - t) * 1000:.0f} ms")
    print(f"scroll frame, QListView icon grid:      {frames(plain):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
