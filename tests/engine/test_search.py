"""The search pipeline: metadata words, sort among matches, feedback marks, counts and stages."""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synthetic import write_scenes

from engine.errors import QueryError
from engine.query_words import file_tokens, folder_tokens, parse_words
from engine.search import Evidence, Query


def _set_time(path: str, when: datetime) -> None:
    t = time.mktime(when.timetuple())
    os.utime(path, (t, t))


@pytest.fixture
def dated(make_library, tmp_path):
    """24 scenes in two folders (beach/, garden/), taken in June 2019 or March 2021, one file
    named like a camera model."""
    root = tmp_path / "photos"
    beach = write_scenes(root / "Beach trip", 12, colours=4, seed=1)
    garden = write_scenes(root / "garden", 12, colours=4, seed=2)
    paths = [p for p, _ in beach + garden]
    special = str(Path(paths[5]).with_name("Canon_40D.png"))
    os.rename(paths[5], special)
    paths[5] = special
    for i, path in enumerate(paths):
        _set_time(path, datetime(2019, 6, 10 + i % 10) if i % 2 == 0 else datetime(2021, 3, 1 + i % 20))
    library = make_library()
    library.add_folders([root])
    library.index()
    return library, paths


def test_query_words_are_read_as_dates_and_names():
    words = parse_words("beach June 2019")
    assert (words.rest, words.years, words.months, words.dates) == ("beach", (2019,), (6,), ("June", "2019"))
    assert parse_words("you may see it").months == ()  # "may" in a sentence is no month
    assert parse_words("May").months == (5,)
    assert parse_words("2019").rest == ""
    assert file_tokens("/x/Canon_40D.jpg") == {"canon", "40d"}
    assert folder_tokens("/lib/photos/Beach trip/a.png", ["/lib/photos"]) == {"photos", "beach", "trip"}


def test_a_query_naming_a_file_finds_it_first(dated):
    library, paths = dated
    results = library.find(Query(text="Canon_40D", k=5))
    assert results.hits[0].path == paths[5]
    assert results.hits[0].match and results.hits[0].matched == ("filename",)
    assert results.hits[0].relevance > 0.8


def test_a_query_naming_a_folder_finds_its_photos_first(dated):
    library, paths = dated
    results = library.find(Query(text="beach", k=24))
    assert {h.path for h in results.hits[:12]} == set(paths[:12])
    assert all("folder" in h.matched and h.match for h in results.hits[:12])


def test_year_and_month_words_match_when_photos_were_taken(dated):
    library, paths = dated
    june_2019 = {p for i, p in enumerate(paths) if i % 2 == 0}
    for text in ("2019", "June", "june 2019"):
        results = library.find(Query(text=text, k=24))
        assert {h.path for h in results.match_hits} == june_2019, text
        assert all(h.matched == ("date",) for h in results.match_hits)
        assert results.matches == 12 and results.weaker == 12
    # Date words with a meaning: matches only from then, and the dates are reported.
    results = library.find(Query(text="garden 2021", k=24))
    garden_2021 = {p for i, p in enumerate(paths) if i >= 12 and i % 2 == 1}
    assert {h.path for h in results.match_hits} == garden_2021
    assert all(set(h.matched) == {"folder", "date"} for h in results.match_hits)
    assert results.words.dates == ("2021",)


def test_matches_sort_by_date_and_weaker_results_follow(dated):
    library, paths = dated
    for sort in ("newest", "oldest"):
        hits = library.find(Query(text="beach", k=24, sort=sort)).hits
        matches = [h for h in hits if h.match]
        times = [h.photo.taken_at or os.path.getmtime(h.path) for h in matches]
        assert times == sorted(times, reverse=sort == "newest")
        assert all(h.match for h in hits[: len(matches)])  # matches first, then the weaker ones
        weaker = hits[len(matches) :]
        assert [h.relevance for h in weaker] == sorted((h.relevance for h in weaker), reverse=True)
    with pytest.raises(QueryError, match="sort"):
        library.find(Query(text="beach", sort="random"))


def test_k_caps_the_hits_but_not_the_counts(dated):
    library, _ = dated
    results = library.find(Query(text="2019", k=3))
    assert len(results.hits) == 3 and results.matches == 12 and results.weaker == 12


