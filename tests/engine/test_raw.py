"""Camera RAW files: DNGs written in the test from known sensor data, with and without a preview."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from PIL import Image

from engine.errors import PhotoError
from engine.photos import is_photo_path, open_image, read_metadata, thumbnail
from engine.raw import read_raw
from engine.scanner import walk_photos
from tests.rawfiles import dng_bytes, quadrants, write_dng


def corner_colours(image: Image.Image) -> tuple[str, str, str, str]:
    """Dominant colour name of the top-left, top-right, bottom-left and bottom-right corners."""
    a = np.asarray(image.convert("RGB"), dtype=np.float64)
    h, w = a.shape[:2]
    dy, dx = max(1, h // 8), max(1, w // 8)
    names = []
    for y, x in ((dy, dx), (dy, w - 2 * dx), (h - 2 * dy, dx), (h - 2 * dy, w - 2 * dx)):
        mean = a[y : y + dy, x : x + dx].reshape(-1, 3).mean(axis=0)
        names.append("grey" if mean.max() - mean.min() < 40 else ("red", "green", "blue")[int(mean.argmax())])
    return tuple(names)  # type: ignore[return-value]


UPRIGHT = ("red", "green", "blue", "grey")


@pytest.mark.parametrize("preview", [False, True])
def test_dng_decodes_to_the_scene_it_was_made_from(tmp_path, preview):
    path = write_dng(tmp_path / "shot.dng", quadrants(), preview=preview)
    image, meta = open_image(path, min_size=(64, 64))
    assert corner_colours(image) == UPRIGHT
    assert (meta.width, meta.height) == (384, 256)
    assert (meta.camera_make, meta.camera_model) == ("Acme", "Sensor One")
    assert meta.taken_at == dt.datetime(2021, 6, 5, 10, 11, 12).timestamp()
    picture = read_raw(path.read_bytes(), str(path), min_size=(64, 64))
    assert picture.source == ("preview" if preview else "demosaic")


def test_the_preview_is_used_only_when_it_is_large_enough(tmp_path):
    # A small preview of a different picture: seen for a small request, not for a large one.
    other = Image.new("RGB", (96, 64), (240, 240, 0))
    data = dng_bytes(quadrants(), preview=other)
    small = read_raw(data, "x.dng", min_size=(64, 48))
    assert small.source == "preview"
    assert np.asarray(small.image).reshape(-1, 3).mean(axis=0)[2] < 60  # yellow: the preview
    large = read_raw(data, "x.dng", min_size=(300, 200))
    assert large.source == "demosaic"
    assert corner_colours(large.image) == UPRIGHT
    assert large.image.width >= 300  # half size would be too small here: full demosaic


@pytest.mark.parametrize("preview", [False, True])
@pytest.mark.parametrize(
    ("orientation", "expected", "size"),
    [
        (3, ("grey", "blue", "green", "red"), (384, 256)),
        (6, ("blue", "red", "grey", "green"), (256, 384)),  # turn clockwise to view
        (8, ("green", "grey", "red", "blue"), (256, 384)),  # turn counter-clockwise to view
    ],
)
def test_orientation_comes_from_the_raw(tmp_path, preview, orientation, expected, size):
    path = write_dng(tmp_path / "turned.dng", quadrants(), orientation=orientation, preview=preview)
    image, meta = open_image(path, min_size=(64, 64))
    assert corner_colours(image) == expected
    assert (meta.width, meta.height) == size
    assert image.width < image.height if size[0] < size[1] else image.width > image.height
    assert read_metadata(path) == meta
    assert corner_colours(thumbnail(path, 100)) == expected


def test_without_min_size_a_raw_is_at_least_half_the_sensor(tmp_path):
    path = write_dng(tmp_path / "shot.dng", quadrants(), preview=False)
    image, _ = open_image(path)
    assert image.size == (192, 128)
    assert max(thumbnail(path, 50).size) == 50


def test_corrupt_and_truncated_raws_fail_with_a_reason(tmp_path):
    garbage = tmp_path / "garbage.nef"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    truncated = tmp_path / "truncated.dng"
    truncated.write_bytes(dng_bytes(quadrants(), preview=False)[:5000])
    empty = tmp_path / "empty.cr2"
    empty.write_bytes(b"")
    for path in (garbage, truncated, empty):
        with pytest.raises(PhotoError) as caught:
            open_image(path, min_size=(64, 64))
        assert caught.value.path == str(path)
        assert caught.value.reason
    with pytest.raises(PhotoError, match="empty file"):
        read_metadata(empty)
    with pytest.raises(PhotoError, match="RAW"):
        open_image(garbage)


def test_the_scanner_finds_raw_files_of_every_kind(tmp_path):
    names = ["a.dng", "b.CR2", "c.cr3", "d.nef", "e.arw", "f.raf", "g.orf", "h.RW2", "i.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    found = sorted(p.rsplit("/", 1)[1] for p, _, _ in walk_photos(str(tmp_path)))
    assert found == sorted(names[:-1])
    assert is_photo_path("IMG_0001.CR3") and not is_photo_path("notes.xmp")


def test_a_library_indexes_raws_and_reports_a_corrupt_one(make_library, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_dng(folder / "with_preview.dng", quadrants(), preview=True, orientation=6)
    write_dng(folder / "sensor_only.dng", quadrants(128, 192), preview=False)
    (folder / "broken.arw").write_bytes(b"II*\x00" + bytes(4000))
    library = make_library()
    library.add_folders([folder])
    library.index()
    status = library.status()
    assert (status.photos, status.failed, status.pending) == (2, 1, 0)
    assert [f.path for f in status.failures] == [str(folder / "broken.arw")]
    assert "RAW" in status.failures[0].reason
    turned = library.store.photos.by_path(str(folder / "with_preview.dng"))
    assert turned is not None and (turned.width, turned.height, turned.camera_make) == (256, 384, "Acme")
