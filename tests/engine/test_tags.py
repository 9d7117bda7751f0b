"""Tags and highlights: storage keyed by content, validation, renames, and the search boost."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from synthetic import write_scenes

from engine.search import Query
from engine.tags import (
    Highlight,
    TagError,
    add_tag,
    list_tags,
    matching_tag_texts,
    remove_tag_everywhere,
    remove_tags,
    rename_tag,
    tag_texts,
    tags_of,
    words_besides,
)


def _scenes(make_library, folder: Path, **kwargs):
    out = write_scenes(folder, 40, colours=4)
    library = make_library(**kwargs)
    library.add_folders([folder])
    library.index()
    return library, out


@pytest.fixture
def scenes(make_library, tmp_path):
    return _scenes(make_library, tmp_path / "photos")


@pytest.fixture
def known_scenes(make_library, tmp_path, pretrained_encoder):
    """scenes indexed by the tiny model pretrained on scenes like them, which knows their colours as
    a pretrained CLIP knows what a photo shows (at random init the vectors hardly tell them apart)."""
    return _scenes(make_library, tmp_path / "photos", encoder=pretrained_encoder)


def test_tag_list_untag(scenes):
    library, photos = scenes
    path = photos[0][0]
    tag = add_tag(
        library.store, path, "  Rex   asleep on the sofa ", [Highlight("Rex", (0.1, 0.2, 0.5, 0.9))]
    )
    assert tag.text == "Rex asleep on the sofa" and tag.paths == (path,)
    assert tag.highlights == (Highlight("Rex", (0.1, 0.2, 0.5, 0.9)),)
    # Same text again: one tag; a new highlight of the same phrase replaces the old one.
    add_tag(library.store, path, "Rex asleep on the sofa", [Highlight("Rex", (0.0, 0.0, 0.5, 0.5))])
    add_tag(library.store, path, "Rex")
    add_tag(library.store, photos[1][0], "Rex")
    listed = list_tags(library.store)
    assert [(t.text, t.paths[0]) for t in listed] == [
        ("Rex", path),
        ("Rex", photos[1][0]),
        ("Rex asleep on the sofa", path),
    ]
    assert listed[2].highlights[0].box == (0.0, 0.0, 0.5, 0.5)
    assert listed[2].to_json()["highlights"] == [
        {"phrase": "Rex", "box": [0.0, 0.0, 0.5, 0.5], "mask": False}
    ]
    assert tag_texts(library.store) == {"Rex": 2, "Rex asleep on the sofa": 1}
    assert remove_tags(library.store, path, "Rex") == 1
    assert [t.text for t in tags_of(library.store, path)] == ["Rex asleep on the sofa"]
    assert remove_tags(library.store, path) == 1
    assert tags_of(library.store, path) == []
    with pytest.raises(TagError, match="has no tag 'Rex'"):
        remove_tags(library.store, path, "Rex")


def test_a_tag_is_renamed_or_removed_on_every_photo_and_merged_into_a_tag_of_that_name(scenes):
    library, photos = scenes
    (a, _), (b, _), (c, _) = photos[:3]
    add_tag(library.store, a, "Rexx", [Highlight("Rexx", (0.1, 0.1, 0.5, 0.5))])
    add_tag(library.store, b, "Rexx", [Highlight("Rexx", (0.2, 0.2, 0.6, 0.6))])
    add_tag(library.store, b, "Rex", [Highlight("Rex", (0.0, 0.0, 0.3, 0.3))])
    add_tag(library.store, c, "Rexx on the sofa", [Highlight("sofa", (0.5, 0.5, 1.0, 1.0))])
    assert rename_tag(library.store, " Rexx ", "Rex") == 2
    assert tag_texts(library.store) == {"Rex": 2, "Rexx on the sofa": 1}
    # Photo a's highlight follows the name; photo b keeps the box it had as "Rex".
    assert tags_of(library.store, a)[0].highlights == (Highlight("Rex", (0.1, 0.1, 0.5, 0.5)),)
    assert [(t.text, t.highlights) for t in tags_of(library.store, b)] == [
        ("Rex", (Highlight("Rex", (0.0, 0.0, 0.3, 0.3)),))
    ]
    assert rename_tag(library.store, "Rexx on the sofa", "Rex on the sofa") == 1
    assert tags_of(library.store, c)[0].highlights == (Highlight("sofa", (0.5, 0.5, 1.0, 1.0)),)
    for bad, new, message in (("Rexx", "Max", "No photo is tagged 'Rexx'"), ("Rex", " ", "needs some text")):
        with pytest.raises(TagError, match=message):
            rename_tag(library.store, bad, new)
    assert remove_tag_everywhere(library.store, "Rex") == 2
    assert tag_texts(library.store) == {"Rex on the sofa": 1}
    assert all(library.store.photos.by_path(p).hash for p in (a, b))  # the photos stay in the library
    with pytest.raises(TagError, match="No photo is tagged 'Rex'"):
        remove_tag_everywhere(library.store, "Rex")


@pytest.mark.parametrize(
    "text, highlights, message",
    [
        ("", [], "needs some text"),
        ("Rex", [Highlight("Max", (0, 0, 1, 1))], "'Max' does not occur in the tag 'Rex'"),
        ("Rex", [Highlight("Re", (0, 0, 1, 1))], "does not occur"),
        ("Rex", [Highlight("Rex", (0, 0, 1.5, 1))], "fractions between 0 and 1"),
        ("Rex", [Highlight("Rex", (0.5, 0, 0.5, 1))], "is empty"),
        ("Rex", [Highlight("Rex")], "needs a box or a mask"),
    ],
)
def test_bad_tags_are_refused(scenes, text, highlights, message):
    library, photos = scenes
    with pytest.raises(TagError, match=message):
        add_tag(library.store, photos[0][0], text, highlights)
    assert list_tags(library.store) == []


def test_only_indexed_library_photos_can_be_tagged(scenes, tmp_path):
    library, photos = scenes
    with pytest.raises(TagError, match="not in the library"):
        add_tag(library.store, tmp_path / "elsewhere.png", "Rex")
    new = Path(photos[0][0]).with_name("new.png")
    new.write_bytes(Path(photos[5][0]).read_bytes())
    library.scan()  # known but not embedded yet
    with pytest.raises(TagError, match="not indexed yet"):
        add_tag(library.store, new, "Rex")


def test_tags_survive_a_rename_and_follow_duplicates(scenes):
    library, photos = scenes
    old = photos[3][0]
    add_tag(library.store, old, "Rex", [Highlight("Rex", (0.2, 0.2, 0.6, 0.6))])
    moved = str(Path(old).with_name("renamed.png"))
    os.rename(old, moved)
    library.index()
    (tag,) = list_tags(library.store)
    assert tag.paths == (moved,) and tag.highlights[0].box == (0.2, 0.2, 0.6, 0.6)
    assert [t.text for t in tags_of(library.store, moved)] == ["Rex"]


def test_query_matching_tags():
    from engine.tags import _contains, _words, phrase_in_text

    assert phrase_in_text("on the sofa", "Rex asleep on the Sofa")
    assert not phrase_in_text("so", "Rex asleep on the sofa")
    assert _contains(_words("Rex on the beach"), _words("rex"))
    # What a query says besides the tags it names keeps its own meaning in search.
    assert words_besides("Rex on the beach", ["Rex"]) == "on the beach"
    assert words_besides("rex and zorp at dusk", ["rex", "zorp"]) == "and at dusk"
    assert words_besides("a photo of rex", ["rex"]) == ""  # stopwords alone say nothing
    assert words_besides("sofa", ["Rex asleep on the sofa"]) == ""


def test_a_query_names_the_longest_tags_it_holds(known_scenes):
    """A caption the query spells out is what it asks for, not the shorter tags inside it."""
    library, photos = known_scenes
    for (path, _), text in zip(photos, ["Rex", "Rex on the beach", "beach", "Max", "Rex asleep"], strict=False):
        add_tag(library.store, path, text)
    assert matching_tag_texts(library.store, "rex on the beach") == ["Rex on the beach"]
    assert matching_tag_texts(library.store, "Rex and Max on the beach") == ["Max", "Rex", "beach"]
    # A query inside captions still names them, beside the tag it spells out.
    assert matching_tag_texts(library.store, "Rex") == ["Rex", "Rex asleep", "Rex on the beach"]
    hits = library.search(Query(text="Rex on the beach", k=40))
    tagged = [h.path for h in hits if h.relevance == hits[0].relevance]
    assert tagged == [photos[1][0]], [(h.path, h.relevance) for h in hits[:3]]
    # A query of several tags asks for them all: the photo of both first, then the photo of one,
    # still a match (before, the tags' union: both photos alike).
    add_tag(library.store, photos[0][0], "Max")
    hits = library.search(Query(text="Rex and Max", k=40))
    assert [h.path for h in hits[:2]] == [photos[0][0], photos[3][0]]
    assert hits[0].relevance > hits[1].relevance > hits[2].relevance and hits[1].match


def test_search_puts_tagged_photos_first_and_boosts_look_alikes(known_scenes):
    library, photos = known_scenes
    reds = [p for p, c in photos if c == "red"]
    plain = library.search(Query(text="Rex", k=40))
    for path in reds[:4]:
        add_tag(library.store, path, "Rex")
    assert matching_tag_texts(library.store, "Rex on the beach") == ["Rex"]
    assert matching_tag_texts(library.store, "the") == []
    tagged = library.search(Query(text="Rex", k=40))
    assert {h.path for h in tagged[:4]} == set(reds[:4])
    assert all(h.match and h.matched == ("tag",) for h in tagged[:4])
    assert [h.relevance for h in tagged] == sorted((h.relevance for h in tagged), reverse=True)

    def mean_rank(hits):
        order = [h.path for h in hits if h.path not in reds[:4]]
        return np.mean([order.index(p) + 1 for p in reds[4:]])

    # Untagged red scenes look like the tagged ones: the tag's scorers lift them.
    assert mean_rank(tagged) < mean_rank(plain) - 5, (mean_rank(plain), mean_rank(tagged))
    # No tag named: no tag signal.
    assert not any("tag" in h.matched for h in library.search(Query(text="a blue square", k=40)))
    # Filters still hold for the tagged photos.
    folder = str(Path(reds[0]).parent / "nowhere")
    assert library.search(Query(text="Rex", k=10, after=4e9)) == []
    assert library.search(Query(text="Rex", k=10, folder=folder)) == []
