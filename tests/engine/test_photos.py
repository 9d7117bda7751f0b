"""engine.photos on the real sample photos and on small images made here."""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, TiffImagePlugin

from engine import photos
from engine.errors import PhotoError
from engine.photos import (
    MAX_PIXELS,
    SUPPORTED_SUFFIXES,
    Exposure,
    PhotoMeta,
    is_photo_path,
    open_image,
    read_exposure,
    read_metadata,
    thumbnail,
)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "photos"
SAMPLE_FILES = sorted(
    p.relative_to(SAMPLES).as_posix()
    for p in SAMPLES.rglob("*")
    if p.suffix.lower() in {".jpg", ".jpeg", ".heic", ".heif", ".tif", ".tiff"}
)
R = TiffImagePlugin.IFDRational


def _encode(im: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _jpeg_with_exif(ifd0: dict | None = None, exif_ifd: dict | None = None, gps: dict | None = None) -> bytes:
    exif = Image.Exif()
    exif.update(ifd0 or {})
    if exif_ifd:
        exif.get_ifd(0x8769).update(exif_ifd)
    if gps:
        exif.get_ifd(0x8825).update(gps)
    return _encode(Image.new("RGB", (16, 8), "gray"), "JPEG", exif=exif)


def _small(im: Image.Image) -> np.ndarray:
    size = (32, 24) if im.width >= im.height else (24, 32)
    return np.asarray(im.convert("L").resize(size, Image.Resampling.BOX), dtype=np.float64)


def _same_picture(a: Image.Image, b: Image.Image) -> float:
    """Correlation of downscaled gray pixels: about 0.99 for one picture decoded two ways, at most
    0.67 for the orientation samples shown mirrored, flipped or rotated. Insensitive to the small
    brightness differences between the orientation samples."""
    x, y = _small(a), _small(b)
    assert x.shape == y.shape
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))


# -- paths ---------------------------------------------------------------------------------------


def test_suffixes_and_photo_paths() -> None:
    assert {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif"} <= (
        SUPPORTED_SUFFIXES
    )
    assert all(s == s.lower() and s.startswith(".") for s in SUPPORTED_SUFFIXES)
    assert is_photo_path("/a/b/IMG_0001.JPG")
    assert is_photo_path(Path("x.HeIc"))
    assert not is_photo_path("/a/b/.hidden.jpg")
    assert not is_photo_path("/a/b/._IMG_0001.jpg")  # macOS resource forks
    assert not is_photo_path("notes.txt")
    assert not is_photo_path("jpg")
    assert not is_photo_path("/a/b.jpg/")  # a folder named like a photo


# -- the sample photos ---------------------------------------------------------------------------


def test_samples_are_present(sample_photos: Path) -> None:
    assert sample_photos == SAMPLES
    assert len(SAMPLE_FILES) >= 40


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_every_sample_decodes_to_upright_rgb(sample_photos: Path, name: str) -> None:
    # All samples, including jpg/invalid/*, have intact pixel data (checked by
    # eye): their damage is in the metadata that makes naive EXIF readers loop or crash. So every one
    # must decode, with the metadata read without an exception or a hang.
    image, meta = open_image(sample_photos / name)
    assert image.mode == "RGB"
    assert image.size == (meta.width, meta.height)
    assert 1 <= meta.orientation <= 8
    assert read_metadata(sample_photos / name) == meta


def test_broken_samples_keep_their_readable_metadata(sample_photos: Path) -> None:
    sizes = {p.name: read_metadata(p) for p in sorted((sample_photos / "jpg/invalid").glob("*.jpg"))}
    assert {n: (m.width, m.height) for n, m in sizes.items()} == {
        "image00971.jpg": (636, 227),
        "image01088.jpg": (425, 120),
        "image01137.jpg": (88, 64),
        "image01551.jpg": (61, 58),
        "image01713.jpg": (49, 500),
        "image01980.jpg": (284, 25),
        "image02206.jpg": (65, 65),
    }


