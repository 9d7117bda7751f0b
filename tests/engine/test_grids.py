"""Patch grids kept per photo (engine/storage/grids.py) and the window cache that reads them
(engine/tag_windows.py): written with the vectors from the same model pass, kept across a
text-side model switch, absent (and harmless) in a library indexed before they existed."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import numpy as np
import pytest
import torch
from personal_world import make_concepts, personal_world, write_world

from engine import forward, tag_windows
from engine.library import DB_NAME, Library
from engine.search import Query
from engine.storage import grids as stored
from engine.tag_scoring import soft_max
from engine.tag_windows import (
    best_views,
    box_template,
    spans,
    view_boxes,
    view_similarities,
    view_sizes,
    view_templates,
)
from engine.tags import Highlight, TagStage, add_tag


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_a_template_resamples_the_box_cell_by_cell():
    grid = np.random.default_rng(0).normal(size=(8, 8, 5)).astype(np.float32)
    # A box of exactly 3 x 3 cells keeps them; a 6 x 6 one averages each 2 x 2 block; no box, the
    # whole grid (8/3 cells a part, weighted by the share of each cell covered).
    assert np.allclose(box_template(grid, (0.125, 0.25, 0.5, 0.625)), _unit(grid[2:5, 1:4]), atol=1e-5)
    blocks = grid[:6, :6].reshape(3, 2, 3, 2, 5).mean((1, 3))
    assert np.allclose(box_template(grid, (0.0, 0.0, 0.75, 0.75)), _unit(blocks), atol=1e-5)
    cover = np.array([1, 1, 2 / 3, 0, 0, 0, 0, 0], np.float32)
    first = (grid * np.outer(cover, cover)[..., None]).sum((0, 1))
    assert np.allclose(box_template(grid, None)[0, 0], _unit(first), atol=1e-5)


def test_views_are_every_rectangle_resampled_like_a_template():
    """view_similarities' separable sums equal forming each view (box_template of its rectangle)
    and averaging its cells' cosines to the key's."""
    rng = np.random.default_rng(1)
    grids = rng.normal(size=(2, 7, 7, 6)).astype(np.float32)
    keys = _unit(rng.normal(size=(4, 3, 3, 6)).astype(np.float32))
    sizes = [(2.0, 2.0), (2.5, 4.0), (7.0, 3.5)]
    got = view_similarities(grids, keys, sizes, step=0.5)
    want = []
    for grid in grids:
        views = []
        for height, width in sizes:
            for y in np.arange(len(spans(height, 7, 1, 0.5))) * 0.5:
                for x in np.arange(len(spans(width, 7, 1, 0.5))) * 0.5:
                    view = box_template(grid, (x / 7, y / 7, (x + width) / 7, (y + height) / 7))
                    views.append(np.einsum("abd,kabd->k", view, keys) / 9)
        want.append(views)
    assert got.shape == np.array(want).shape and np.allclose(got, want, atol=1e-5)


def test_views_take_the_highlighted_objects_sizes_and_shape():
    whole = (0.0, 0.0, 1.0, 1.0)
    # Boxes of 2 x 4 and 3 x 6 cells of an 8 x 8 grid: five sizes from the one to the other, all
    # twice as wide as high.
    sizes = view_sizes([((0.1, 0.1, 0.6, 0.35), whole), ((0.2, 0.3, 0.95, 0.675), whole)], 8, 8)
    assert len(sizes) == 5
    assert np.allclose(sizes[0], (2.0, 4.0)) and np.allclose(sizes[-1], (3.0, 6.0))
    assert all(np.isclose(w, 2 * h) for h, w in sizes)
    # A box is measured inside the part of the photo the model saw (a landscape photo's centre
    # square): the same box is wider there. A box outside it is left out; with none left, the grid.
    landscape = (0.25, 0.0, 0.75, 1.0)
    assert np.allclose(view_sizes([((0.25, 0.0, 0.5, 0.5), landscape)], 8, 8), [(4.0, 4.0)])
    assert view_sizes([((0.0, 0.0, 0.2, 0.5), landscape)], 8, 6) == [(8.0, 6.0)]
    # Never larger than the grid, never under a cell.
    assert view_sizes([((0.0, 0.0, 1.0, 0.05), whole)], 8, 8) == [(1.0, 8.0)]


def _shape(cells: list[tuple[int, int]], at: tuple[int, int]) -> np.ndarray:
    """An 8 x 8 grid of background cells with an object's cells in a 3 x 3 square at `at`."""
    grid = np.zeros((8, 8, 4), np.float32)
    grid[..., 0] = 1.0
    for r, c in cells:
        grid[at[0] + r, at[1] + c] = (0.0, 1.0, 0.0, 0.0)
    return grid


