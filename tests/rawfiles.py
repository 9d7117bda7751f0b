"""DNG files made in the test from a known RGB scene, with `pidng` (a DNG writer).

The scene is sampled through an RGGB Bayer mosaic into 12-bit sensor data, so a demosaic gives
the scene's colours back. With `preview`, the scene (or any other picture) is embedded as the JPEG
preview in a second IFD, as cameras do; LibRaw then offers it as the file's thumbnail.

    write_dng(tmp_path / "shot.dng", scene_rgb, orientation=6, preview=True)
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation
from pidng.dng import DNG, DNGTags, Tag, dngIFD, dngTag
from PIL import Image

WHITE = 4095


def mosaic(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 scene -> (h, w) uint16 RGGB sensor data (12-bit)."""
    scene = rgb.astype(np.float64) / 255.0 * WHITE
    raw = np.empty(rgb.shape[:2], dtype=np.uint16)
    raw[0::2, 0::2] = scene[0::2, 0::2, 0]
    raw[0::2, 1::2] = scene[0::2, 1::2, 1]
    raw[1::2, 0::2] = scene[1::2, 0::2, 1]
    raw[1::2, 1::2] = scene[1::2, 1::2, 2]
    return raw


def _tags(width: int, height: int, orientation: int, date: str | None) -> DNGTags:
    t = DNGTags()
    t.set(Tag.ImageWidth, width)
    t.set(Tag.ImageLength, height)
    t.set(Tag.TileWidth, width)
    t.set(Tag.TileLength, height)
    t.set(Tag.Orientation, orientation)
    t.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    t.set(Tag.SamplesPerPixel, 1)
    t.set(Tag.BitsPerSample, 16)
    t.set(Tag.CFARepeatPatternDim, [2, 2])
    t.set(Tag.CFAPattern, CFAPattern.RGGB)
    t.set(Tag.BlackLevel, 0)
    t.set(Tag.WhiteLevel, WHITE)
    identity = [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]]
    t.set(Tag.ColorMatrix1, identity)
    t.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    t.set(Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]])
    t.set(Tag.Make, "Acme")
    t.set(Tag.Model, "Sensor One")
    if date is not None:
        t.set(Tag.DateTime, date)
    t.set(Tag.DNGVersion, DNGVersion.V1_4)
    t.set(Tag.DNGBackwardVersion, DNGVersion.V1_2)
    return t


def dng_bytes(
    rgb: np.ndarray,
    *,
    orientation: int = 1,
    preview: Image.Image | bool = False,
    date: str | None = "2021:06:05 10:11:12",
) -> bytes:
    """A DNG of the scene `rgb` ((h, w, 3) uint8, even h and w). preview=True embeds the scene itself
    as a JPEG preview; an Image embeds that picture instead."""
    height, width = rgb.shape[:2]
    dng = DNG()
    dng.ImageDataStrips.append(mosaic(rgb).tobytes())
    raw_offsets = dngTag(Tag.TileOffsets, [0])
    main = dngIFD()
    main.tags += [
        raw_offsets,
        dngTag(Tag.NewSubfileType, [0]),
        dngTag(Tag.TileByteCounts, [len(dng.ImageDataStrips[0])]),
        dngTag(Tag.Compression, [1]),
        *_tags(width, height, orientation, date).list(),
    ]
    dng.IFDs.append(main)
    preview_offsets = None
    if preview is not False:
        picture = Image.fromarray(rgb) if preview is True else preview.convert("RGB")
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=92)
        jpeg = buffer.getvalue()
        dng.ImageDataStrips.append(jpeg)
        preview_offsets = dngTag(Tag.StripOffsets, [0])
        second = dngIFD()
        second.tags += [
            dngTag(Tag.NewSubfileType, [1]),  # a reduced-resolution copy of the main image
            dngTag(Tag.ImageWidth, [picture.width]),
            dngTag(Tag.ImageLength, [picture.height]),
            dngTag(Tag.BitsPerSample, [8, 8, 8]),
            dngTag(Tag.Compression, [7]),  # JPEG
            dngTag(Tag.PhotometricInterpretation, [6]),  # YCbCr
            dngTag(Tag.SamplesPerPixel, [3]),
            dngTag(Tag.RowsPerStrip, [picture.height]),
            preview_offsets,
            dngTag(Tag.StripByteCounts, [len(jpeg)]),
        ]
        dng.IFDs.append(second)
    size = dng.dataLen()  # also lays out the strips
    raw_offsets.setValue([dng.StripOffsets[0]])
    if preview_offsets is not None:
        preview_offsets.setValue([dng.StripOffsets[1]])
    buf = bytearray(size)
    dng.setBuffer(buf)
    if len(dng.IFDs) > 1:  # pidng leaves IFDs unchained
        dng.IFDs[0].NextIFDOffset = dng.IFDs[1].offset
    dng.write()
    return bytes(buf)


def write_dng(path: Path, rgb: np.ndarray, **kwargs) -> Path:
    path.write_bytes(dng_bytes(rgb, **kwargs))
    return path


def quadrants(height: int = 256, width: int = 384) -> np.ndarray:
    """A scene whose corners tell its orientation: red top-left, green top-right, blue bottom-left,
    grey bottom-right."""
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    h2, w2 = height // 2, width // 2
    rgb[:h2, :w2] = (200, 30, 30)
    rgb[:h2, w2:] = (30, 200, 30)
    rgb[h2:, :w2] = (30, 30, 200)
    rgb[h2:, w2:] = (128, 128, 128)
    return rgb