@pytest.mark.parametrize("kind", ["landscape"])
def test_all_eight_orientations_come_out_the_same_upright_picture(sample_photos: Path, kind: str) -> None:
    folder = sample_photos / "jpg/orientation"
    images = {}
    for n in range(1, 9):
        image, meta = open_image(folder / f"{kind}_{n}.jpg")
        assert meta.orientation == n
        assert image.size == (meta.width, meta.height) == ((600, 450) if kind == "landscape" else (450, 600))
        images[n] = image
    for n in range(2, 9):
        assert _same_picture(images[n], images[1]) > 0.95, n
    # The measure does tell a wrong way up: a mirror image or the stored pixels score far lower.
    assert _same_picture(images[1].transpose(Image.Transpose.FLIP_LEFT_RIGHT), images[1]) < 0.8
    with Image.open(folder / f"{kind}_3.jpg") as stored:
        assert _same_picture(stored.convert("RGB"), images[1]) < 0.8


def test_min_size_is_honoured_after_rotation(sample_photos: Path) -> None:
    # landscape_6 is stored 450x600 and shown 600x450. For an upright request of 100x300 a decoder
    # that forgot to swap would ask libjpeg for 100x300 stored, decode at 1/2 and return 300x225.
    path = sample_photos / "jpg/orientation/landscape_6.jpg"
    image, meta = open_image(path, min_size=(100, 300))
    assert image.width >= 100 and image.height >= 300
    assert (meta.width, meta.height) == (600, 450)
    image, meta = open_image(path, min_size=(150, 110))  # room for a 1/4 decode
    assert 150 <= image.width < 300 and 110 <= image.height < 225
    assert (meta.width, meta.height) == (600, 450)
    full, _ = open_image(path)
    assert _same_picture(image, full) > 0.95  # same picture, same way up


def test_min_size_decodes_large_jpeg_cheaply(sample_photos: Path) -> None:
    data = (sample_photos / "jpg/mobile/jolla.jpg").read_bytes()
    image, meta = open_image(data, min_size=(224, 224))
    assert (meta.width, meta.height) == (3264, 2448)
    assert min(image.size) >= 224 and max(image.size) <= 3264 // 4
    assert abs(image.width / image.height - 3264 / 2448) < 0.02