def test_views_tell_shapes_apart_that_share_every_cell():
    """A plus and a T of the same five object cells: every mean over a square is the same, the
    cell-by-cell views are not."""
    plus = [(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)]
    tee = [(0, 0), (0, 1), (0, 2), (1, 1), (2, 1)]
    places = [(0, 0), (4, 3), (2, 5), (5, 0)]
    tagged = np.stack([_shape(plus, at) for at in places])
    keys = np.stack(
        [
            box_template(g, (c / 8, r / 8, (c + 3) / 8, (r + 3) / 8))
            for g, (r, c) in zip(tagged, places, strict=True)
        ]
    )
    candidates = np.stack([_shape(plus, (3, 2)), _shape(tee, (3, 2))])
    assert np.allclose(candidates[0, 3:6, 2:5].mean((0, 1)), candidates[1, 3:6, 2:5].mean((0, 1)))
    sizes = [(3.0, 3.0)]
    (found, decoy), _ = best_views(keys, candidates, sizes, 200.0)
    assert found > decoy + 1.0
    negatives = np.stack([_shape(tee, at) for at in [(0, 0), (4, 4), (1, 5)]])
    odds = tag_windows.WindowScorer.fit(keys, tagged, negatives, sizes).log_odds(candidates)
    assert odds[0] > 0 > odds[1]


def _scene(rng: np.random.Generator, objects: list[tuple[np.ndarray, tuple[int, int]]]) -> np.ndarray:
    """An 8 x 8 grid of noisy background cells with each (3 x 3 cells, at) object pasted in."""
    grid = rng.normal(0.0, 0.3, (8, 8, 16)).astype(np.float32)
    grid[..., 0] += 1.0
    for cells, (r, c) in objects:
        grid[r : r + 3, c : c + 3] = cells + rng.normal(0.0, 0.1, cells.shape)
    return grid


def test_a_tagged_object_without_a_box_is_located():
    """Tagged photos without boxes: the object they all show is found in each, not what nearly all
    of them show beside it that the library shows as often (a sofa), nor the rarer generic objects;
    a box the user drew stays as drawn."""
    rng = np.random.default_rng(0)
    rex, sofa = rng.normal(0.0, 1.0, (2, 3, 3, 16)).astype(np.float32)
    generic = list(rng.normal(0.0, 1.0, (4, 3, 3, 16)).astype(np.float32))

    def scene(main: np.ndarray | None, at: tuple[int, int]) -> np.ndarray:
        objects = [(main, at)] if main is not None else []
        corner = (0 if at[0] >= 3 else 5, 0 if at[1] >= 3 else 5)  # apart from the main object
        objects.append((sofa if rng.random() < 0.9 else generic[rng.integers(4)], corner))
        return _scene(rng, objects)

    places = [(int(r), int(c)) for r, c in rng.integers(0, 6, (12, 2))]
    tagged = np.stack([scene(rex, at) for at in places])
    library = np.stack([scene(generic[rng.integers(4)], (int(r), int(c))) for r, c in rng.integers(0, 6, (40, 2))])
    truth = [(c / 8, r / 8, (c + 3) / 8, (r + 3) / 8) for r, c in places]
    drawn = (truth[0][0] + 0.01, truth[0][1], truth[0][2], truth[0][3] - 0.01)  # the user's, on Rex
    boxes = tag_windows.locate(tagged, [drawn] + [None] * (len(places) - 1), library)
    assert boxes[0] == drawn
    overlaps = [_iou(box, true) for box, true in zip(boxes[1:], truth[1:], strict=True)]
    assert min(overlaps) > 0.5, overlaps
    # Each photo's most telling cell lies on Rex.
    for contrast, (r, c) in zip(tag_windows.cell_contrast(tagged, library), places, strict=True):
        best = np.unravel_index(int(np.argmax(contrast)), contrast.shape)
        assert r <= best[0] < r + 3 and c <= best[1] < c + 3


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_views_are_scored_a_chunk_at_a_time(monkeypatch):
    """Chunking bounds the memory, not the result, and each tagged photo still leaves its own key
    out when its chunk starts later."""
    rng = np.random.default_rng(2)
    grids = rng.normal(size=(5, 6, 6, 8)).astype(np.float32)
    keys = np.stack([box_template(g, (0.1, 0.2, 0.6, 0.7)) for g in grids])
    sizes = [(2.0, 3.0), (3.0, 3.0)]
    whole, views = best_views(keys, grids, sizes, 200.0, own=True)
    monkeypatch.setattr(tag_windows, "CHUNK_VALUES", 1)
    chunked, chunked_views = best_views(keys, grids, sizes, 200.0, own=True)
    assert np.allclose(chunked, whole, atol=1e-5) and np.array_equal(chunked_views, views)
    assert not np.allclose(best_views(keys, grids, sizes, 200.0)[0], whole, atol=1e-3)


