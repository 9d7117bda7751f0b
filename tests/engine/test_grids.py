"""Patch grids kept per photo (engine/storage/grids.py) and the window cache that reads them
(engine/tag_windows.py): written with the vectors from the same model pass, kept across a
text-side model switch, absent (and harmless) in a library indexed before they existed."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import torch
from personal_world import make_concepts, personal_world, write_world

from engine import forward
from engine.library import DB_NAME, Library
from engine.search import Query
from engine.storage import grids as stored
from engine.tag_windows import box_key, window_sides, windows
from engine.tags import Highlight, add_tag


def test_windows_are_the_means_of_every_square_of_cells():
    rng = np.random.default_rng(0)
    grid = rng.normal(size=(8, 8, 5)).astype(np.float32)
    assert window_sides(8, 8) == [2, 3, 4] and window_sides(7, 7) == [2, 3, 4]
    got = windows(grid)
    want = [grid[i : i + s, j : j + s].mean((0, 1)) for s in (2, 3, 4) for i in range(9 - s) for j in range(9 - s)]
    want = np.stack(want) / np.linalg.norm(want, axis=1, keepdims=True)
    assert got.shape == (49 + 36 + 25, 5)
    assert np.allclose(got, want, atol=1e-5)
    # A box over the top-left quarter is the mean of those 16 cells; no box, all 64.
    quarter = grid[:4, :4].mean((0, 1))
    assert np.allclose(box_key(grid, (0.0, 0.0, 0.5, 0.5)), quarter / np.linalg.norm(quarter), atol=1e-5)
    whole = grid.mean((0, 1))
    assert np.allclose(box_key(grid, None), whole / np.linalg.norm(whole), atol=1e-5)


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