def test_marks_settle_marked_photos_and_move_look_alikes(dated):
    library, paths = dated
    base = library.find(Query(text="a red circle", k=24))
    worst = base.hits[-1].path
    best = base.hits[0].path
    marked = library.find(Query(text="a red circle", k=24, likes=(worst,), unlikes=(best,)))
    by_path = {h.path: h for h in marked.hits}
    assert by_path[worst].match and by_path[worst].relevance > 0.99
    assert not by_path[best].match and by_path[best].relevance < 0.01
    # A photo identical in content to a liked one rises with it.
    ranks = {h.path: i for i, h in enumerate(marked.hits)}
    assert ranks[worst] == 0
    with pytest.raises(QueryError, match="not an indexed photo"):
        library.find(Query(text="a red circle", likes=("/nowhere.png",)))
    # Liked photos alone are a query: "more like these".
    alone = library.find(Query(likes=(worst,), k=24))
    assert alone.hits[0].path == worst


def test_a_stage_is_one_object_added_to_the_list(dated):
    library, paths = dated

    class Everything:
        def evidence(self, request, pool):
            return Evidence(np.full(len(pool), 100.0), "text", np.ones(len(pool), bool))

    _, _, stages = library.search_parts()
    stages.append(Everything())
    try:
        results = library.find(Query(text="a dog", k=30))
    finally:
        stages.pop()
    assert results.matches == len(paths) and results.weaker == 0
    assert all("text" in h.matched for h in results.hits)


def test_folder_and_date_filters_still_hold(dated):
    library, paths = dated
    folder = str(Path(paths[0]).parent)
    hits = library.search(Query(text="a red circle", k=30, folder=folder))
    assert {h.path for h in hits} == set(paths[:12])
    cut = time.mktime(datetime(2020, 1, 1).timetuple())
    hits = library.search(Query(text="a red circle", k=30, after=cut))
    assert {h.path for h in hits} == {p for i, p in enumerate(paths) if i % 2 == 1}


def test_searches_are_remembered_as_past_searches(dated):
    library, _ = dated
    library.find(Query(text="red things 2019"))
    library.find(Query(text="June"))  # only a date: nothing to remember
    library.find(Query(text="a blue square"))
    assert library.store.queries.recent() == ["a blue square", "red things"]
    commits = library.store.db.commits
    library.find(Query(text="a blue square", sort="newest"))  # the same search re-sorted: no write
    assert library.store.db.commits == commits
    for i in range(205):
        library.store.queries.record(f"query {i}", now=1e10 + i)
    kept = library.store.queries.recent()
    assert len(kept) == 200 and kept[0] == "query 204" and "red things" not in kept


def test_a_query_naming_a_camera_finds_the_photos_it_took(make_library, sample_photos, tmp_path):
    """From the EXIF make and model, whatever the files are called; "taken with my" asks nothing.
    A camera named by an everyday word ("apple") is meant only beside "camera", "taken" or "shot"."""
    folder = tmp_path / "photos"
    folder.mkdir()
    originals = {"a": "Nikon_D70", "b": "Nikon_COOLPIX_P1", "c": "Canon_40D", "d": "PaintTool_sample"}
    for name, original in originals.items():
        shutil.copyfile(sample_photos / "jpg" / f"{original}.jpg", folder / f"{name}.jpg")
    iphone = Image.open(folder / "d.jpg")
    exif = iphone.getexif()
    exif[271], exif[272] = "Apple", "iPhone 12"  # make, model
    iphone.save(folder / "e.jpg", exif=exif)
    library = make_library()
    library.add_folders([folder])
    library.index()

    def matched(text: str) -> list[str]:
        hits = library.find(Query(text=text, k=4)).hits
        return sorted(Path(h.path).stem for h in hits if "camera" in h.matched and h.match)

    assert matched("Nikon") == ["a", "b"]
    assert matched("taken with my nikon d70") == ["a"]
    assert matched("Canon EOS 40D") == ["c"]
    assert matched("canon d70") == [] and matched("camera") == [] and matched("a dog") == []
    assert matched("apple") == [] and matched("an apple camera") == ["e"] and matched("iPhone") == ["e"]
