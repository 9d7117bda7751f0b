"""The in-memory photo table: reloaded exactly when another writer changes photos or vectors, and
the search order's top-k selection, which must equal a full sort."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from engine.photo_table import PhotoTables
from engine.search import _order
from engine.storage import Store
from engine.storage.database import Database
from engine.store import PhotoUpdate

MODEL = "m"


def _add(store: Store, folder: str, names: list[str], model: str = MODEL, seed: int = 0) -> None:
    """Photos with a content hash each and a vector of `model`."""
    store.photos.apply_scan(folder, [(f"{folder}/{n}", 1, 0.0) for n in names], [], [])
    ids = store.photos.stats(folder)
    rng = np.random.default_rng(seed)
    updates = [PhotoUpdate(ids[f"{folder}/{n}"][0], f"hash-{n}") for n in names]
    vectors = {u.hash: rng.standard_normal(8).astype(np.float32) for u in updates if u.hash}
    store.save_results(model, updates, vectors)


def test_a_write_from_another_connection_reloads_the_table(tmp_path):
    path = tmp_path / "library.db"
    reader, writer = Store(path), Store(path)  # separate connections, as another process has
    reader.photos.add_folder("/p")
    _add(reader, "/p", ["a.jpg", "b.jpg"])
    tables = PhotoTables(reader, MODEL)
    first = tables.current()
    assert len(first) == 2 and tables.current() is first  # nothing changed: the same table

    writer.settings.set("unrelated", "1")
    writer.tags.add("hash-a.jpg", "cat", [])
    writer.vectors.add("other", {"hash-a.jpg": np.ones(8, np.float32)})  # another model's vectors
    assert tables.current() is first

    _add(writer, "/p", ["c.jpg"], seed=2)
    second = tables.current()
    assert len(second) == 3 and "/p/c.jpg" in second.row_of_path()

    writer.photos.record(
        [PhotoUpdate(writer.photos.stats("/p")["/p/a.jpg"][0], "hash-a.jpg", error="broken")]
    )
    third = tables.current()
    assert "/p/a.jpg" not in third.row_of_path() and len(third) == 2

    with writer.transaction():  # a write still open is not seen; once committed it is
        writer.photos.delete_under(["/p/b.jpg"])
        assert tables.current() is third
    assert "/p/b.jpg" not in tables.current().row_of_path()
    reader.close(), writer.close()


def test_a_read_only_library_made_before_the_counters_opens(tmp_path):
    from engine.storage import SCHEMAS

    path = tmp_path / "library.db"
    Database(path, [s for s in SCHEMAS if s.name != "changes"]).close()
    path.chmod(0o444)
    store = Store(path, read_only=True)
    assert store.changes.generation(MODEL) == (0, 0)
    store.close()


def test_scores_are_the_matrix_product_kept_for_the_same_vector(tmp_path):
    store = Store(tmp_path / "library.db")
    store.photos.add_folder("/p")
    _add(store, "/p", [f"{i}.jpg" for i in range(5)])
    table = PhotoTables(store, MODEL).current()
    v = np.arange(8, dtype=np.float32)
    scores = table.scores(v)
    np.testing.assert_allclose(scores, table.matrix @ v, rtol=1e-6)
    assert table.scores(v.copy()) is scores  # the same vector: the same product
    assert table.scores(v + 1) is not scores
    with pytest.raises(ValueError):
        scores[0] = 1.0  # shared by its callers: read-only
    store.close()


def _full_order(relevance, score, times, is_match, sort):
    primary = {"relevance": -relevance, "newest": -times, "oldest": times}[sort]
    return np.lexsort((-score, -relevance, np.where(is_match, primary, -relevance), ~is_match))


@pytest.mark.parametrize("seed", range(6))
def test_top_k_selection_equals_the_full_sort(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    # Few distinct values, so that every key has many ties to break.
    relevance = rng.integers(0, 6, n) / 5.0
    score = rng.integers(0, 4, n).astype(np.float32) / 4
    times = rng.integers(0, 5, n).astype(np.float64)
    is_match = relevance >= rng.choice([0.0, 0.5, 0.9, 1.1])
    for sort in ("relevance", "newest", "oldest"):
        full = _full_order(relevance, score, times, is_match, sort)
        for k in (0, 1, 7, 50, n - 1, n, n + 10):
            k = max(k, 0)
            np.testing.assert_array_equal(_order(relevance, score, times, is_match, sort, k), full[:k])


def test_top_k_selection_with_missing_values_equals_the_full_sort():
    rng = np.random.default_rng(7)
    times = rng.integers(0, 3, 500).astype(np.float64)
    times[rng.random(500) < 0.9] = np.nan
    relevance = rng.random(500)
    score = rng.random(500).astype(np.float32)
    is_match = relevance > 0.2
    for sort in ("newest", "oldest"):
        full = _full_order(relevance, score, times, is_match, sort)
        for k in (1, 20, 300):
            np.testing.assert_array_equal(_order(relevance, score, times, is_match, sort, k), full[:k])


def test_the_counters_are_bumped_inside_the_writing_transaction(tmp_path):
    path = tmp_path / "library.db"
    store = Store(path)
    store.photos.add_folder("/p")
    before = store.changes.generation(MODEL)
    with pytest.raises(RuntimeError), store.transaction():
        _add(store, "/p", ["a.jpg"])
        raise RuntimeError("rolled back")
    assert store.changes.generation(MODEL) == before  # rolled back with the rows
    _add(store, "/p", ["a.jpg"])
    other = sqlite3.connect(path)  # a plain connection sees the same counters
    assert dict(other.execute("SELECT name, count FROM changes").fetchall())["vectors m"] >= 1
    other.close(), store.close()


def test_orphans_are_marked_after_a_change_and_dropped_after_the_grace(tmp_path):
    store = Store(tmp_path / "library.db")
    store.photos.add_folder("/p")
    _add(store, "/p", ["a.jpg", "b.jpg"])
    assert store.vectors.drop_orphans(grace=10, now=100) == 0
    store.photos.delete_under(["/p/a.jpg"])
    assert store.vectors.drop_orphans(grace=10, now=200) == 0  # marked now, kept for the grace
    assert store.vectors.drop_orphans(grace=10, now=205) == 0  # nothing changed: not looked up again
    assert store.vectors.drop_orphans(grace=10, now=211) == 1  # the mark still counts
    assert store.vectors.known_hashes(MODEL) == {"hash-b.jpg"}
    store.photos.delete_under(["/p/b.jpg"])
    assert store.vectors.drop_orphans(grace=10, now=300) == 0
    _add(store, "/p", ["b.jpg"])  # it came back before the grace ran out: its vector stays
    assert store.vectors.drop_orphans(grace=10, now=400) == 0
    assert store.vectors.known_hashes(MODEL) == {"hash-b.jpg"}
    store.close()
