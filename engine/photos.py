"""Decoding photos to upright 8-bit RGB, and reading their metadata (size, date, camera, GPS).

Every public function raises `PhotoError(path, reason)` for a photo it cannot read, with a short
reason a person can act on; no decoder exception escapes. Files are opened and closed here (the
indexer calls this from many threads for hours), and the images returned own their pixels.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
import math
import os
import re
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import IO, Any, TypeVar

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError, features

from .errors import PhotoError
from .raw import RAW_SUFFIXES, read_raw

_T = TypeVar("_T")

log = logging.getLogger(__name__)

# Optional: without pillow-heif, HEIC files are reported, not decoded. It is imported, and its opener
# registered, with Pillow's plugins when the first photo is opened (_formats): commands that open
# none (status, tags) start a tenth of a second sooner.
HEIF_AVAILABLE = importlib.util.find_spec("pillow_heif") is not None


def _heif_avif() -> bool:
    """pillow-heif < 1.0 has a separate AVIF opener (1.x dropped AVIF)."""
    import pillow_heif

    return hasattr(pillow_heif, "register_avif_opener")


# Pillow 11.2+ decodes AVIF itself.
AVIF_AVAILABLE = bool(features.check("avif")) or (HEIF_AVAILABLE and _heif_avif())

_HEIF_SUFFIXES = frozenset({".heic", ".heif"})
# HEIC is listed even without pillow-heif so that such files are found and reported, not skipped.
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
    | _HEIF_SUFFIXES
    | ({".avif"} if AVIF_AVAILABLE else set())
    | RAW_SUFFIXES
)

# Decompression-bomb limit, checked from the header before any pixel is decoded. Read at call time,
# so tests may monkeypatch it. Pillow's own limit (2 x Image.MAX_IMAGE_PIXELS, 179 MP by default)
# still applies on top and is reported the same way.
MAX_PIXELS: int = 180_000_000
# A JPEG cut short (a copy interrupted, a card pulled out) is still a photo when at least this share
# of its rows decode: every viewer shows it, with a grey band at the bottom.
MIN_DECODED_ROWS = 0.9
_TRUNCATED_REASON = "corrupt or truncated image data"



@functools.cache
def _formats() -> tuple[str, ...]:
    """The formats Pillow may open: only photo formats, never a plugin such as EPS (which runs
    Ghostscript) for a file that merely sits in a photo folder. Multi-picture camera JPEGs (MPO)
    come through "JPEG"."""
    if HEIF_AVAILABLE:
        import pillow_heif

        pillow_heif.register_heif_opener()
        if AVIF_AVAILABLE and not features.check("avif"):
            pillow_heif.register_avif_opener()  # type: ignore[attr-defined]  # pillow-heif < 1.0
    Image.init()
    return tuple(f for f in ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "DIB", "GIF", "HEIF", "AVIF") if f in Image.OPEN)

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})

_WHITE = (255, 255, 255)
# EXIF orientation -> the transpose that makes the stored pixels upright (ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# EXIF tags (IFD0, Exif IFD 0x8769, GPS IFD 0x8825).
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_MAKE, _MODEL, _ORIENTATION, _DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
# (date tag, its offset tag, its sub-second tag), in order of preference.
_DATE_TAGS = (
    (0x9003, 0x9011, 0x9291),  # DateTimeOriginal, OffsetTimeOriginal, SubSecTimeOriginal
    (0x9004, 0x9012, 0x9292),  # DateTimeDigitized, OffsetTimeDigitized, SubSecTimeDigitized
)
_OFFSET_TIME = 0x9010  # goes with IFD0 DateTime
# How the photo was taken (Exif IFD).
_EXPOSURE_TIME, _F_NUMBER, _ISO = 0x829A, 0x829D, 0x8827
_FOCAL_LENGTH, _FOCAL_35MM, _LENS_MODEL = 0x920A, 0xA405, 0xA434
_SHUTTER_APEX, _APERTURE_APEX = 0x9201, 0x9202  # the same in APEX units, where the above are missing
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_STATUS = 1, 2, 3, 4, 9

_DATE_RE = re.compile(r"(\d{4})[:\-/.](\d{1,2})[:\-/.](\d{1,2})[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?")
_OFFSET_RE = re.compile(r"([+-])(\d{1,2}):?(\d{2})")
_BOMB_RE = re.compile(r"\((\d+) pixels\)")


@dataclass(frozen=True)
class PhotoMeta:
    """What a photo says about itself.

    width, height: full-resolution size of the upright picture (after EXIF orientation).
    taken_at: POSIX seconds from EXIF DateTimeOriginal (else DateTimeDigitized, else DateTime);
        naive times are read as local time. None when absent or invalid.
    latitude, longitude: signed decimal degrees (south and west negative), None when absent or
        implausible.
    orientation: the EXIF orientation tag, 1..8 (1 when absent). For HEIC it is 1, because libheif
        already returns upright pixels.
    """

    width: int
    height: int
    taken_at: float | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    orientation: int = 1
    decoded: float = 1.0  # the share of the picture's rows that decoded (below 1: cut short)

    @property
    def damage(self) -> str | None:
        """How the photo is damaged, for the list of partly damaged photos (None: it is not)."""
        if self.decoded >= 1.0:
            return None
        return f"partly damaged: the file ends early, {self.decoded:.0%} of the picture could be read"


Source = str | os.PathLike | bytes


def is_photo_path(path: str | os.PathLike) -> bool:
    """True for a file name with a supported photo suffix (any case); hidden files are never photos."""
    return is_photo_name(os.path.basename(os.fsdecode(path)))


def is_photo_name(name: str) -> bool:
    """is_photo_path for a bare file name: a scan asks it of every file (100k at a time)."""
    dot = name.rfind(".")
    return dot > 0 and not name.startswith(".") and name[dot:].lower() in SUPPORTED_SUFFIXES


def open_image(
    source: Source,
    *,
    min_size: tuple[int, int] | None = None,
    path_for_errors: str | None = None,
) -> tuple[Image.Image, PhotoMeta]:
    """Decode a photo to an upright 8-bit RGB image plus its metadata.

    source is a path or the file's bytes. With min_size=(w, h), the photo may be decoded at a reduced
    scale (JPEG DCT scaling, then integer box reduction) but the returned image is still at least
    w x h once upright; without it, at full resolution. The metadata always describes the full-size
    photo. Transparency is composited onto white. Raises PhotoError.
    """
    if min_size is not None and (min(min_size) < 1 or len(min_size) != 2):
        raise ValueError(f"min_size must be two positive integers, got {min_size!r}")
    label = _label(source, path_for_errors)
    if _suffix(label) in RAW_SUFFIXES:
        return _open_raw(source, label, min_size)
    try:
        with _opened(source, label) as im, _reasons(label):
            meta = _metadata(im)
            return _decode(im, meta.orientation, _target(meta, min_size)), meta
    except PhotoError as e:
        if not _cut_short(e):
            raise
    with _opened(source, label) as im, _reasons(label):
        meta = _metadata(im)
    image, decoded = _decode_cut_short(source, label, meta, _target(meta, min_size))
    return image, replace(meta, decoded=decoded)


def _target(meta: PhotoMeta, min_size: tuple[int, int] | None) -> tuple[int, ...] | None:
    """min_size in stored (pre-orientation) pixels."""
    if min_size is None:
        return None
    return (min_size[1], min_size[0]) if meta.orientation >= 5 else tuple(min_size)


def _cut_short(error: PhotoError) -> bool:
    """Whether a decode failed because a JPEG's data ends early (Pillow says "truncated")."""
    cause = error.__cause__
    return isinstance(cause, OSError) and cause.errno is None and "truncated" in str(cause)


