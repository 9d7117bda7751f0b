"""engine.thumbnails: keyed by path, size and mtime; upright; atomic; no Qt needed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from engine.errors import PhotoError
from engine.thumbnails import ThumbnailCache


def test_thumbnail_is_cached_upright_and_renewed_on_change(sample_photos: Path, tmp_path: Path):
    src = sample_photos / "jpg" / "orientation" / "landscape_6.jpg"  # stored rotated, EXIF says turn
    photo = tmp_path / "p.jpg"
    shutil.copyfile(src, photo)
    cache = ThumbnailCache(tmp_path / "cache")

    first = cache.get(str(photo), 64)
    with Image.open(first) as im:
        thumb_size = im.size
    with Image.open(src) as raw:
        stored = raw.size
    assert max(thumb_size) == 64
    # orientation 6 means the stored pixels are turned: the upright thumbnail swaps the aspect
    assert (thumb_size[0] > thumb_size[1]) != (stored[0] > stored[1])
    assert cache.get(str(photo), 64) == first  # cached: same file
    assert cache.get(str(photo), 32) != first  # another size, another file

    os.utime(photo, (1_000_000, 1_000_000))  # edited on disk: a fresh thumbnail
    assert cache.get(str(photo), 64) != first
    assert not list((tmp_path / "cache").rglob(".tmp-*"))  # nothing half-written left behind

    assert cache.prune(0) == 3
    assert not list((tmp_path / "cache").rglob("*.jpg"))


def test_broken_photo_raises_photo_error(tmp_path: Path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    cache = ThumbnailCache(tmp_path / "cache")
    with pytest.raises(PhotoError):
        cache.get(str(bad), 64)
    assert not list((tmp_path / "cache").rglob("*.jpg"))
