"""Photo-like pictures with known duplicates, for duplicate-detection tests and measurements.

Each base picture is a smooth random colour field (like sky, walls, foliage out of focus) with a
few shapes on it and sensor-like noise. Its *copies* are what people end up with on disk: resized,
re-encoded at low JPEG quality, cropped by 5%, colour-shifted, or the next frame of a burst (shapes
moved a little, new noise). Its *neighbour* is a distinct photo of the same place: the same
background with different things in it, which must not be called a duplicate.

    bases = make_bases(20, seed=0)
    copies = make_copies(bases[0], rng)       # {"resized": Image, "jpeg30": Image, ...}
    other = make_neighbour(bases[0], rng)
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

SIZE = (480, 360)
COPY_KINDS = ("resized", "jpeg30", "crop5", "colour", "burst")


@dataclass(frozen=True)
class Base:
    """A base picture and what it was drawn from (so a burst frame or a neighbour can redraw it)."""

    image: Image.Image
    background: np.ndarray  # (h, w, 3) float
    shapes: tuple[tuple[str, tuple[int, int, int], tuple[float, float, float, float]], ...]
    seed: int


def _field(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A smooth colour field: a coarse random grid upsampled with bicubic interpolation."""
    w, h = size
    coarse = rng.uniform(20, 235, size=(int(rng.integers(3, 7)), int(rng.integers(3, 7)), 3))
    small = Image.fromarray(coarse.astype(np.uint8), "RGB")
    return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float64)


def _random_shapes(rng: np.random.Generator, count: int) -> tuple:
    shapes = []
    for _ in range(count):
        kind = str(rng.choice(["ellipse", "rectangle", "triangle"]))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cx, cy = rng.uniform(0.15, 0.85, 2)
        rx, ry = rng.uniform(0.06, 0.2, 2)
        shapes.append((kind, colour, (float(cx), float(cy), float(rx), float(ry))))
    return tuple(shapes)


def _render(background: np.ndarray, shapes: tuple, rng: np.random.Generator, shift=(0.0, 0.0)) -> Image.Image:
    h, w = background.shape[:2]
    image = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for kind, colour, (cx, cy, rx, ry) in shapes:
        cx, cy = (cx + shift[0]) * w, (cy + shift[1]) * h
        box = (cx - rx * w, cy - ry * h, cx + rx * w, cy + ry * h)
        if kind == "ellipse":
            draw.ellipse(box, fill=colour)
        elif kind == "rectangle":
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon([(cx, box[1]), (box[2], box[3]), (box[0], box[3])], fill=colour)
    pixels = np.asarray(image, dtype=np.float64) + rng.normal(0, 4, size=(h, w, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def make_bases(n: int, seed: int, size: tuple[int, int] = SIZE) -> list[Base]:
    rng = np.random.default_rng(seed)
    bases = []
    for i in range(n):
        background = _field(rng, size)
        shapes = _random_shapes(rng, int(rng.integers(2, 5)))
        bases.append(Base(_render(background, shapes, rng), background, shapes, seed * 100_000 + i))
    return bases


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def make_copies(base: Base, rng: np.random.Generator) -> dict[str, Image.Image]:
    """The five kinds of copies of COPY_KINDS."""
    image = base.image
    w, h = image.size
    dx, dy = int(w * 0.05 / 2), int(h * 0.05 / 2)
    angle = rng.uniform(0, 2 * np.pi)
    burst_shift = (0.02 * np.cos(angle), 0.02 * np.sin(angle))
    shifted = np.clip(
        np.asarray(image, dtype=np.float64) + rng.choice([-1, 1], 3) * rng.uniform(8, 14, 3), 0, 255
    )
    colour = ImageEnhance.Color(Image.fromarray(shifted.astype(np.uint8))).enhance(
        float(rng.uniform(0.85, 1.15))
    )
    return {
        "resized": image.resize((w // 2, h // 2), Image.Resampling.LANCZOS),
        "jpeg30": _jpeg(image, 30),
        "crop5": image.crop((dx, dy, w - dx, h - dy)),  # 5% off each dimension, centred
        "colour": colour,
        "burst": _render(base.background, base.shapes, rng, burst_shift),
    }


def make_neighbour(base: Base, rng: np.random.Generator) -> Image.Image:
    """Another photo of the same place: the same background, different things in it."""
    return _render(base.background, _random_shapes(rng, len(base.shapes)), rng)
