"""The results model without any view, and thumbnails arriving for exactly their row."""

from __future__ import annotations

import math
import random
import shutil
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.gui.results_model import (
    HitRole,
    MarkRole,
    NativeSizeRole,
    PathRole,
    ResultsModel,
    ScoreRole,
    month_sections,
    month_title,
)
from app.gui.state import SORT_NEWEST, SORT_OLDEST
from app.gui.thumbnails import ThumbnailLoader
from engine.search import Hit
from engine.store import PhotoRow
from engine.thumbnails import ThumbnailCache


def _hit(
    path: str, score: float, taken: float | None, mtime: float = 1.0, size: tuple[int, int] | None = None
) -> Hit:
    w, h = size or (None, None)
    row = PhotoRow(
        id=1,
        path=path,
        folder="/p",
        size=10,
        mtime=mtime,
        hash="h",
        error=None,
        taken_at=taken,
        width=w,
        height=h,
    )
    return Hit(path, score, row)


def test_rows_roles_and_sorting(qtmodeltester):
    model = ResultsModel()
    hits = [
        _hit("/p/a.jpg", 0.9, 100.0),
        _hit("/p/b.jpg", 0.5, 300.0),
        _hit("/p/c.jpg", 0.1, None, mtime=200.0),
    ]
    model.set_hits(hits)
    qtmodeltester.check(model)
    assert model.rowCount() == 3
    index = model.index(1)
    assert model.data(index, Qt.ItemDataRole.DisplayRole) == "b.jpg"
    assert model.data(index, PathRole) == "/p/b.jpg"
    assert model.data(index, ScoreRole) == 0.5
    assert model.data(index, HitRole) is hits[1]
    assert "Score 0.500" in model.data(index, Qt.ItemDataRole.ToolTipRole)
    assert model.data(index, Qt.ItemDataRole.DecorationRole) is None  # no loader: no thumbnail

    model.set_sort(SORT_NEWEST)  # a photo without a date sorts by its mtime
    assert model.paths() == ["/p/b.jpg", "/p/c.jpg", "/p/a.jpg"]
    model.set_sort(SORT_OLDEST)
    assert model.paths() == ["/p/a.jpg", "/p/c.jpg", "/p/b.jpg"]
    model.set_sort("relevance")
    assert model.paths() == ["/p/a.jpg", "/p/b.jpg", "/p/c.jpg"]

    # The weaker results are rows only once opened; sorted by date, only the matches are
    # reordered: the weaker results follow, by relevance.
    weaker = [
        replace(_hit("/p/w1.jpg", 0.05, 900.0), match=False),
        replace(_hit("/p/w2.jpg", 0.04, 950.0), match=False),
    ]
    model.set_hits([*hits, *weaker])
    assert (model.matches, model.weaker, model.rowCount()) == (3, 2, 3)
    model.set_sort(SORT_NEWEST)
    model.set_show_weaker(True)
    qtmodeltester.check(model)
    assert model.paths() == ["/p/b.jpg", "/p/c.jpg", "/p/a.jpg", "/p/w1.jpg", "/p/w2.jpg"]
    model.set_show_weaker(False)
    assert model.rowCount() == 3
    model.set_sort("relevance")

    browse = _hit("/p/d.jpg", math.nan, 5.0)
    model.set_hits([browse])
    assert "Score" not in model.data(model.index(0), Qt.ItemDataRole.ToolTipRole)
    model.set_hits([])
    assert model.rowCount() == 0