def test_a_view_is_resampled_as_a_box_is():
    """view_templates (every candidate's best view at once) gives box_template's cells at the view's box."""
    rng = np.random.default_rng(4)
    for rows in (4, 7, 8):
        grids = rng.normal(size=(12, rows, rows, 16)).astype(np.float32)
        sizes = [(2.4, 2.4), (3.0, 3.5), (1.2, 1.5)]
        boxes = view_boxes(sizes, rows, rows)
        views = rng.integers(0, len(boxes), len(grids))
        want = [box_template(g, tuple(float(v) for v in boxes[view])) for g, view in zip(grids, views, strict=True)]
        assert np.allclose(view_templates(grids, views, sizes), np.stack(want).reshape(len(grids), -1), atol=1e-5)


def test_only_views_that_can_win_are_soft_maxed():
    """best_soft_max skips views whose largest logit is too far below another's; the answer is the
    soft maximum of every view, whatever the spread (and with keys left out)."""
    rng = np.random.default_rng(3)
    for scale in (0.1, 10.0, 200.0):
        logits = (scale * rng.normal(size=(6, 40, 7))).astype(np.float32)
        logits[2, :, 3] = -np.inf
        every = soft_max(logits)
        affinity, view = tag_windows.best_soft_max(logits)
        assert np.array_equal(affinity, every.max(axis=1))
        assert np.array_equal(view, every.argmax(axis=1))


def test_int8_grids_keep_their_cells():
    grid = np.random.default_rng(1).normal(size=(7, 7, 32)).astype(np.float32)
    back = stored.decode(*stored.encode(grid))
    cosines = (back * grid).sum(-1) / np.linalg.norm(back, axis=-1) / np.linalg.norm(grid, axis=-1)
    assert back.shape == grid.shape and cosines.min() > 0.999


@pytest.fixture
def world_photos(tmp_path):
    world = personal_world(make_concepts(["rex"], 5), seed=5, tagged=6, held_out=4, decoys=4, generic=6)
    tagged, paths = write_world(world, tmp_path / "photos")
    return world, tagged["rex"], paths


def test_grids_are_stored_with_the_vectors_from_the_same_pass(tmp_path, tiny_encoder, world_photos):
    world, tagged, paths = world_photos
    library = Library(tmp_path / "lib", encoder=tiny_encoder)
    library.add_folders([tmp_path / "photos"])
    library.index()
    hashes, vectors = library.store.vectors.present(library.model.key)
    grids = library.store.grids.of(library.model.key, hashes)
    assert set(grids) == set(hashes)
    # The grid is the model's patch vectors on its 8 x 8 grid, as torch computes them.
    photo = world.library[0]
    pixels = torch.from_numpy(tiny_encoder.preprocess_array(photo.image))[None]
    with torch.inference_mode():
        _, want = forward.image_grid(tiny_encoder.model, pixels)
    got = grids[library.store.photos.by_path(paths[0]).hash]
    assert got.shape == (8, 8, tiny_encoder.dim)
    cosines = (got * want[0].numpy()).sum(-1) / np.linalg.norm(got, axis=-1)
    assert cosines.min() > 0.99
    library.close()