def _decode_cut_short(
    source: Source, label: str, meta: PhotoMeta, target: tuple[int, ...] | None
) -> tuple[Image.Image, float]:
    """Decode the rows a JPEG that ends early still holds; PhotoError when fewer than
    MIN_DECODED_ROWS of them do. Returns the upright RGB image (missing rows grey) and the share
    of rows decoded.

    Pillow refuses truncated files unless a process-wide flag is set, which would also let other
    threads' broken files through. Instead the image's pixel buffer is made here, filled with a
    known value, and decoded into until the data ends; decoding twice with two different fills
    tells exactly which rows the file provided (a row of real pixels can equal one fill, not both).
    """
    images = []
    for fill in (0, 255):
        with _opened(source, label) as im, _reasons(label):
            if not isinstance(im, ImageFile.ImageFile) or im.format not in ("JPEG", "MPO"):
                raise PhotoError(label, _TRUNCATED_REASON)
            if target is not None:
                im.draft("RGB", (target[0], target[1]))
            im.load_prepare()
            im.im = Image.core.fill(im.mode, im.size, (fill,) * len(im.getbands()))
            try:
                im.load()
            except OSError as e:
                if "truncated" not in str(e):
                    raise
                im.tile = []  # keep what was decoded; do not decode again
            images.append(np.asarray(im.convert("RGB")))
    differs = (images[0] != images[1]).any(axis=(1, 2))
    rows = int(np.argmax(differs)) if differs.any() else len(differs)
    decoded = rows / len(differs)
    if decoded < MIN_DECODED_ROWS:
        raise PhotoError(label, f"{_TRUNCATED_REASON} (only {decoded:.0%} of the picture could be read)")
    pixels = images[0].copy()
    pixels[rows:] = 128
    with _reasons(label):
        return _decode(Image.fromarray(pixels), meta.orientation, target), decoded


