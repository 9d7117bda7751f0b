"""Camera RAW files (DNG, CR2/CR3, NEF, ARW, RAF, ORF, RW2) through LibRaw (`rawpy`).

A RAW is shown by the JPEG preview the camera embedded in it when that preview is large enough
(decoding it costs as little as any JPEG), else by a demosaic at half the sensor's resolution
(each 2x2 Bayer cell becomes one pixel: four times fewer pixels to interpolate, and still far more
than a thumbnail or the model needs). Orientation comes from the RAW's own metadata, also for the
preview, whose pixels are stored the way the sensor saw them.

This module returns pixels as stored plus the orientation; `photos.py` makes them upright and reads
the EXIF it finds here, so RAW photos and other photos share one metadata path.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .errors import PhotoError

if TYPE_CHECKING:  # imported where a RAW is read: commands that read none start sooner
    import rawpy

log = logging.getLogger(__name__)

RAW_SUFFIXES: frozenset[str] = frozenset(
    {".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".raf", ".orf", ".rw2"}
)

# LibRaw's `flip` -> the EXIF orientation tag it was read from (LibRaw maps EXIF 1..8 to 0,1,3,2,4,6,7,5).
_FLIP_TO_ORIENTATION = {0: 1, 1: 2, 3: 3, 2: 4, 4: 5, 6: 6, 7: 7, 5: 8}


@dataclass(frozen=True)
class RawPicture:
    """A RAW file's pixels (stored orientation, 8-bit RGB) and what it says about itself.

    width, height: the sensor's output size, stored orientation. image: None when only the
    metadata was asked for. exif: the TIFF/EXIF tags of a TIFF-based RAW (DNG, CR2, NEF, ARW, ORF,
    ...), else of the embedded preview, else None.
    """

    width: int
    height: int
    orientation: int
    exif: Image.Exif | None
    image: Image.Image | None = None
    source: str = ""  # "preview" or "demosaic", for logs and tests


def is_raw_path(path: str | os.PathLike) -> bool:
    return os.path.splitext(os.fsdecode(path))[1].lower() in RAW_SUFFIXES


def read_raw(
    data: bytes, label: str, *, min_size: tuple[int, int] | None = None, pixels: bool = True
) -> RawPicture:
    """Open a RAW file's bytes; with `pixels`, decode a picture that is at least `min_size` once
    upright (None: at least half the sensor's size). Raises PhotoError with a reason."""
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            sizes = raw.sizes
            width, height = int(sizes.width), int(sizes.height)
            orientation = _FLIP_TO_ORIENTATION.get(int(sizes.flip), 1)
            if width < 1 or height < 1:
                raise PhotoError(label, "RAW file without image data")
            exif = _tiff_exif(data)
            preview = _preview(raw, label) if pixels or exif is None else None
            if exif is None and preview is not None:
                exif = _exif_of(preview)
            if not pixels:
                return RawPicture(width, height, orientation, exif)
            if min_size is None:
                target = (max(1, width // 2), max(1, height // 2))
            else:  # min_size is upright; the pixels here are as stored
                target = (min_size[1], min_size[0]) if orientation >= 5 else min_size
            if preview is not None and _covers(preview.size, target):
                preview.draft("RGB", target)  # a large JPEG preview decodes at a reduced scale
                preview.load()
                return RawPicture(width, height, orientation, exif, _rgb(preview), "preview")
            half = width // 2 >= target[0] and height // 2 >= target[1]
            rgb = raw.postprocess(half_size=half, use_camera_wb=True, output_bps=8, user_flip=0)
            return RawPicture(width, height, orientation, exif, Image.fromarray(rgb), "demosaic")
    except PhotoError:
        raise
    except rawpy.LibRawFileUnsupportedError as e:
        raise PhotoError(label, "not a RAW file LibRaw can read (unsupported camera or corrupt file)") from e
    except (rawpy.LibRawError, OSError, ValueError) as e:
        log.debug("cannot decode RAW %s", label, exc_info=True)
        raise PhotoError(label, f"corrupt or truncated RAW data ({_describe(e)})") from e
    except MemoryError as e:
        raise PhotoError(label, "not enough memory to decode") from e


def _describe(e: Exception) -> str:
    text = e.args[0] if e.args else type(e).__name__
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return str(text)


def _covers(size: tuple[int, int], target: tuple[int, int]) -> bool:
    return size[0] >= target[0] and size[1] >= target[1]


def _preview(raw: rawpy.RawPy, label: str) -> Image.Image | None:
    """The embedded preview as an opened (not yet decoded) image, or None when there is none or it
    is unreadable: the sensor data may still be fine."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    except rawpy.LibRawError:
        log.debug("unreadable preview in %s", label, exc_info=True)
        return None
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG and isinstance(thumb.data, bytes):
            return Image.open(io.BytesIO(thumb.data), formats=("JPEG",))
        array = np.asarray(thumb.data)
        if array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8:
            return Image.fromarray(array)
    except Exception:  # a broken preview must not cost the photo: the sensor data is decoded instead
        log.debug("unreadable preview in %s", label, exc_info=True)
    return None


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def _exif_of(image: Image.Image) -> Image.Exif | None:
    try:
        exif = image.getexif()
    except Exception:
        return None
    return exif if len(exif) else None


def _tiff_exif(data: bytes) -> Image.Exif | None:
    """IFD0 of a TIFF-based RAW (with its Exif and GPS sub-IFDs reachable through it)."""
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    exif = Image.Exif()
    try:
        exif.load(data)
    except Exception:
        log.debug("unreadable TIFF header in a RAW file", exc_info=True)
        return None
    return exif if len(exif) else None