def test_a_library_indexed_before_grids_keeps_working(tmp_path, tiny_encoder, world_photos):
    world, tagged, paths = world_photos
    library = Library(tmp_path / "lib", encoder=tiny_encoder)
    library.add_folders([tmp_path / "photos"])
    library.index()
    for path, photo in zip(tagged, world.tagged["rex"], strict=True):
        add_tag(library.store, path, "rex", [Highlight("rex", photo.box)])
    with_grids = [h.path for h in library.search(Query(text="rex", k=20))]
    library.close()
    # The library as an earlier Viewfinder left it: no grids table, no record of its schema.
    with sqlite3.connect(tmp_path / "lib" / DB_NAME) as conn:
        conn.execute("DROP TABLE grids")
        conn.execute("DELETE FROM meta WHERE key = 'schema.grids'")
    library = Library(tmp_path / "lib", encoder=tiny_encoder)
    key = library.model.key
    hashes, _ = library.store.vectors.present(key)
    assert library.store.grids.of(key, hashes) == {}
    # Tag search works from the vectors alone, the tagged photos first.
    found = [h.path for h in library.search(Query(text="rex", k=20))]
    assert set(found[: len(tagged)]) == set(tagged) == set(with_grids[: len(tagged)])
    # Photos indexed from now on get their grids.
    extra = tmp_path / "more"
    extra.mkdir()
    world = personal_world(make_concepts(["zorp"], 6), seed=6, tagged=1, held_out=1, decoys=1, generic=1)
    write_world(world, extra)
    library.add_folders([extra])
    library.index()
    hashes, _ = library.store.vectors.present(key)
    assert len(library.store.grids.of(key, hashes)) == 4
    library.close()


def test_grids_follow_a_text_side_switch(tmp_path, tiny_encoder, world_photos):
    library = Library(tmp_path / "lib", encoder=tiny_encoder)
    library.add_folders([tmp_path / "photos"])
    library.index()
    old = library.model.key
    hashes, _ = library.store.vectors.present(old)
    before = library.store.grids.of(old, hashes)
    library.store.vectors.relabel(old, "another text side")
    after = library.store.grids.of("another text side", hashes)
    assert set(after) == set(before) and library.store.grids.of(old, hashes) == {}
    assert all(np.array_equal(after[h], before[h]) for h in hashes)
    library.close()


def _rex_library(tmp_path, encoder, world, tagged: list[str], name: str = "lib") -> Library:
    """The world's photos indexed, the first five of Rex's tagged "rex" with their boxes."""
    library = Library(tmp_path / name, encoder=encoder)
    library.add_folders([tmp_path / "photos"])
    library.index()
    for path, photo in zip(tagged[:5], world.tagged["rex"][:5], strict=True):
        add_tag(library.store, path, "rex", [Highlight("rex", photo.box)])
    return library


def test_a_tag_query_again_reuses_its_window_cache(tmp_path, tiny_encoder, world_photos, monkeypatch):
    """Refining, re-sorting or filtering a query that names a tag scores no photo twice; a new
    tag fits the cache again."""
    world, tagged, paths = world_photos
    library = _rex_library(tmp_path, tiny_encoder, world, tagged)
    scored: list[int] = []
    log_odds = tag_windows.WindowScorer.log_odds

    def counted(scorer, grids):
        scored.append(len(grids))
        return log_odds(scorer, grids)

    monkeypatch.setattr(tag_windows.WindowScorer, "log_odds", counted)
    first = [(h.path, h.score) for h in library.search(Query(text="rex", k=20))]
    assert scored == [len(paths) + 1]  # every untagged photo: the library's, and the last tagged one
    assert [(h.path, h.score) for h in library.search(Query(text="rex", k=20))] == first
    refined = library.search(Query(text="rex asleep", k=20))
    assert {h.path for h in refined[:5]} == {p for p, _ in first[:5]} == set(tagged[:5])
    assert len(scored) == 1
    add_tag(library.store, tagged[5], "rex", [Highlight("rex", world.tagged["rex"][5].box)])
    again = library.search(Query(text="rex", k=20))
    assert scored[1:] == [len(paths)] and {h.path for h in again[:6]} == set(tagged)
    library.close()