def thumbnail(path: Source, size: int) -> Image.Image:
    """An upright RGB image whose longer side is at most `size`, decoded cheaply. Raises PhotoError."""
    if size < 1:
        raise ValueError(f"thumbnail size must be positive, got {size}")
    label = _label(path, None)
    if _suffix(label) in RAW_SUFFIXES:
        out, _ = _open_raw(path, label, (size, size))
        out.thumbnail((size, size))
        return out
    try:
        with _opened(path, label) as im, _reasons(label):
            out = _decode(im, _orientation(_exif(im)), _thumbnail_target(im.size, size))
    except PhotoError as e:
        if not _cut_short(e):
            raise
        with _opened(path, label) as im, _reasons(label):
            meta, stored = _metadata(im), im.size
        out, _ = _decode_cut_short(path, label, meta, _thumbnail_target(stored, size))
    out.thumbnail((size, size))
    return out


def _thumbnail_target(stored: tuple[int, int], size: int) -> tuple[int, int] | None:
    """The smallest decode whose longer side still reaches `size` (None: decode at full size)."""
    w, h = stored
    longer = max(w, h)
    if longer <= size:
        return None
    return (max(1, math.ceil(w * size / longer)), max(1, math.ceil(h * size / longer)))


def read_metadata(source: Source, *, path_for_errors: str | None = None) -> PhotoMeta:
    """The photo's metadata from its header, without decoding pixels. Raises PhotoError."""
    return _from_header(source, path_for_errors, _metadata_from)


def _from_header(
    source: Source,
    path_for_errors: str | None,
    read: Callable[[Image.Exif | None, tuple[int, int], int], _T],
) -> _T:
    """read(EXIF, stored size, orientation) of the photo, from its header (no pixels decoded), while
    the file is open. Raises PhotoError."""
    label = _label(source, path_for_errors)
    if _suffix(label) in RAW_SUFFIXES:
        with _reasons(label):
            raw = read_raw(_read_bytes(source, label), label, pixels=False)
        return read(raw.exif, (raw.width, raw.height), raw.orientation)
    with _opened(source, label) as im, _reasons(label):
        exif = _exif(im)
        return read(exif, im.size, _orientation(exif))


@dataclass(frozen=True)
class Exposure:
    """How a photo was taken, as its EXIF says: None where it does not say (or says nonsense)."""

    seconds: float | None = None
    f_number: float | None = None
    iso: int | None = None
    focal_mm: float | None = None
    focal_35mm: int | None = None  # the focal length a 35 mm camera would need for the same view
    lens: str | None = None


def read_exposure(source: Source, *, path_for_errors: str | None = None) -> Exposure:
    """The photo's exposure from its header (read when a photo is shown, not stored in the
    library). Raises PhotoError."""
    return _from_header(source, path_for_errors, lambda exif, _size, _orientation: _exposure(exif))


