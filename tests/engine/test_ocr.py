"""The OCR pass: rendered text is read, text-free photos are skipped by the gate, real camera photos
without text add nothing, and the pass resumes, stops on request and follows renames.

OCR is slow on a small CPU, so one library of a few small photos is read once per module.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.ocr import OcrConfig, OcrPass, TextReader, text_margins
from engine.text_match import TextIndex
from tests.text_images import noise_background, render_text

DATA = Path(__file__).resolve().parent.parent / "data" / "photos" / "jpg"
LEAF = DATA / "mobile" / "jolla.jpg"  # a camera photo of a leaf, no text
PARK = DATA / "gps" / "DSCN0021.jpg"  # a camera photo of a park, no text

# name -> (the words drawn, how): several sizes, rotations, textured and photographic backgrounds.
TEXT_PHOTOS = {
    "bakery.png": ("BAKERY", dict(size=56, background=(640, 480, 1))),
    "harbour.jpg": ("Harbour Street", dict(size=26, background=LEAF, angle=12, position=(0.4, 0.3))),
    "station.png": ("STATION", dict(size=36, background=(480, 360, 2), angle=90)),
    "lemonade.png": ("Lemonade stand", dict(size=18, background=(640, 480, 3), plate=False, colour=(250, 250, 250))),
}
NO_TEXT = ("texture.png", "leaf.jpg", "park.jpg")


def _background(spec) -> Image.Image:
    if isinstance(spec, Path):
        image = Image.open(spec).convert("RGB")
        image.thumbnail((800, 800))
        return image
    w, h, seed = spec
    return noise_background((w, h), seed)


def write_photos(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (text, how) in TEXT_PHOTOS.items():
        how = {**how, "background": _background(how["background"])}
        render_text(text, **how).save(folder / name, quality=92)
    noise_background((800, 600), 9).save(folder / "texture.png")
    shutil.copy(LEAF, folder / "leaf.jpg")
    shutil.copy(PARK, folder / "park.jpg")


@pytest.fixture(scope="module")
def reader():
    reader = TextReader()
    yield reader
    reader.close()


@pytest.fixture(scope="module")
def read_library(tmp_path_factory, tiny_encoder, reader):
    """A library of the photos above, embedded and then read in the default (auto) mode."""
    from engine.library import Library

    root = tmp_path_factory.mktemp("ocr")
    write_photos(root / "photos")
    library = Library(root / "library", encoder=tiny_encoder, text_reader=reader)
    library.add_folders([root / "photos"])
    library.index()
    seen = []
    result = library.read_text(OcrConfig(mode="auto"), progress=seen.append)
    yield library, root / "photos", result, seen
    library.close()


def test_photos_with_text_are_read_and_found_by_a_word(read_library):
    library, photos, result, _ = read_library
    texts = {name: library.photo_text(photos / name) for name in TEXT_PHOTOS}
    for name, found in texts.items():
        assert found is not None and found.status == "read", name
        assert found.lines and all(0 <= x <= 1 and 0 <= y <= 1 for line in found.lines for x, y in line.box)
    index = TextIndex(library.store.texts.all())
    for name, (words, _) in TEXT_PHOTOS.items():
        for word in words.split():
            matches = index.match(word)
            best = max(matches, key=lambda h: matches[h].score)
            assert best == library.photo_text(photos / name).hash, (word, texts[name])  # type: ignore[union-attr]
    assert result.found == len(TEXT_PHOTOS)


def test_text_boxes_are_where_the_text_was_drawn(read_library):
    library, photos, _, _ = read_library
    found = library.photo_text(photos / "bakery.png")
    xs = [x for line in found.lines for x, _ in line.box]  # type: ignore[union-attr]
    ys = [y for line in found.lines for _, y in line.box]  # type: ignore[union-attr]
    # drawn centred: the box holds the middle of the picture and stays clear of the edges
    assert min(xs) < 0.5 < max(xs) and min(ys) < 0.5 < max(ys)
    assert min(xs) > 0.1 and max(xs) < 0.9 and min(ys) > 0.2 and max(ys) < 0.8


def test_photos_without_text_are_skipped_by_the_gate(read_library):
    library, photos, result, seen = read_library
    for name in NO_TEXT:
        found = library.photo_text(photos / name)
        assert found is not None and found.status == "skipped" and found.gate == "detection", name
    assert result.skipped == len(NO_TEXT)
    assert result.done == len(TEXT_PHOTOS) + len(NO_TEXT) and not result.cancelled
    assert [p.done for p in seen[:-1]] == list(range(1, result.done + 1))  # progress after every photo
    assert result.rate > 0


def test_mode_all_reads_skipped_photos_and_camera_photos_add_nothing(read_library):
    library, photos, _, _ = read_library
    before = library.store.texts.all()
    result = library.read_text(OcrConfig(mode="all", max_side=800))
    assert result.done == len(NO_TEXT) and result.skipped == 0  # the text photos are not read again
    for name in NO_TEXT:
        found = library.photo_text(photos / name)
        assert found is not None and found.status == "read" and found.lines == (), (name, found)
    assert library.store.texts.all() == before
    assert library.read_text(OcrConfig(mode="all")).done == 0  # nothing left


def test_the_pass_stops_when_asked_and_resumes(tmp_path, make_library, reader):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, word in enumerate(["PHARMACY", "LIBRARY", "GARAGE"]):
        render_text(word, size=48, background=noise_background((480, 360), i)).save(folder / f"{i}.png")
    library = make_library(text_reader=reader)
    library.add_folders([folder])
    library.index()
    cancel = threading.Event()
    cancel.set()
    stopped = library.read_text(cancel=cancel)
    assert stopped.cancelled and stopped.done == 0

    cancel.clear()

    def stop_after_first(p) -> None:
        if p.done >= 1:
            cancel.set()

    first = library.read_text(progress=stop_after_first, cancel=cancel)
    assert first.cancelled and first.done == 1
    rest = library.read_text()
    assert rest.done == 2 and not rest.cancelled
    assert sorted(library.store.texts.all().values()) == ["GARAGE", "LIBRARY", "PHARMACY"]


def test_a_renamed_photo_keeps_its_text_without_reading_it_again(tmp_path, make_library, reader):
    folder = tmp_path / "photos"
    folder.mkdir()
    render_text("BOOKSHOP", size=48, background=noise_background((480, 360), 5)).save(folder / "a.png")
    library = make_library(text_reader=reader)
    library.add_folders([folder])
    library.index()
    assert library.read_text().found == 1
    (folder / "a.png").rename(folder / "b.png")
    library.index()
    assert library.read_text().done == 0
    assert library.photo_text(folder / "b.png").text == "BOOKSHOP"  # type: ignore[union-attr]


def test_mode_off_reads_nothing(tmp_path, make_library):
    folder = tmp_path / "photos"
    folder.mkdir()
    render_text("CINEMA", size=48, background=noise_background((480, 360), 6)).save(folder / "a.png")
    library = make_library()
    library.add_folders([folder])
    library.index()
    assert library.read_text(OcrConfig(mode="off")).done == 0
    assert library.photo_text(folder / "a.png") is None


def test_vector_gate_reads_the_photos_whose_vector_says_text(tmp_path, make_library):
    """The zero-shot gate, on a stand-in text tower: text prompts point one way, background
    prompts another (a tiny random model knows nothing of text, so it cannot show this)."""
    from engine.ocr import TEXT_PROMPTS

    library = make_library()
    dim = library.encoder().dim
    text_dir, other_dir = np.eye(dim, dtype=np.float32)[:2]

    def encode_texts(texts: list[str]) -> np.ndarray:
        rows = [text_dir if any(p in t for p in TEXT_PROMPTS) else other_dir for t in texts]
        return np.stack(rows)

    photos = np.stack([text_dir * 0.8 + other_dir * 0.6, text_dir * 0.3 + other_dir * 0.95])
    margins = text_margins(photos, encode_texts)
    assert margins[0] > 0 > margins[1]
    with pytest.raises(ValueError):
        OcrPass(library.store, TextReader(), library.model.key, OcrConfig(gate="vector"))


def test_search_finds_photos_by_a_word_of_their_text(read_library):
    """Text joins the meaning in one ranking (a tiny random model's look says nothing here)."""
    from engine.search import Query

    library, photos, _, _ = read_library
    for query, name in [("harbour", "harbour.jpg"), ("bakerv", "bakery.png"), ("lemonade stand", "lemonade.png")]:
        top = library.find(Query(text=query, k=3)).hits[0]
        assert top.path == str(photos / name), query
        assert "text" in top.matched and top.match, query
    hits = library.find(Query(text="museum", k=10)).hits
    assert all("text" not in h.matched for h in hits)  # no photo shows the word
