"""The cut-outs closer looks keep for the next look (engine/cut_cache.py)."""

import numpy as np

from engine import cut_cache
from engine.cut_cache import CutOutCache

BOX = (0.1, 0.2, 0.5, 0.6)


def _looks(rng, dims=(8, 72)):
    return [rng.normal(size=d).astype(np.float32) for d in dims]


def test_kept_cut_outs_read_back_as_the_look_used_them(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "model-cut-outs.npz"
    cache = CutOutCache(path, "settings")
    assert cache.get("a", BOX) is None and cache.misses == 1
    encoded = _looks(rng)
    used = cache.put("a", BOX, encoded)
    for look, raw in zip(used, encoded, strict=True):  # int8 with a scale per row, unit length
        assert abs(np.linalg.norm(look) - 1) < 1e-5
        assert look @ raw / np.linalg.norm(raw) > 0.999
    assert cache.save()

    again = CutOutCache(path, "settings")
    read = again.get("a", BOX)
    assert read is not None and again.hits == 1
    for a, b in zip(read, used, strict=True):
        np.testing.assert_array_equal(a, b)
    assert again.get("a", (0.1, 0.2, 0.5, 0.61)) is None  # another place in the photo
    assert again.get("b", BOX) is None  # another photo
    # Written under other settings (another padding, template, decoded size): not read.
    assert CutOutCache(path, "other settings").get("a", BOX) is None


def test_the_most_recently_used_cut_outs_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(cut_cache, "MAX_ROWS", 2)
    rng = np.random.default_rng(1)
    path = tmp_path / "cut-outs.npz"
    first = CutOutCache(path, "s")
    for photo in "abc":
        first.put(photo, BOX, _looks(rng))
    first.save()  # the last two added
    second = CutOutCache(path, "s")
    assert [second.get(p, BOX) is not None for p in "abc"] == [False, True, True]
    third = CutOutCache(path, "s")
    assert third.get("c", BOX) is not None  # used again by the next look
    third.put("d", BOX, _looks(rng))
    third.save()
    fourth = CutOutCache(path, "s")
    assert [fourth.get(p, BOX) is not None for p in "abcd"] == [False, False, True, True]


def test_a_damaged_or_foreign_file_is_ignored(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "cut-outs.npz"
    path.write_bytes(b"PK\x03\x04 cut short")
    cache = CutOutCache(path, "s")
    assert cache.get("a", BOX) is None
    cache.put("a", BOX, _looks(rng))
    assert cache.save()  # replaced whole
    assert CutOutCache(path, "s").get("a", BOX) is not None
    # Cut-outs of another tower (other widths) are dropped once this one's are added.
    other = CutOutCache(path, "s")
    other.put("b", BOX, _looks(rng, dims=(16, 144)))
    assert other.get("a", BOX) is None
    other.save()
    kept = CutOutCache(path, "s")
    assert kept.get("a", BOX) is None and [len(v) for v in kept.get("b", BOX) or []] == [16, 144]


def test_nothing_is_written_without_a_file_or_anything_new(tmp_path):
    rng = np.random.default_rng(3)
    memory = CutOutCache(None, "s")
    memory.put("a", BOX, _looks(rng))
    assert memory.get("a", BOX) is not None and not memory.save()
    path = tmp_path / "cut-outs.npz"
    assert not CutOutCache(path, "s").save() and not path.exists()