def _exposure(exif: Image.Exif | None) -> Exposure:
    if exif is None:
        return Exposure()
    sub = _ifd(exif, _EXIF_IFD)

    def positive(tag: int) -> float | None:
        value = _rational(sub.get(tag))
        return value if value is not None and value > 0 else None

    def apex(tag: int, to_value: Callable[[float], float]) -> float | None:
        value = _rational(sub.get(tag))
        return to_value(value) if value is not None and -20 < value < 30 else None

    iso = sub.get(_ISO)
    iso = iso[0] if isinstance(iso, tuple) and iso else iso  # some cameras write a list
    focal_35mm = sub.get(_FOCAL_35MM)
    return Exposure(
        seconds=positive(_EXPOSURE_TIME) or apex(_SHUTTER_APEX, lambda tv: 2.0**-tv),
        f_number=positive(_F_NUMBER) or apex(_APERTURE_APEX, lambda av: 2.0 ** (av / 2)),
        iso=iso if isinstance(iso, int) and iso > 0 else None,
        focal_mm=positive(_FOCAL_LENGTH),
        focal_35mm=focal_35mm if isinstance(focal_35mm, int) and focal_35mm > 0 else None,
        lens=_text(sub.get(_LENS_MODEL)),
    )


# -- opening and errors ----------------------------------------------------------------------------


def _label(source: Source, path_for_errors: str | None) -> str:
    if path_for_errors is not None:
        return path_for_errors
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return os.fsdecode(source)


@contextmanager
def _opened(source: Source, label: str) -> Iterator[Image.Image]:
    """Image.open on a path or bytes, with the file closed afterwards whatever happens."""
    with _reasons(label):
        if isinstance(source, (bytes, bytearray, memoryview)):
            if len(source) == 0:
                raise PhotoError(label, "empty file")
            with io.BytesIO(source) as buffer, _open_pillow(buffer, label) as im:
                yield im
            return
        with open(source, "rb") as fp:
            if os.fstat(fp.fileno()).st_size == 0:
                raise PhotoError(label, "empty file")
            with _open_pillow(fp, label) as im:
                yield im


@contextmanager
def _open_pillow(fp: IO[bytes], label: str) -> Iterator[Image.Image]:
    try:
        im = Image.open(fp, formats=_formats())
    except UnidentifiedImageError:
        fp.seek(0)
        if not HEIF_AVAILABLE and (_looks_heif(fp.read(16)) or _suffix(label) in _HEIF_SUFFIXES):
            raise PhotoError(label, "HEIC support not installed") from None
        raise PhotoError(label, "not an image or unknown format") from None
    with im:
        pixels = im.width * im.height
        if pixels > MAX_PIXELS:
            raise PhotoError(label, _too_large(pixels))
        yield im


