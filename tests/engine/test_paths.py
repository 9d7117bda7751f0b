"""The one "is under folder" test, in Python and in SQL: exact, case-sensitive, no wildcards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.paths import is_inside, is_under, prefix_range
from engine.storage import Store

S = os.sep
# Folders whose names trip naive prefix tests: case, LIKE wildcards, spaces, unicode, prefixes.
FOLDER = f"{S}x{S}Pics 100%_ü"
SIBLINGS = [
    f"{S}x{S}pics 100%_ü",  # differs in case only
    f"{S}x{S}Pics 100%_ü2",  # longer name, same prefix
    f"{S}x{S}Pics 100xx_ü",  # what `%` and `_` would match as LIKE wildcards
    f"{S}x{S}Pics 100%_u",  # ü without its accent
    f"{S}x{S}Pics 100%",
]
INSIDE = [f"{FOLDER}{S}a.jpg", f"{FOLDER}{S}sub dir{S}b.jpg", f"{FOLDER}{S}日本{S}c.jpg"]


@pytest.mark.parametrize("sep", ["/", "\\"])
def test_is_under_uses_the_separator_it_is_given(sep: str):
    folder = FOLDER.replace(S, sep)
    assert is_under(folder, folder) and not is_inside(folder, folder)
    for path in INSIDE:
        assert is_inside(path.replace(S, sep), folder, sep)
        assert is_under(path.replace(S, sep), folder + sep, sep)  # a trailing separator is the same folder
    for other in SIBLINGS:
        assert not is_under(other.replace(S, sep), folder, sep)
        assert not is_under(other.replace(S, sep) + sep + "a.jpg", folder, sep)


def test_prefix_range_matches_exactly_the_inside_paths():
    low, high = prefix_range(FOLDER)
    for path in INSIDE:
        assert low <= path < high
    for other in SIBLINGS:
        for path in (other, other + S + "a.jpg"):
            assert not (low <= path < high), path
    assert not (low <= FOLDER < high)  # the folder itself is matched by equality, not the range


def test_sql_form_agrees_with_is_under(tmp_path: Path):
    store = Store(tmp_path / "library.db")
    try:
        paths = [*INSIDE, *(o + S + "a.jpg" for o in SIBLINGS)]
        for folder in [FOLDER, *SIBLINGS]:
            store.photos.add_folder(folder)
            store.photos.apply_scan(folder, [(p, 1, 1.0) for p in paths if is_under(p, folder)], [], [])
        assert len(store.photos.newest_first(None, None, None, None)) == len(paths)
        listed = {p.path for p in store.photos.newest_first(FOLDER, None, None, None)}
        assert listed == set(INSIDE)
        # Forgetting a folder the watcher saw deleted leaves its case-different sibling alone.
        store.photos.delete_under([FOLDER])
        left = {p.path for p in store.photos.newest_first(None, None, None, None)}
        assert left == {o + S + "a.jpg" for o in SIBLINGS}
    finally:
        store.close()