def test_min_size_reduces_other_formats(tmp_path: Path) -> None:
    gradient = np.tile(np.linspace(0, 255, 800, dtype=np.uint8), (600, 1))
    path = tmp_path / "big.png"
    Image.fromarray(gradient).save(path)
    image, meta = open_image(path, min_size=(100, 100))
    assert (meta.width, meta.height) == (800, 600)
    assert 100 <= image.height < 600 and 100 <= image.width < 800
    row = np.asarray(image)[image.height // 2, :, 0].astype(int)
    assert row[0] < 20 and row[-1] > 235 and (np.diff(row) >= 0).all()


def test_gps_of_the_sample_photos(sample_photos: Path) -> None:
    for path in sorted((sample_photos / "jpg/gps").glob("*.jpg")):
        meta = read_metadata(path)
        assert meta.latitude is not None and 43.46 < meta.latitude < 43.47, path.name  # Tuscany
        assert meta.longitude is not None and 11.87 < meta.longitude < 11.89, path.name
    kodak = read_metadata(sample_photos / "jpg/Kodak_CX7530.jpg")  # Kenya, just south of the equator
    assert kodak.latitude == pytest.approx(-0.3713, abs=1e-3)
    assert kodak.longitude == pytest.approx(36.0564, abs=1e-3)
    assert read_metadata(sample_photos / "jpg/Canon_40D.jpg").latitude is None


def test_gps_signs_and_nonsense() -> None:
    south_west = _jpeg_with_exif(
        gps={1: "S", 2: (R(33, 1), R(51, 1), R(3540, 100)), 3: "W", 4: (R(151, 1), R(12, 1), R(0, 1))}
    )
    meta = read_metadata(south_west)
    assert meta.latitude == pytest.approx(-(33 + 51 / 60 + 35.4 / 3600))
    assert meta.longitude == pytest.approx(-(151 + 12 / 60))
    nonsense = [
        {
            1: "N",
            2: (R(33, 0), R(51, 1), R(0, 1)),
            3: "E",
            4: (R(151, 1), R(12, 1), R(0, 1)),
        },  # 0 denominator
        {1: "N", 2: (R(95, 1), R(0, 1), R(0, 1)), 3: "E", 4: (R(151, 1), R(12, 1), R(0, 1))},  # > 90 degrees
        {1: "N", 2: (R(33, 1), R(75, 1), R(0, 1)), 3: "E", 4: (R(151, 1), R(12, 1), R(0, 1))},  # 75 minutes
        {1: "N", 2: (R(0, 1), R(0, 1), R(0, 1)), 3: "E", 4: (R(0, 1), R(0, 1), R(0, 1))},  # no fix
        {1: "N", 2: (R(33, 1), R(51, 1), R(0, 1))},  # latitude alone
    ]
    for gps in nonsense:
        meta = read_metadata(_jpeg_with_exif(gps=gps))
        assert (meta.latitude, meta.longitude) == (None, None), gps


def test_heic_decodes_with_size_date_and_gps(sample_photos: Path) -> None:
    image, meta = open_image(sample_photos / "heic/IMG_5195.HEIC", min_size=(224, 224))
    assert (meta.width, meta.height) == (2566, 3313)
    assert image.mode == "RGB" and min(image.size) >= 224 and max(image.size) < 3313
    assert abs(image.width / image.height - 2566 / 3313) < 0.02
    assert (meta.camera_make, meta.camera_model) == ("Apple", "iPhone 11 Pro Max")
    # 2021:04:11 15:47:53 with OffsetTimeOriginal -05:00 and SubSecTimeOriginal 054
    expected = datetime(2021, 4, 11, 20, 47, 53, 54000, tzinfo=timezone.utc).timestamp()
    assert meta.taken_at == pytest.approx(expected)
    assert meta.latitude == pytest.approx(39.0513, abs=1e-3)
    assert meta.longitude == pytest.approx(-94.2888, abs=1e-3)  # west is negative


def test_heic_without_pillow_heif_is_reported(sample_photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photos, "HEIF_AVAILABLE", False)
    formats = tuple(f for f in photos._formats() if f != "HEIF")
    monkeypatch.setattr(photos, "_formats", lambda: formats)
    data = (sample_photos / "heic/IMG_5195.HEIC").read_bytes()
    for source in (sample_photos / "heic/IMG_5195.HEIC", data):
        with pytest.raises(PhotoError) as err:
            open_image(source)
        assert err.value.reason == "HEIC support not installed"


def test_camera_and_date_of_canon_40d(sample_photos: Path) -> None:
    meta = read_metadata(sample_photos / "jpg/Canon_40D.jpg")
    assert (meta.camera_make, meta.camera_model) == ("Canon", "Canon EOS 40D")
    assert meta.taken_at == time.mktime((2008, 5, 30, 15, 56, 1, 0, 0, -1))  # DateTimeOriginal, local time


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset")
def test_dates_without_offset_are_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _jpeg_with_exif(exif_ifd={0x9003: "2020:01:02 03:04:05"})
    utc = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()
    try:
        monkeypatch.setenv("TZ", "EST5")  # POSIX: five hours west of UTC, no tz database needed
        time.tzset()
        assert read_metadata(data).taken_at == utc + 5 * 3600
    finally:
        monkeypatch.undo()
        time.tzset()


def test_date_offsets_fallbacks_and_invalid_dates() -> None:
    with_offset = _jpeg_with_exif(exif_ifd={0x9003: "2020:01:02 03:04:05", 0x9011: "+02:00"})
    assert (
        read_metadata(with_offset).taken_at == datetime(2020, 1, 2, 1, 4, 5, tzinfo=timezone.utc).timestamp()
    )
    # An unset DateTimeOriginal falls back to DateTimeDigitized, then to IFD0 DateTime.
    digitized = _jpeg_with_exif(
        exif_ifd={0x9003: "0000:00:00 00:00:00", 0x9004: "2019:07:08 09:10:11", 0x9012: "Z"}
    )
    assert read_metadata(digitized).taken_at == time.mktime((2019, 7, 8, 9, 10, 11, 0, 0, -1))
    fallback = _jpeg_with_exif(ifd0={0x0132: "2018:03:04 05:06:07"}, exif_ifd={0x9003: "2018:13:45 99:00:00"})
    assert read_metadata(fallback).taken_at == time.mktime((2018, 3, 4, 5, 6, 7, 0, 0, -1))
    for junk in ("0000:00:00 00:00:00", "    :  :     :  :  ", "yesterday", ""):
        assert read_metadata(_jpeg_with_exif(exif_ifd={0x9003: junk})).taken_at is None, junk


def test_make_and_model_lose_nuls_and_padding() -> None:
    meta = read_metadata(
        _jpeg_with_exif(ifd0={0x010F: "ACME\x00\x00  ", 0x0110: "  X1 Pro \x00junk", 0x0112: 6})
    )
    assert (meta.camera_make, meta.camera_model) == ("ACME", "X1 Pro")
    assert (meta.width, meta.height, meta.orientation) == (8, 16, 6)
    blank = read_metadata(_jpeg_with_exif(ifd0={0x010F: "\x00\x00", 0x0110: "   "}))
    assert (blank.camera_make, blank.camera_model) == (None, None)


def test_exposure_of_real_cameras(sample_photos: Path) -> None:
    assert read_exposure(sample_photos / "jpg/Canon_40D.jpg") == Exposure(1 / 160, 7.1, 100, 135.0)
    nikon = read_exposure(sample_photos / "jpg/Nikon_D70.jpg")
    assert nikon == Exposure(1 / 200, 9.0, 200, 100.0, focal_35mm=150)
    phone = read_exposure(sample_photos / "heic/IMG_5195.HEIC")
    assert phone.lens is not None and phone.lens.startswith("iPhone 11 Pro Max") and phone.focal_35mm == 26
    # No ExposureTime, only the APEX shutter speed: 2 ** -Tv seconds.
    fuji = read_exposure(sample_photos / "jpg/Fujifilm_FinePix6900ZOOM.jpg")
    assert fuji.seconds is not None and 1 / 400 < fuji.seconds < 1 / 300 and fuji.f_number == 4.0
    assert read_exposure(sample_photos / "jpg/orientation/landscape_3.jpg") == Exposure()  # EXIF, no exposure
    with pytest.raises(PhotoError):
        read_exposure(b"not a photo", path_for_errors="x.jpg")


def test_exposure_ignores_nonsense() -> None:
    nonsense = {0x829A: R(0, 0), 0x829D: R(-2, 1), 0x8827: (400, 800), 0xA405: 0}
    odd = read_exposure(_jpeg_with_exif(exif_ifd=nonsense))
    assert odd == Exposure(iso=400)


# -- colour conversions --------------------------------------------------------------------------


def test_rgba_is_composited_onto_white() -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    rgba.putpixel((1, 1), (0, 0, 255, 255))
    rgba.putpixel((2, 2), (0, 0, 0, 128))
    image, _ = open_image(_encode(rgba))
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((1, 1)) == (0, 0, 255)
    assert all(abs(int(c) - 127) <= 1 for c in np.asarray(image)[2, 2])
    image, _ = open_image(_encode(Image.new("LA", (4, 4), (0, 0))))
    assert image.getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency(fmt: str) -> None:
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putpixel((1, 1), 1)
    image, _ = open_image(_encode(pal, fmt, transparency=0))
    assert image.getpixel((0, 0)) == (255, 255, 255)  # transparent black shows white
    assert image.getpixel((1, 1)) == (255, 0, 0)
    opaque, _ = open_image(_encode(pal, fmt))
    assert opaque.getpixel((0, 0)) == (0, 0, 0)


def test_png_transparent_colour_key() -> None:
    image, _ = open_image(_encode(Image.new("RGB", (4, 4), (1, 2, 3)), transparency=(1, 2, 3)))
    assert image.getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_and_float_gray_are_scaled_not_clipped() -> None:
    mid = Image.fromarray(np.full((8, 8), 32768, np.uint16))
    assert mid.mode.startswith("I;16")
    image, _ = open_image(_encode(mid))
    assert image.getpixel((0, 0)) == (128, 128, 128)
    ramp = Image.fromarray(np.tile(np.arange(0, 65536, 4096, dtype=np.uint16), (4, 1)))
    values = np.asarray(open_image(_encode(ramp))[0])[0, :, 0].astype(int)
    assert values[0] == 0 and 230 < values[-1] < 245 and (np.diff(values) > 0).all()
    deep = Image.fromarray(np.full((8, 8), 40000, np.int32))
    assert deep.mode == "I"
    assert open_image(_encode(deep, "TIFF"))[0].getpixel((0, 0)) == (156, 156, 156)
    unit = Image.fromarray(np.full((8, 8), 0.5, np.float32))
    assert open_image(_encode(unit, "TIFF"))[0].getpixel((0, 0)) == (128, 128, 128)


def test_cmyk_grayscale_and_bilevel() -> None:
    red = open_image(_encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95))[0]
    r, g, b = (int(c) for c in np.asarray(red)[8, 8])
    assert red.mode == "RGB" and r > 240 and g < 15 and b < 15
    assert open_image(_encode(Image.new("L", (4, 4), 77), "JPEG"))[0].getpixel((0, 0)) == (77, 77, 77)
    assert open_image(_encode(Image.new("1", (4, 4), 1)))[0].getpixel((0, 0)) == (255, 255, 255)