def test_the_window_cache_takes_untagged_boxes_and_at_most_its_keys(tmp_path, tiny_encoder, world_photos, monkeypatch):
    """A tagged photo without a box is one of the window cache's keys (located); a tag on more
    photos than WindowConfig.keys fits on that many, those with a box first."""
    world, tagged, _ = world_photos
    library = _rex_library(tmp_path, tiny_encoder, world, tagged)
    add_tag(library.store, tagged[5], "rex")  # no box
    fitted: list[np.ndarray] = []
    fit = tag_windows.WindowScorer.fit.__func__  # type: ignore[attr-defined]

    def recorded(cls, keys, *args, **kwargs):
        fitted.append(keys)
        return fit(cls, keys, *args, **kwargs)

    monkeypatch.setattr(tag_windows.WindowScorer, "fit", classmethod(recorded))
    library.search(Query(text="rex", k=5))
    assert len(fitted[-1]) == 6
    stage = next(s for s in library.search_parts()[2] if isinstance(s, TagStage))
    assert stage.config.windows is not None
    stage.config = replace(stage.config, windows=replace(stage.config.windows, keys=4))
    library.search(Query(text="rex", k=5))
    boxed = [library.store.photos.by_path(p).hash for p in tagged[:5]]
    grids = library.store.grids.of(library.model.key, boxed)
    templates = [box_template(grids[h], photo.box) for h, photo in zip(boxed, world.tagged["rex"], strict=False)]
    assert len(fitted[-1]) == 4
    assert all(any(np.allclose(key, t, atol=1e-5) for t in templates) for key in fitted[-1])
    library.close()


def test_a_new_process_answers_from_the_fit_kept_in_the_library(tmp_path, tiny_encoder, world_photos, monkeypatch):
    """A command-line search, or the app after a restart, reads the tag's fit (and the candidates'
    window log-odds) kept by an earlier one and answers the same; a damaged file is fitted again."""
    world, tagged, _ = world_photos
    library = _rex_library(tmp_path, tiny_encoder, world, tagged)
    first = [(h.path, h.score) for h in library.search(Query(text="rex", k=20))]
    library.close()
    fits, scored = [], []
    fit, log_odds = tag_windows.WindowScorer.fit.__func__, tag_windows.WindowScorer.log_odds
    monkeypatch.setattr(
        tag_windows.WindowScorer, "fit", classmethod(lambda cls, *a, **k: fits.append(1) or fit(cls, *a, **k))
    )
    monkeypatch.setattr(
        tag_windows.WindowScorer, "log_odds", lambda scorer, grids: scored.append(len(grids)) or log_odds(scorer, grids)
    )
    library = Library(tmp_path / "lib", encoder=tiny_encoder)
    assert [(h.path, h.score) for h in library.search(Query(text="rex", k=20))] == first
    assert fits == [] and scored == []
    library.close()
    kept = list((tmp_path / "lib" / "tag-fits").glob("*.npz"))
    assert len(kept) == 1
    kept[0].write_bytes(b"not a fit")
    library = Library(tmp_path / "lib", encoder=tiny_encoder)
    assert [(h.path, h.score) for h in library.search(Query(text="rex", k=20))] == first
    assert fits == [1] and scored
    library.close()


def test_a_prepared_tag_answers_its_first_query_from_the_cache(tmp_path, tiny_encoder, world_photos, monkeypatch):
    """What the app does when a tag changes: the tag's scorers are fitted once, in the background,
    even when two threads ask at once; the first query then fits and scores nothing, answers as an
    unprepared library does, and preparing is not a search the history keeps."""
    import threading
    import time

    world, tagged, _ = world_photos
    library = _rex_library(tmp_path, tiny_encoder, world, tagged, "unprepared")
    unprepared = [(h.path, h.score) for h in library.search(Query(text="rex", k=20))]
    library.close()
    library = _rex_library(tmp_path, tiny_encoder, world, tagged)
    fits: list[int] = []
    fit, log_odds = tag_windows.WindowScorer.fit.__func__, tag_windows.WindowScorer.log_odds

    def slow_fit(cls, *args, **kwargs):
        fits.append(1)
        time.sleep(0.3)  # long enough for the second thread to arrive while this one fits
        return fit(cls, *args, **kwargs)

    scored: list[int] = []

    def counted(scorer, grids):
        scored.append(len(grids))
        return log_odds(scorer, grids)

    monkeypatch.setattr(tag_windows.WindowScorer, "fit", classmethod(slow_fit))
    monkeypatch.setattr(tag_windows.WindowScorer, "log_odds", counted)
    threads = [threading.Thread(target=library.prepare_tag, args=("rex",)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fits) == 1 and scored
    done = len(scored)
    assert [(h.path, h.score) for h in library.search(Query(text="rex", k=20))] == unprepared
    assert len(fits) == 1 and len(scored) == done
    library.prepare_tag("nobody")  # no photo carries it: nothing to fit
    library.prepare_tag("rex asleep")
    assert "rex asleep" not in library.store.queries.recent() and "rex" in library.store.queries.recent()
    assert len(fits) == 1
    library.close()
