"""The justified grid: the layout's rows (Qt-free), and the grid widget over a results model —
rows that fill the width, month headers, the weaker results behind a button, mark buttons, no
upscaling."""

from __future__ import annotations

import random

import pytest
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from app.gui.delegate import ThumbnailDelegate, mark_buttons
from app.gui.grid_view import PhotoGrid
from app.gui.justified import JustifiedLayout, Metrics, Section
from app.gui.results_model import ResultsModel
from app.gui.state import SORT_NEWEST
from engine.search import Hit
from engine.store import PhotoRow

JUNE_2019, MAY_2019 = 1_560_000_000.0, 1_557_000_000.0


def _hit(name: str, size: tuple[int, int], taken: float = JUNE_2019, match: bool = True) -> Hit:
    path = f"/p/{name}"
    row = PhotoRow(
        id=1,
        path=path,
        folder="/p",
        size=1,
        mtime=1.0,
        hash="h",
        error=None,
        width=size[0],
        height=size[1],
        taken_at=taken,
    )
    return Hit(path, 0.5, row, match=match)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rows_fill_the_width_and_keep_each_photos_shape(seed: int):
    rng = random.Random(seed)
    aspects = [rng.choice([0.5, 0.75, 1.0, 4 / 3, 1.5, 2.0, 3.0]) for _ in range(300)]
    metrics = Metrics(width=1000, row_height=180, spacing=4, margin=8)
    layout = JustifiedLayout(aspects, [Section("A", 0, 120, "date"), Section("B", 120, 300, "date")], metrics)
    assert [h.section.title for h in layout.headers] == ["A", "B"]
    seen = []
    for row in range(layout.rows):
        items = layout.row_items(row)
        rects = [layout.rect(i) for i in items]
        seen.extend(items)
        assert len({r[1] for r in rects}) == 1 and len({r[3] for r in rects}) == 1  # one top, one height
        assert rects[0][0] == 8 and all(
            b[0] - (a[0] + a[2]) in (3, 4, 5) for a, b in zip(rects, rects[1:], strict=False)
        )
        last_of_section = items.stop in (120, 300)
        height = rects[0][3]
        assert height <= 180  # never taller than the target: thumbnails are made for it
        if last_of_section:
            assert height == 180 and rects[-1][0] + rects[-1][2] <= 992  # not stretched
        else:
            assert rects[-1][0] + rects[-1][2] == 992  # flush with the right margin
            for i, (_, _, w, h) in zip(
                items, rects, strict=True
            ):  # each photo keeps its aspect ratio (rounding aside)
                assert abs(w / h - aspects[i]) < 0.03 * aspects[i] + 2 / h
    assert seen == list(range(300))
    # A section starts on a new row below its header.
    b = layout.headers[1]
    assert layout.row_items(layout.row_of(120)).start == 120 and layout.rect(120)[1] >= b.y + b.height
    # Finding things: the item under a point, the rows in a band.
    x, y, w, h = layout.rect(130)
    assert layout.item_at(x + w // 2, y + h // 2) == 130
    assert layout.item_at(x + w // 2, b.y + 2) is None  # a header
    band = layout.items_between(y, y + 1)
    assert 130 in band and all(layout.rect(i)[1] == y for i in band)


def test_small_photos_keep_their_own_size():
    metrics = Metrics(width=1000, row_height=192, spacing=4, margin=8)
    # Big photos around a 100 x 68 one: the small one stays 100 x 68, centred in the row, and the
    # big ones still fill the row's width.
    aspects, heights = [1.5, 100 / 68, 1.5, 1.5, 1.5], [3000, 68, 3000, 3000, 3000]
    layout = JustifiedLayout(aspects, [Section("", 0, 5)], metrics, heights)
    assert layout.rows == 1
    x, y, w, h = layout.rect(1)
    _, top, _, height = layout.rect(0)
    assert (w, h) == (100, 68) and y - top == (height - h) // 2
    last = layout.rect(4)
    assert last[0] + last[2] == 992 and height <= 192
    # Only small photos: the rows are as high as they are (not stretched to the target).
    layout = JustifiedLayout([1.3] * 4, [Section("", 0, 4)], metrics, [77] * 4)
    assert all(layout.rect(i)[3] == 77 for i in range(4))


def test_a_hundred_thousand_photos_are_laid_out_and_looked_up():
    aspects = [(1.5, 0.75, 1.0, 2.0)[i % 4] for i in range(100_000)]
    sections = [Section(f"month {s}", s, min(s + 400, 100_000), "date") for s in range(0, 100_000, 400)]
    layout = JustifiedLayout(aspects, sections, Metrics(width=1200, row_height=200))
    assert len(layout) == 100_000 and len(layout.headers) == 250
    last = layout.rect(99_999)
    assert layout.height > last[1] + last[3]
    shown = layout.items_between(last[1] - 1000, last[1] + 10)
    assert 99_999 in shown and len(shown) < 100  # only the rows in view


def _grid(qtbot, hits: list[Hit], width: int = 800) -> tuple[PhotoGrid, ResultsModel]:
    model = ResultsModel(thumb_size=160)
    grid = PhotoGrid()
    grid.setModel(model)
    grid.setItemDelegate(ThumbnailDelegate(grid))
    qtbot.addWidget(grid)
    grid.resize(width, 600)
    grid.show()
    model.set_hits(hits)
    grid.relayout()
    return grid, model


def test_grid_rows_headers_and_weaker_results(qtbot):
    shapes = [(4000, 3000), (3000, 4000), (6000, 2000), (1000, 1000)] * 5
    hits = [_hit(f"{i}.jpg", s, JUNE_2019 if i < 12 else MAY_2019) for i, s in enumerate(shapes)]
    weaker = [_hit(f"w{i}.jpg", (4000, 3000), match=False) for i in range(7)]
    grid, model = _grid(qtbot, hits + weaker)
    viewport = grid.viewport().width()

    # A full row reaches across the viewport; the photos keep their shapes.
    first = [grid.visualRect(model.index(i)) for i in range(model.rowCount())]
    row = [r for r in first if r.top() == first[0].top()]
    assert len(row) > 1 and row[-1].right() + 1 == viewport - 8
    assert grid.indexAt(first[2].center()).row() == 2
    assert grid.headers() == []  # by relevance: no date headers

    # The weaker results sit behind a button after the matches; opening them adds a divider.
    button = grid.weaker_button
    assert button.isVisible() and button.text() == "Show 7 weaker results"
    assert model.rowCount() == 20
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert model.rowCount() == 27 and model.hit(20).match is False
    assert grid.headers() == ["Weaker results"]
    assert grid.visualRect(model.index(20)).top() > grid.visualRect(model.index(19)).bottom()
    assert button.text() == "Hide the 7 weaker results"

    # Sorted by date: a header per month, newest first; the weaker results stay last.
    model.set_sort(SORT_NEWEST)
    assert grid.headers() == ["June 2019", "May 2019", "Weaker results"]
    assert grid.visualRect(model.index(12)).left() == 8  # May starts a new row

    # Keyboard: Down goes to the row below.
    grid.setCurrentIndex(model.index(0))
    grid.setFocus()
    qtbot.keyClick(grid, Qt.Key.Key_Down)
    assert grid.visualRect(grid.currentIndex()).top() > grid.visualRect(model.index(0)).bottom()

    # A narrower window: more rows, still flush.
    grid.resize(500, 600)
    grid.relayout()
    rect = grid.visualRect(model.index(0))
    assert rect.height() <= 160


def test_the_button_says_when_only_the_best_weaker_results_are_here(qtbot):
    hits = [_hit("m.jpg", (4000, 3000))] + [_hit(f"w{i}.jpg", (4000, 3000), match=False) for i in range(3)]
    grid, model = _grid(qtbot, hits)
    model.set_hits(hits, weaker_total=5000)  # a big library: the search returned its best 3
    assert model.weaker_total == 5000 and grid.weaker_button.text() == "Show the best 3 of 5,000 weaker results"
    model.set_hits(hits[1:])
    assert grid.weaker_button.text() == "No close matches · Show 3 weaker results"


def test_hover_buttons_mark_a_photo(qtbot):
    grid, model = _grid(qtbot, [_hit(f"{i}.jpg", (4000, 3000)) for i in range(6)])
    delegate = grid.itemDelegate()
    assert isinstance(delegate, ThumbnailDelegate)
    clicked: list[tuple[str, bool]] = []
    delegate.mark_clicked.connect(lambda path, good: clicked.append((path, good)))
    cell = grid.visualRect(model.index(1))
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(cell.center()),
        QPointF(grid.viewport().mapToGlobal(cell.center())),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(grid.viewport(), move)  # (qtbot.mouseMove needs a real pointer)
    assert grid.hovered().row() == 1  # the pointer shows the mark buttons
    buttons = mark_buttons(cell)
    assert buttons is not None
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=buttons[1].center())
    assert clicked == [("/p/1.jpg", False)]
    assert not grid.selectionModel().isSelected(model.index(1))  # a mark click does not select
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=cell.center())
    assert grid.selectionModel().isSelected(model.index(1)) and len(clicked) == 1
    # Shift+click selects the run of photos in between, in reading order.
    end = grid.visualRect(model.index(4)).center()
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, end)
    assert sorted(i.row() for i in grid.selectedIndexes()) == [1, 2, 3, 4]


def test_a_small_photo_is_never_blown_up(qtbot):
    model = ResultsModel()
    small = _hit("small.jpg", (100, 77))
    model.set_hits([small])
    image = QImage(QSize(100, 77), QImage.Format.Format_RGB32)
    cell = QRectF(0, 0, 260, 200)
    target = ThumbnailDelegate.image_rect(cell, image, model.index(0))
    assert (target.width(), target.height()) == (100, 77) and target.center() == cell.center()
    big = _hit("big.jpg", (4000, 3000))
    model.set_hits([big])
    thumb = QImage(QSize(256, 192), QImage.Format.Format_RGB32)
    target = ThumbnailDelegate.image_rect(QRectF(0, 0, 266, 200), thumb, model.index(0))
    assert abs(max(target.width() / 266, target.height() / 200) - 1) < 1e-6  # a big photo fills its cell