def _read_bytes(source: Source, label: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        with open(source, "rb") as fp:
            data = fp.read()
    if not data:
        raise PhotoError(label, "empty file")
    return data


def _open_raw(
    source: Source, label: str, min_size: tuple[int, int] | None
) -> tuple[Image.Image, PhotoMeta]:
    """open_image for camera RAW files (engine/raw.py); without min_size, the RAW's picture is
    its embedded preview when that is at least half the sensor's size, else a half-size demosaic."""
    with _reasons(label):
        raw = read_raw(_read_bytes(source, label), label, min_size=min_size)
        assert raw.image is not None
        meta = _metadata_from(raw.exif, (raw.width, raw.height), raw.orientation)
        target = None
        if min_size is not None:
            target = (min_size[1], min_size[0]) if meta.orientation >= 5 else tuple(min_size)
        return _fit(raw.image, meta.orientation, target), meta


# What decoders raise on broken files (Warning: a DecompressionBombWarning under `-W error`).
_EXPECTED = (OSError, SyntaxError, ValueError, EOFError, struct.error, MemoryError, Warning)


@contextmanager
def _reasons(label: str) -> Iterator[None]:
    """Turn whatever a decoder raises into a PhotoError with a short reason."""
    try:
        yield
    except PhotoError:
        raise
    except Exception as e:
        # Broken files are expected and reported as data; anything else may be a bug here or in a
        # plugin, so it gets a traceback in the log while the photo is still reported, not raised.
        expected = isinstance(e, _EXPECTED) or type(e) is Image.DecompressionBombError
        log.log(logging.DEBUG if expected else logging.WARNING, "cannot read %s", label, exc_info=True)
        raise PhotoError(label, _reason(e)) from e


def _reason(e: Exception) -> str:
    if isinstance(e, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        found = _BOMB_RE.search(str(e))
        return _too_large(int(found.group(1))) if found else "image too large"
    if isinstance(e, _Unsupported):
        return str(e)
    if isinstance(e, MemoryError):
        return "not enough memory to decode"
    if isinstance(e, FileNotFoundError):
        return "file not found"
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, IsADirectoryError):
        return "not a file"
    if isinstance(e, OSError) and e.errno is not None:  # the OS failed to read, not a decoder
        return f"cannot read file ({e.strerror or e})"
    return _TRUNCATED_REASON


def _too_large(pixels: int) -> str:
    return f"image too large ({pixels / 1e6:.0f} megapixels)"


def _suffix(label: str) -> str:
    return os.path.splitext(label)[1].lower()


def _looks_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


# -- pixels ----------------------------------------------------------------------------------------


def _decode(im: Image.Image, orientation: int, target: tuple[int, ...] | None) -> Image.Image:
    """Load fully (so truncation is detected), convert to RGB, shrink towards target, make upright.

    target is in stored (pre-orientation) pixels; the result is never smaller than it.
    """
    if target is not None and im.format in ("JPEG", "MPO"):
        im.draft("RGB", (target[0], target[1]))
    im.load()
    out = _fit(_to_rgb(im), orientation, target)
    if out is im:  # the caller closes `im`, which would free these pixels
        out = im.copy()
    return out


def _fit(out: Image.Image, orientation: int, target: tuple[int, ...] | None) -> Image.Image:
    """Shrink by an integer factor towards target (never below it), then make upright."""
    if target is not None:
        factor = min(out.width // target[0], out.height // target[1])
        if factor >= 2:
            out = out.reduce(factor)
    if orientation in _TRANSPOSE:
        out = out.transpose(_TRANSPOSE[orientation])
    return out


class _Unsupported(Exception):
    """A well-formed image this module cannot convert; its message is the reason."""


def _to_rgb(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _high_depth_to_rgb(im)
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info:  # incl. PNG tRNS
        return _on_white(im.convert("RGBA"))
    if mode == "RGB":
        return im
    try:
        return im.convert("RGB")
    except ValueError as e:
        raise _Unsupported(f"unsupported colour mode {mode}") from e


def _on_white(rgba: Image.Image) -> Image.Image:
    out = Image.new("RGB", rgba.size, _WHITE)
    out.paste(rgba, mask=rgba.getchannel("A"))
    return out


def _high_depth_to_rgb(im: Image.Image) -> Image.Image:
    """Grayscale deeper than 8 bits, scaled (not clipped, as Image.convert does) to 0..255.

    16-bit data, whatever mode Pillow stores it in, maps 0..65535 to 0..255; 32-bit integer and float
    data whose range says it is 8-bit, 16-bit or 0..1 is scaled the same way, anything else by its
    own minimum and maximum.
    """
    a = np.asarray(im, dtype=np.float32)
    if im.mode.startswith("I;16"):
        scaled = a / 257.0
    else:
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        if lo >= 0 and hi <= 1.0 and im.mode == "F":
            scaled = a * 255.0
        elif lo >= 0 and hi <= 255:
            scaled = a
        elif lo >= 0 and hi <= 65535:
            scaled = a / 257.0
        else:
            scaled = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    gray = np.clip(np.nan_to_num(scaled), 0, 255).round().astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


# -- metadata --------------------------------------------------------------------------------------


def _exif(im: Image.Image) -> Image.Exif | None:
    try:
        return im.getexif()
    except Exception:  # broken EXIF must not cost the picture
        log.debug("unreadable EXIF", exc_info=True)
        return None


def _orientation(exif: Image.Exif | None) -> int:
    value = exif.get(_ORIENTATION) if exif is not None else None
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _metadata(im: Image.Image) -> PhotoMeta:
    exif = _exif(im)
    return _metadata_from(exif, im.size, _orientation(exif))


def _metadata_from(exif: Image.Exif | None, size: tuple[int, int], orientation: int) -> PhotoMeta:
    """Metadata from EXIF tags, for a picture of `size` as stored, turned by `orientation`."""
    w, h = size
    if orientation >= 5:
        w, h = h, w
    if exif is None:
        return PhotoMeta(width=w, height=h, orientation=orientation)
    sub = _ifd(exif, _EXIF_IFD)
    lat, lon = _gps(_ifd(exif, _GPS_IFD))
    return PhotoMeta(
        width=w,
        height=h,
        taken_at=_taken_at(exif, sub),
        camera_make=_text(exif.get(_MAKE)),
        camera_model=_text(exif.get(_MODEL)),
        latitude=lat,
        longitude=lon,
        orientation=orientation,
    )


def _ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:
        log.debug("unreadable EXIF IFD %#x", tag, exc_info=True)
        return {}


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    # EXIF strings are NUL-terminated and often NUL- or space-padded; keep the first real piece.
    return next((piece.strip() for piece in value.split("\x00") if piece.strip()), None)


def _taken_at(exif: Image.Exif, sub: dict[int, Any]) -> float | None:
    candidates = [(sub.get(d), sub.get(o), sub.get(s)) for d, o, s in _DATE_TAGS]
    candidates.append((exif.get(_DATETIME), sub.get(_OFFSET_TIME), None))
    for date, offset, subsec in candidates:
        parsed = _parse_exif_datetime(_text(date), _text(offset), _text(subsec))
        if parsed is not None:
            return parsed
    return None


def _parse_exif_datetime(
    text: str | None, offset: str | None = None, subsec: str | None = None
) -> float | None:
    """POSIX seconds for an EXIF date 'YYYY:MM:DD HH:MM:SS' (+ optional '+HH:MM' offset and
    sub-second digits); a date without offset is local time. None for absent or invalid dates."""
    if not text:
        return None
    m = _DATE_RE.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in m.groups())
    if not 1800 <= year <= 2200:  # '0000:00:00 00:00:00' and friends
        return None
    try:
        dt = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if subsec and subsec.isdigit():
        dt = dt.replace(microsecond=int((subsec + "000000")[:6]))
    tz = _tz(offset)
    if tz is not None:
        dt = dt.replace(tzinfo=tz)
    try:
        return dt.timestamp()  # naive -> local time, as time.mktime
    except (OverflowError, OSError, ValueError):
        return None


def _tz(offset: str | None) -> timezone | None:
    m = _OFFSET_RE.fullmatch(offset.strip()) if offset else None
    if m is None:
        return None
    hours, minutes = int(m.group(2)), int(m.group(3))
    if hours > 14 or minutes >= 60:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if m.group(1) == "-" else delta)


def _gps(gps: dict[int, Any]) -> tuple[float | None, float | None]:
    """(latitude, longitude) in signed degrees, or (None, None) unless both are plausible."""
    if _text(gps.get(_GPS_STATUS)) == "V":  # receiver said the fix is void
        return None, None
    lat = _coordinate(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), "S", 90.0)
    lon = _coordinate(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), "W", 180.0)
    # Cameras without a fix often write zeros; nobody photographs at exactly 0 N 0 E.
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
        return None, None
    return lat, lon


def _coordinate(value: object, ref: object, negative_ref: str, limit: float) -> float | None:
    parts = value if isinstance(value, (tuple, list)) else (value,)
    if not 1 <= len(parts) <= 3:
        return None
    numbers = [n for n in (_rational(p) for p in parts) if n is not None]
    if len(numbers) != len(parts):
        return None
    degrees, minutes, seconds = [*numbers, 0.0, 0.0][:3]
    if not (0 <= minutes < 60 and 0 <= seconds < 60):
        return None
    sign = -1.0 if degrees < 0 else 1.0
    result = sign * (abs(degrees) + minutes / 60 + seconds / 3600)
    ref_text = (_text(ref) or "").upper()[:1]
    if ref_text == negative_ref:
        result = -abs(result)
    return result if -limit <= result <= limit else None


def _rational(value: object) -> float | None:
    """A float from an EXIF rational: Pillow's IFDRational, a (num, den) pair or a plain number."""
    try:
        if isinstance(value, tuple) and len(value) == 2:
            num, den = value
            number = float(num) / float(den)
        else:
            number = float(value)  # type: ignore[arg-type]  # IFDRational: nan for a zero denominator
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None