def test_first_frame_of_animations_and_first_page_of_tiff() -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue", "green")]
    for fmt in ("GIF", "WEBP", "TIFF"):
        data = _encode(
            frames[0],
            fmt,
            save_all=True,
            append_images=frames[1:],
            **({"lossless": True} if fmt == "WEBP" else {}),
        )
        with Image.open(io.BytesIO(data)) as im:
            assert getattr(im, "n_frames", 1) == 3, fmt
        image, _ = open_image(data)
        assert image.getpixel((4, 4)) == (255, 0, 0), fmt


# -- failures ------------------------------------------------------------------------------------


def _reason(source: object, **kw: object) -> str:
    with pytest.raises(PhotoError) as err:
        open_image(source, **kw)  # type: ignore[arg-type]
    assert err.value.reason
    return err.value.reason


def test_empty_text_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert _reason(empty) == "empty file"
    assert _reason(b"") == "empty file"
    text = tmp_path / "notes.jpg"
    text.write_text("shopping list: eggs, milk\n")
    assert _reason(text) == "not an image or unknown format"
    eps = tmp_path / "drawing.jpg"  # Pillow would run Ghostscript on an EPS; we never try
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    assert _reason(eps) == "not an image or unknown format"
    with pytest.raises(PhotoError) as err:
        open_image(tmp_path / "gone.jpg")
    assert err.value.reason == "file not found" and err.value.path == str(tmp_path / "gone.jpg")
    assert _reason(tmp_path) == "not a file"
    for call in (read_metadata, lambda p: thumbnail(p, 64)):
        with pytest.raises(PhotoError):
            call(tmp_path / "gone.jpg")
        with pytest.raises(PhotoError):
            call(text)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path: Path, sample_photos: Path) -> None:
    path = tmp_path / "locked.jpg"
    shutil.copy(sample_photos / "jpg/Canon_40D.jpg", path)
    path.chmod(0)
    assert _reason(path) == "permission denied"


