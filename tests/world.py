"""A synthetic world with generic concepts, for pretraining the tiny test model.

Scenes are small pictures of zero, one or two objects on a noisy, slightly tinted background. An
object has a colour, a shape and a pattern ("striped blue square"); its caption names it in one of
several templates ("a photo of a striped blue square", "a red circle with a white dot and a green
triangle", "an empty background"). The model pretrained on these knows colours, shapes and patterns as words,
and its photo vectors and patch maps carry them: the base a user's personal concepts build on.

docs/test-world.md describes the world and how the personal (held-out) worlds in
tests/personal_world.py are built on top of it.

    rng = np.random.default_rng(0)
    scene = render(rng, [Thing("red", "circle", "plain", (8, 8, 40, 40))])
    scenes = generic_scenes(2000, seed=1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (35, 170, 50),
    "blue": (45, 70, 215),
    "yellow": (235, 210, 40),
    "purple": (140, 50, 175),
    "orange": (240, 135, 30),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle", "diamond")
PATTERNS = ("plain", "striped", "dotted")
TEMPLATES = (
    "{}",
    "a photo of {}",
    "a picture of {}.",
    "{} on a background",
    "there is {} here",
    "a close-up photo of {}",
)
EMPTY_CAPTIONS = ("an empty background", "nothing", "a photo of an empty background")

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels; right and bottom exclusive


@dataclass(frozen=True)
class Thing:
    """One object in a scene. accent: a mark of another colour in its middle, (kind, colour), as
    in "a red circle with a green dot"."""

    colour: str
    shape: str
    pattern: str
    box: Box
    accent: tuple[str, str] | None = None

    @property
    def phrase(self) -> str:
        words = ([] if self.pattern == "plain" else [self.pattern]) + [self.colour, self.shape]
        if self.accent is not None:
            words += ["with", article(f"{self.accent[1]} {self.accent[0]}")]
        return " ".join(words)


@dataclass(frozen=True)
class Scene:
    """One rendered picture, its objects, its generic caption and each object's pixel mask."""

    image: Image.Image
    things: tuple[Thing, ...]
    caption: str
    masks: tuple[np.ndarray, ...] = field(repr=False)


def article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def caption_of(things: Sequence[Thing], template: str) -> str:
    """The generic caption: the objects' phrases joined by "and", in `template`."""
    if not things:
        return ""
    return template.format(" and ".join(article(t.phrase) for t in things))


def shape_mask(shape: str, box: Box, size: int = SIZE) -> np.ndarray:
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    if shape == "circle":
        draw.ellipse((left, top, right - 1, bottom - 1), fill=255)
    elif shape == "square":
        draw.rectangle((left, top, right - 1, bottom - 1), fill=255)
    elif shape == "triangle":
        draw.polygon([((left + right) / 2, top), (right - 1, bottom - 1), (left, bottom - 1)], fill=255)
    elif shape == "diamond":
        cx, cy = (left + right - 1) / 2, (top + bottom - 1) / 2
        draw.polygon([(cx, top), (right - 1, cy), (cx, bottom - 1), (left, cy)], fill=255)
    else:
        raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")
    return np.asarray(image) > 0


