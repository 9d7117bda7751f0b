"""Synthetic scenes for tests that need ground truth: coloured shapes at known places, with captions.

A scene is a plain grey picture with one or a few shapes ("red circle", "blue square"), a caption
that names them ("red circle and blue square") and, for every word of the caption that names
something, the pixel mask of what it names. Tests train a tiny model on these and then check
where its heatmaps point and which scenes a category collects.

    rng = np.random.default_rng(0)
    scene = make_scene(rng, [("red", "circle", (8, 8, 40, 40))], size=64)
    scenes = make_dataset(200, seed=1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 180, 40),
    "blue": (40, 60, 220),
    "yellow": (235, 215, 30),
}
SHAPES = ("circle", "square", "triangle")

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels; right and bottom exclusive


@dataclass(frozen=True)
class Scene:
    """One synthetic picture and what is in it."""

    image: Image.Image
    caption: str
    shapes: tuple[tuple[str, str, Box], ...]  # (colour, shape, box) in caption order
    masks: dict[str, np.ndarray] = field(repr=False)  # caption word -> (size, size) bool mask

    @property
    def colours(self) -> set[str]:
        return {colour for colour, _, _ in self.shapes}

    def box_of(self, word: str) -> Box:
        """The box of the (single) shape that a colour or shape word names."""
        for colour, shape, box in self.shapes:
            if word in (colour, shape):
                return box
        raise KeyError(word)


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: Box, fill: int | tuple[int, int, int]) -> None:
    left, top, right, bottom = box
    if shape == "circle":
        draw.ellipse((left, top, right - 1, bottom - 1), fill=fill)
    elif shape == "square":
        draw.rectangle((left, top, right - 1, bottom - 1), fill=fill)
    elif shape == "triangle":
        draw.polygon([((left + right) / 2, top), (right - 1, bottom - 1), (left, bottom - 1)], fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")


def make_scene(
    rng: np.random.Generator,
    shapes: Sequence[tuple[str, str, Box]],
    size: int = 64,
    template: str = "{}",
) -> Scene:
    """Render `shapes` (colour, shape, box) on a grey background with a little noise.

    The caption names the shapes in order ("red circle and blue square"), formatted into
    `template` ("a photo of a {}."). masks maps each colour and shape word to its pixels.
    """
    background = int(rng.integers(90, 170))
    pixels = np.full((size, size, 3), background, np.int16)
    pixels += rng.integers(-12, 13, size=pixels.shape, dtype=np.int16)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    masks: dict[str, np.ndarray] = {}
    for colour, shape, box in shapes:
        _draw(draw, shape, box, COLOURS[colour])
        mask_image = Image.new("L", (size, size), 0)
        _draw(ImageDraw.Draw(mask_image), shape, box, 255)
        mask = np.asarray(mask_image) > 0
        for word in (colour, shape):
            masks[word] = masks[word] | mask if word in masks else mask
    caption = " and ".join(f"{colour} {shape}" for colour, shape, _ in shapes)
    return Scene(image, template.format(caption), tuple(shapes), masks)


def random_shapes(rng: np.random.Generator, count: int, size: int = 64) -> list[tuple[str, str, Box]]:
    """`count` shapes of distinct colours and kinds in boxes that do not overlap."""
    colours = rng.choice(list(COLOURS), size=count, replace=False)
    kinds = rng.choice(list(SHAPES), size=count, replace=False)
    boxes: list[Box] = []
    while len(boxes) < count:
        if len(boxes) and rng.random() < 0.02:
            boxes = []  # the first boxes left no room: start over rather than loop forever
        side = int(rng.integers(size * 3 // 10, size // 2 + 1))
        left, top = (int(v) for v in rng.integers(0, size - side + 1, size=2))
        box = (left, top, left + side, top + side)
        if all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in boxes):
            boxes.append(box)
    return [(str(c), str(k), b) for c, k, b in zip(colours, kinds, boxes, strict=True)]


def make_dataset(
    n: int,
    seed: int,
    size: int = 64,
    max_shapes: int = 2,
    templates: Sequence[str] = ("{}",),
) -> list[Scene]:
    """`n` random scenes with 1..max_shapes shapes each, captions in a random one of `templates`."""
    rng = np.random.default_rng(seed)
    scenes = []
    for _ in range(n):
        count = int(rng.integers(1, max_shapes + 1))
        template = templates[int(rng.integers(len(templates)))]
        scenes.append(make_scene(rng, random_shapes(rng, count, size), size, template))
    return scenes


# -- a tiny model that has learnt these scenes ----------------------------------------------------
# Shared by tests that need a model whose word maps and photo vectors mean something. Global
# softmax contrastive loss (photo vectors for search and categories) plus FILIP's token loss
# (patch-word maps), on the same tensors the engine's Encoder reads at inference.


def train_tiny_clip(
    encoder, scenes: Sequence[Scene], *, steps: int = 300, batch: int = 64, seed: int = 0
) -> list[float]:
    """Train `encoder.model` (an open_clip CLIP, in place) on `scenes`; returns the loss per step.

    Leaves the model in eval mode. Deterministic for a given seed and thread count.
    """
    import torch

    from trainer.losses import SoftmaxContrastiveLoss, TokenContrastiveLoss, positives_from_groups

    model = encoder.model
    visual = model.visual
    images = torch.stack([encoder.preprocess_image(s.image) for s in scenes])
    ids = encoder.tokenize([s.caption for s in scenes])
    eot = ids.argmax(dim=-1)  # the end-of-text id is the largest in the vocabulary
    length = int(eot.max()) + 1
    ids = ids[:, :length]
    positions = torch.arange(length)[None]
    content = (positions > 0) & (positions < eot[:, None])
    groups = [frozenset((c, k) for c, k, _ in s.shapes) for s in scenes]

    global_loss = SoftmaxContrastiveLoss()
    token_loss = TokenContrastiveLoss(SoftmaxContrastiveLoss())
    params = [*model.parameters(), *global_loss.parameters(), *token_loss.parameters()]
    optimiser = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.01)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(steps):
        pick = torch.randperm(len(scenes), generator=generator)[:batch]
        x = visual._embeds(images[pick])
        pooled, tokens = visual._pool(visual.transformer(x))
        image_vec = torch.nn.functional.normalize(pooled @ visual.proj, dim=-1)
        patches = torch.nn.functional.normalize(tokens @ visual.proj, dim=-1)
        t = model.token_embedding(ids[pick]) + model.positional_embedding[:length]
        hidden = model.ln_final(model.transformer(t, attn_mask=model.attn_mask[:length, :length]))
        words = torch.nn.functional.normalize(hidden @ model.text_projection, dim=-1)
        text_vec = words[torch.arange(len(pick)), eot[pick]]
        picked = [groups[i] for i in pick.tolist()]
        positives = positives_from_groups(picked, picked)
        loss = global_loss(image_vec, text_vec, positives) + token_loss(
            patches, words, content[pick], positives
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


_TRAINED: dict[tuple, object] = {}


def trained_tiny_encoder(config: str, *, scenes: int = 2000, steps: int = 150, seed: int = 1):
    """A fresh engine Encoder of the tiny config, trained on `scenes` synthetic scenes.

    Cached per process, so several test modules share one training run (~1 minute on 2 cores).
    """
    key = (str(config), scenes, steps, seed)
    if key not in _TRAINED:
        import torch

        from engine.config import ModelSpec
        from engine.encoder import Encoder

        encoder = Encoder.load(ModelSpec(str(config), None), "cpu")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            train_tiny_clip(encoder, make_dataset(scenes, seed), steps=steps, seed=seed)
        _TRAINED[key] = encoder
    return _TRAINED[key]


def write_scenes(folder, count: int, colours: int, seed: int = 0) -> list[tuple[str, str]]:
    """`count` one-shape scenes saved as PNGs in folder, cycling through the first `colours`
    colours: [(path, colour)]."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        colour = list(COLOURS)[i % colours]
        _, shape, box = random_shapes(rng, 1)[0]
        path = folder / f"s{i:02d}.png"
        make_scene(rng, [(colour, shape, box)]).image.save(path)
        out.append((str(path), colour))
    return out
