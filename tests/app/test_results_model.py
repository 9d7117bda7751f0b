"""The results model without any view, and thumbnails arriving for exactly their row."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.gui.results_model import SORT_DATE, HitRole, PathRole, ResultsModel, ScoreRole
from app.gui.thumbnails import ThumbnailLoader
from engine.search import Hit
from engine.store import PhotoRow
from engine.thumbnails import ThumbnailCache


def _hit(path: str, score: float, taken: float | None, mtime: float = 1.0) -> Hit:
    row = PhotoRow(id=1, path=path, folder="/p", size=10, mtime=mtime, hash="h", error=None, taken_at=taken)
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

    model.set_sort(SORT_DATE)  # newest first; a photo without a date sorts by its mtime
    assert model.paths() == ["/p/b.jpg", "/p/c.jpg", "/p/a.jpg"]
    model.set_sort("relevance")
    assert model.paths() == ["/p/a.jpg", "/p/b.jpg", "/p/c.jpg"]

    # Sorted by date, only the matches are reordered: the weaker results follow, by relevance.
    weaker = [replace(_hit("/p/w1.jpg", 0.05, 900.0), match=False), replace(_hit("/p/w2.jpg", 0.04, 950.0), match=False)]
    model.set_hits([*hits, *weaker])
    assert model.weaker == 2
    model.set_sort(SORT_DATE)
    assert model.paths() == ["/p/b.jpg", "/p/c.jpg", "/p/a.jpg", "/p/w1.jpg", "/p/w2.jpg"]
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
    assert isinstance(image, QImage) and max(image.width(), image.height()) == 96
    assert all(a == b for a, b, _ in changed)  # one row at a time, never a full reset

    model.data(model.index(0), Qt.ItemDataRole.DecorationRole)  # a missing file: marked failed
    qtbot.waitUntil(lambda: loader.failed(model._key(hits[0])), timeout=20_000)
    loader.shutdown()