def test_thumbnail_arrives_for_its_row_only(qtbot, sample_photos: Path, tmp_path: Path):
    photo = tmp_path / "one.jpg"
    shutil.copyfile(sample_photos / "jpg" / "Canon_40D.jpg", photo)
    loader = ThumbnailLoader(ThumbnailCache(tmp_path / "thumbs"))
    model = ResultsModel(loader, thumb_size=96)
    hits = [_hit("/missing/zero.jpg", 0.9, None), _hit(str(photo), 0.8, None, mtime=photo.stat().st_mtime)]
    model.set_hits(hits)
    changed: list[tuple[int, int, list]] = []
    model.dataChanged.connect(lambda a, b, roles: changed.append((a.row(), b.row(), list(roles))))

    assert model.data(model.index(1), Qt.ItemDataRole.DecorationRole) is None  # requested, not ready
    qtbot.waitUntil(lambda: (1, 1, [Qt.ItemDataRole.DecorationRole]) in changed, timeout=20_000)
    image = model.data(model.index(1), Qt.ItemDataRole.DecorationRole)
    # Made for the cell (128 px for a 96 px row, rounded up to a size step), never above the photo's own 100 px.
    assert model.thumb_side(hits[1]) == 128
    assert isinstance(image, QImage) and max(image.width(), image.height()) == 100
    assert all(a == b for a, b, _ in changed)  # one row at a time, never a full reset

    model.data(model.index(0), Qt.ItemDataRole.DecorationRole)  # a missing file: marked failed
    qtbot.waitUntil(lambda: loader.failed(model._key(hits[0])), timeout=20_000)
    loader.shutdown()


def test_sections_marks_and_layout_data():
    """Month sections when sorted by date, a divider above open weaker results, aspect ratios from
    the library's metadata (nothing decoded), marks, and thumbnails sized for their cell."""
    june, may = 1_560_000_000.0, 1_557_000_000.0  # mid June 2019, early May 2019
    model = ResultsModel(thumb_size=192)
    hits = [
        _hit("/p/a.jpg", 0.9, may, size=(4000, 3000)),
        _hit("/p/b.jpg", 0.8, june, size=(3000, 4000)),
        _hit("/p/c.jpg", 0.7, june + 3600, size=(6000, 1500)),
        replace(_hit("/p/w.jpg", 0.1, june), match=False),
    ]
    model.set_hits(hits)
    assert [(s.title, s.start, s.end) for s in model.sections()] == [("", 0, 3)]  # by relevance: no headers
    model.set_sort(SORT_NEWEST)
    assert month_title(june) == "June 2019"
    assert [(s.title, s.start, s.end) for s in model.sections()] == [("June 2019", 0, 2), ("May 2019", 2, 3)]
    model.set_show_weaker(True)
    assert model.sections()[-1].title == "Weaker results" and model.sections()[-1].start == 3
    assert model.aspects() == [4.0, 0.75, 4 / 3, 1.0]  # unknown size (not indexed yet): square

    model.set_marks(likes=["/p/b.jpg"], unlikes=["/p/a.jpg"])
    assert [model.data(model.index(i), MarkRole) for i in range(4)] == [None, True, False, None]
    assert model.data(model.index(2), NativeSizeRole).width() == 4000

    # A thumbnail is big enough for its cell at the row height: a wide photo's is wider.
    assert model.thumb_side(hits[1]) == 192  # portrait: its longer side is the row height
    assert model.thumb_side(hits[0]) == 256  # 4:3 at 192 px high is 256 px wide
    assert model.thumb_side(hits[2]) == 768  # a 4:1 panorama
    model.set_pixel_ratio(2.0)  # a HiDPI screen: twice the pixels
    assert model.thumb_side(hits[1]) == 384


def test_month_sections_match_each_photos_own_month():
    rng = random.Random(3)
    times = [1_200_000_000 + rng.random() * 400_000_000 for _ in range(3000)]  # 2008-2020, DST included
    for newest in (True, False):
        ordered = sorted(times, reverse=newest)
        sections = month_sections(ordered, newest)
        assert sections[0].start == 0 and sections[-1].end == len(ordered)
        for a, b in zip(sections, sections[1:], strict=False):
            assert a.end == b.start and a.title != b.title
        for section in sections:
            assert {month_title(t) for t in ordered[section.start : section.end]} == {section.title}