def _pattern_mask(pattern: str, box: Box, size: int) -> np.ndarray:
    """Where a pattern paints the object's second tone (within its box)."""
    ys, xs = np.mgrid[0:size, 0:size]
    left, top, _, _ = box
    if pattern == "striped":
        return ((ys - top) // 3) % 2 == 1
    if pattern == "dotted":
        return (((xs - left) % 6) < 2) & (((ys - top) % 6) < 2)
    return np.zeros((size, size), bool)


def _accent_mask(kind: str, box: Box, size: int) -> np.ndarray:
    """A mark in the middle of the object, about two thirds of its width."""
    left, top, right, bottom = box
    cx, cy = (left + right - 1) / 2, (top + bottom - 1) / 2
    r = (right - left) / 3
    ys, xs = np.mgrid[0:size, 0:size]
    d = np.hypot(xs - cx, ys - cy)
    if kind == "dot":
        return d <= r
    if kind == "ring":
        return (d <= r * 1.1) & (d >= r * 0.55)
    if kind == "cross":
        near = (np.abs(xs - cx) <= r) & (np.abs(ys - cy) <= r)
        return near & ((np.abs(xs - cx) <= 2) | (np.abs(ys - cy) <= 2))
    if kind == "bar":
        return (np.abs(xs - cx) <= r * 1.2) & (np.abs(ys - cy) <= 3)
    raise ValueError(f"unknown accent {kind!r}")


ACCENTS = ("dot", "ring", "cross", "bar")


def render(rng: np.random.Generator, things: Sequence[Thing], size: int = SIZE) -> tuple[Image.Image, list]:
    """Paint `things` on a noisy background with a random grey level and a slight tint."""
    grey = float(rng.integers(80, 180))
    tint = rng.integers(-15, 16, size=3)
    pixels = np.full((size, size, 3), grey) + tint
    pixels = pixels + rng.normal(0, 6, size=pixels.shape)
    masks = []
    for t in things:
        mask = shape_mask(t.shape, t.box, size)
        colour = np.asarray(COLOURS[t.colour], float)
        pixels[mask] = colour
        second = mask & _pattern_mask(t.pattern, t.box, size)
        pixels[second] = colour * 0.45 + (110 if t.colour == "black" else 0)
        if t.accent is not None:
            kind, accent_colour = t.accent
            pixels[mask & _accent_mask(kind, t.box, size)] = COLOURS[accent_colour]
        masks.append(mask)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    return image, masks


def random_boxes(rng: np.random.Generator, count: int, size: int = SIZE) -> list[Box]:
    """`count` square boxes of 30-50% of the picture that do not overlap."""
    boxes: list[Box] = []
    while len(boxes) < count:
        if boxes and rng.random() < 0.02:
            boxes = []  # the first boxes left no room: start over rather than loop forever
        side = int(rng.integers(size * 3 // 10, size // 2 + 1))
        left, top = (int(v) for v in rng.integers(0, size - side + 1, size=2))
        box = (left, top, left + side, top + side)
        if all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in boxes):
            boxes.append(box)
    return boxes


def random_thing(rng: np.random.Generator, box: Box, colours: Sequence[str] = tuple(COLOURS)) -> Thing:
    """A generic object: any colour (of `colours`), shape and pattern (plain half of the time),
    with an accent of another colour 30% of the time."""
    colour = str(rng.choice(list(colours)))
    pattern = "plain" if rng.random() < 0.5 else str(rng.choice(PATTERNS[1:]))
    accent = None
    if rng.random() < 0.3:
        accent = (str(rng.choice(ACCENTS)), str(rng.choice([c for c in COLOURS if c != colour])))
    return Thing(colour, str(rng.choice(SHAPES)), pattern, box, accent)


def generic_scene(rng: np.random.Generator, size: int = SIZE) -> Scene:
    """Zero (5%), one (55%) or two (40%) generic objects with a caption in a random template."""
    count = int(rng.choice([0, 1, 2], p=[0.05, 0.55, 0.40]))
    boxes = random_boxes(rng, count, size)
    things: list[Thing] = []
    for box in boxes:
        thing = random_thing(rng, box)
        while any(t.colour == thing.colour and t.shape == thing.shape for t in things):
            thing = random_thing(rng, box)
        things.append(thing)
    image, masks = render(rng, things, size)
    if things:
        caption = caption_of(things, TEMPLATES[int(rng.integers(len(TEMPLATES)))])
    else:
        caption = EMPTY_CAPTIONS[int(rng.integers(len(EMPTY_CAPTIONS)))]
    return Scene(image, tuple(things), caption, tuple(masks))


def generic_scenes(n: int, seed: int, size: int = SIZE) -> list[Scene]:
    rng = np.random.default_rng(seed)
    return [generic_scene(rng, size) for _ in range(n)]
