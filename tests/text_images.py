"""Photos with rendered text, for OCR tests and the OCR benchmark.

Text is drawn with Pillow's bundled scalable font (`ImageFont.load_default(size=...)`), never a
system font, on a plain, textured or photographic background, then optionally rotated.

    image = render_text("BAKERY", size=48, background=noise_background((640, 480), seed=1))
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont


def noise_background(size: tuple[int, int], seed: int) -> Image.Image:
    """A textured background: smoothed colour noise, like plaster, bark or fabric."""
    rng = np.random.default_rng(seed)
    small = rng.integers(90, 200, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    texture = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    grain = rng.integers(-18, 18, (size[1], size[0], 3))
    pixels = np.clip(np.asarray(texture, np.int16) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(1))


def render_text(
    text: str,
    *,
    size: int,
    background: Image.Image,
    angle: float = 0.0,
    position: tuple[float, float] = (0.5, 0.5),
    colour: tuple[int, int, int] = (15, 15, 15),
    plate: bool = True,
) -> Image.Image:
    """`text` in a font `size` pixels high, centred at `position` (fractions of the picture), rotated
    by `angle` degrees counter-clockwise. With `plate`, on a light sign-like plate, as on real signs."""
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text)
    pad = size // 3
    layer = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    if plate:
        draw.rectangle((0, 0, layer.width - 1, layer.height - 1), fill=(235, 232, 220, 255))
    draw.text((pad - left, pad - top), text, font=font, fill=(*colour, 255))
    if angle:
        layer = layer.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    out = background.convert("RGB").copy()
    x = int(position[0] * out.width - layer.width / 2)
    y = int(position[1] * out.height - layer.height / 2)
    out.paste(layer, (x, y), layer)
    return out