def test_os_errors_while_reading(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(_encode(Image.new("RGB", (4, 4)), "JPEG"))

    def refuse(*_args: object, **_kw: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(photos, "open", refuse, raising=False)  # shadows the builtin in engine.photos
    assert _reason(path) == "permission denied"

    def fail(*_args: object, **_kw: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(photos, "open", fail, raising=False)
    assert _reason(path) == "cannot read file (Input/output error)"


def test_decoding_in_threads_matches_serial(sample_photos: Path) -> None:
    paths = [sample_photos / "jpg/orientation" / f"landscape_{n}.jpg" for n in range(1, 9)] * 3
    serial = [np.asarray(open_image(p, min_size=(64, 64))[0]) for p in paths]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda p: np.asarray(open_image(p, min_size=(64, 64))[0]), paths))
    assert all(np.array_equal(a, b) for a, b in zip(serial, threaded, strict=True))


def test_truncated_jpeg(sample_photos: Path, tmp_path: Path) -> None:
    data = (sample_photos / "jpg/exif-org/nikon-e950.jpg").read_bytes()
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    half = "corrupt or truncated image data (only 60% of the picture could be read)"
    assert _reason(path) == half
    assert _reason(data[: len(data) // 2], path_for_errors="x.jpg") == half
    assert _reason(path, min_size=(64, 64)) == half  # draft decodes too
    with pytest.raises(PhotoError):
        thumbnail(path, 64)
    # Cut in the middle of its header a JPEG has no rows to show at all.
    assert _reason(data[:2000], path_for_errors="x.jpg").startswith("corrupt or truncated image data")


def test_damaged_bytes_never_raise_anything_but_photo_error(sample_photos: Path) -> None:
    data = (sample_photos / "jpg/gps/DSCN0010.jpg").read_bytes()
    rng = random.Random(7)
    outcomes = set()
    for _ in range(40):
        damaged = bytearray(data[: rng.randrange(2, len(data))])
        for _ in range(rng.randrange(0, 20)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            image, _ = open_image(bytes(damaged), min_size=(64, 64))
            outcomes.add("decoded")
            assert image.mode == "RGB"
        except PhotoError as e:
            outcomes.add("error")
            assert e.reason
    assert "error" in outcomes


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit gray: a cheap lie
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def test_decompression_bomb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert MAX_PIXELS >= 100_000_000  # big panoramas must still open
    reason = _reason(_png_header(30_000, 30_000))
    assert reason == "image too large (900 megapixels)"
    path = tmp_path / "wide.png"
    path.write_bytes(_png_header(20_000, 9_500))  # 190 MP: over our limit
    assert _reason(path).startswith("image too large")
    monkeypatch.setattr(photos, "MAX_PIXELS", 1000)
    assert _reason(_encode(Image.new("RGB", (40, 30)))) == "image too large (0 megapixels)"
    with pytest.raises(PhotoError):
        read_metadata(_encode(Image.new("RGB", (40, 30))))
    assert open_image(_encode(Image.new("RGB", (40, 25))))[0].size == (40, 25)


# -- sources and helpers -------------------------------------------------------------------------


def test_bytes_source_matches_path_source(sample_photos: Path) -> None:
    path = sample_photos / "jpg/orientation/landscape_7.jpg"
    from_path, meta_path = open_image(path, min_size=(100, 100))
    from_bytes, meta_bytes = open_image(path.read_bytes(), min_size=(100, 100), path_for_errors=str(path))
    assert meta_path == meta_bytes
    assert from_path.size == from_bytes.size
    assert np.array_equal(np.asarray(from_path), np.asarray(from_bytes))
    assert read_metadata(path.read_bytes()) == meta_path
    with pytest.raises(PhotoError) as err:
        open_image(b"not a photo", path_for_errors="/photos/x.jpg")
    assert err.value.path == "/photos/x.jpg"


def test_png_named_jpg_still_decodes(tmp_path: Path) -> None:
    path = tmp_path / "really_a_png.jpg"
    path.write_bytes(_encode(Image.new("RGB", (5, 3), "blue")))
    image, meta = open_image(path)
    assert image.getpixel((0, 0)) == (0, 0, 255) and (meta.width, meta.height) == (5, 3)


def test_thumbnail_bounds_and_orientation(sample_photos: Path) -> None:
    thumb = thumbnail(sample_photos / "jpg/mobile/jolla.jpg", 128)
    assert thumb.mode == "RGB" and max(thumb.size) == 128
    assert abs(thumb.width / thumb.height - 3264 / 2448) < 0.05
    upright = thumbnail(sample_photos / "jpg/orientation/landscape_8.jpg", 100)
    assert upright.size == (100, 75)
    reference = thumbnail(sample_photos / "jpg/orientation/landscape_1.jpg", 100)
    assert _same_picture(upright, reference) > 0.95
    small = thumbnail(sample_photos / "jpg/Canon_40D.jpg", 512)  # never enlarged
    assert small.size == (100, 68)
    with pytest.raises(ValueError):
        thumbnail(sample_photos / "jpg/Canon_40D.jpg", 0)


def test_returned_image_outlives_the_file(tmp_path: Path, sample_photos: Path) -> None:
    path = tmp_path / "photo.jpg"
    shutil.copy(sample_photos / "jpg/exif-org/canon-ixus.jpg", path)
    image, _ = open_image(path)
    path.unlink()  # closed: deletable, even on Windows
    assert image.resize((8, 6)).size == (8, 6)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_no_file_handles_leak(sample_photos: Path, tmp_path: Path) -> None:
    broken = tmp_path / "half.jpg"
    broken.write_bytes((sample_photos / "jpg/Canon_40D.jpg").read_bytes()[:2000])
    paths = [
        sample_photos / "jpg/Canon_40D.jpg",
        sample_photos / "heic/IMG_5195.HEIC",
        sample_photos / "tiff/Jobagent.tiff",
        broken,
    ]
    open_image(paths[0])  # warm up lazy imports that may open files once
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        for path in paths:
            for call in (open_image, read_metadata, lambda p: thumbnail(p, 32)):
                with contextlib.suppress(PhotoError):
                    call(path)
    assert len(os.listdir("/proc/self/fd")) <= before


def test_photo_meta_is_frozen() -> None:
    meta = PhotoMeta(
        width=1,
        height=2,
        taken_at=None,
        camera_make=None,
        camera_model=None,
        latitude=None,
        longitude=None,
        orientation=1,
    )
    with pytest.raises(AttributeError):
        meta.width = 3  # type: ignore[misc]
