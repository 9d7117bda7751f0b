"""Training on captioned scenes, shared by tests/trainer/test_training.py and
benchmarks/captioned_training.py: a library of synthetic scenes whose first photos are tagged with
their captions and object boxes, the measures (held-out caption mAP, recall@10, the pointing game of
the objects' words) and the baseline: a plain full fine-tune with the SigLIP loss."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from synthetic import Box, Scene, make_dataset

from engine.encoder import Encoder
from engine.library import Library
from engine.search import Query
from engine.tag_scoring import average_precision
from engine.tags import Highlight, add_tag
from trainer.losses import SigmoidContrastiveLoss

SIZE = 64


@dataclass
class CaptionedLibrary:
    """`library` holds `scenes`; the first `tagged` are tagged with their captions and boxes."""

    library: Library
    scenes: list[Scene]
    tagged: int
    paths: list[str]

    @property
    def held_out(self) -> list[Scene]:
        return self.scenes[self.tagged :]

    @property
    def taught(self) -> list[Scene]:
        return self.scenes[: self.tagged]


def captioned_library(
    folder: Path, library: Library, scenes: int, tagged: int, seed: int
) -> CaptionedLibrary:
    """Write `scenes` scenes of one or two shapes to folder, index them, tag the first `tagged`."""
    made = make_dataset(scenes, seed=seed, size=SIZE, max_shapes=2)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [str(folder / f"scene{i:03d}.png") for i in range(scenes)]
    for path, scene in zip(paths, made, strict=True):
        scene.image.save(path)
    library.add_folders([folder])
    library.index()
    for i, scene in enumerate(made[:tagged]):
        marks = [
            Highlight(f"{c} {s}", (x0 / SIZE, y0 / SIZE, x1 / SIZE, y1 / SIZE))
            for c, s, (x0, y0, x1, y1) in scene.shapes
        ]
        add_tag(library.store, paths[i], scene.caption, marks)
    return CaptionedLibrary(library, made, tagged, paths)


def _unit(x: torch.Tensor) -> np.ndarray:
    return torch.nn.functional.normalize(x, dim=-1).numpy()


def retrieval(
    images: np.ndarray, texts: np.ndarray, captions: list[str], pairs: int = 30
) -> tuple[float, float]:
    """(mAP, recall@10) of ranking photos (`images`, whose captions are `captions`) by caption:
    mAP over the distinct captions (sorted; `texts` holds their vectors), recall@10 of the first
    `pairs` photos for their own caption."""
    distinct = sorted(set(captions))
    similarity = texts @ images.T
    relevant = np.array(captions)
    mean_ap = np.mean([average_precision(similarity[j], relevant == c) for j, c in enumerate(distinct)])
    found = [i in np.argsort(-similarity[distinct.index(captions[i])])[:10] for i in range(pairs)]
    return float(mean_ap), float(np.mean(found))


def encoder_retrieval(encoder: Encoder, scenes: list[Scene]) -> tuple[float, float]:
    """`retrieval` of the scenes by the engine's encoder (what search sees)."""
    pixels = torch.stack([encoder.preprocess_image(s.image) for s in scenes])
    captions = [s.caption for s in scenes]
    return retrieval(encoder.encode_images(pixels), encoder.encode_texts(sorted(set(captions))), captions)


def search_map(world: CaptionedLibrary) -> float:
    """Mean AP over the held-out scenes' distinct captions of the order search (the product's
    whole pipeline, tags included) puts the held-out scenes in for each caption."""
    held = world.paths[world.tagged :]
    captions = [s.caption for s in world.held_out]
    aps = []
    for caption in sorted(set(captions)):
        order = [h.path for h in world.library.search(Query(text=caption, k=len(world.paths)))]
        rank = {path: i for i, path in enumerate(order)}
        ranked = sorted(range(len(held)), key=lambda i: rank.get(held[i], len(order)))
        aps.append(
            average_precision(
                -np.arange(len(held), dtype=float), np.array([captions[i] == caption for i in ranked])
            )
        )
    return float(np.mean(aps))


def pointing(encoder: Encoder, objects: list[tuple[Image.Image, str, str, Box]]) -> float:
    """Share of the (photo, colour, shape, box in pixels) objects where the colour word's best patch
    (of the text "colour shape") lies inside the box."""
    pixels = torch.stack([encoder.preprocess_image(image) for image, *_ in objects])
    _, patches, (rows, cols) = encoder.image_tokens(pixels)
    hits = []
    for (image, colour, shape, (x0, y0, x1, y1)), grid in zip(objects, patches, strict=True):
        words = encoder.words(f"{colour} {shape}")
        _, vectors = encoder.text_tokens(f"{colour} {shape}")
        r, c = divmod(int(np.argmax(grid @ vectors[words[0][1]].mean(axis=0))), cols)
        width, height = image.size  # square scenes: the model's centre crop is the whole photo
        hits.append(x0 <= (c + 0.5) / cols * width <= x1 and y0 <= (r + 0.5) / rows * height <= y1)
    return float(np.mean(hits))


def objects(scenes: list[Scene]) -> list[tuple[Image.Image, str, str, Box]]:
    """The scenes' objects as `pointing` takes them."""
    return [(scene.image, *shape) for scene in scenes for shape in scene.shapes]


def plain_fine_tune(
    encoder: Encoder, taught: list[Scene], held_out: list[Scene], epochs: int
) -> tuple[float, float]:
    """The baseline, measured by `retrieval` on held_out: every weight of a copy of the encoder's
    model learns the taught scenes' captions, SigLIP loss, AdamW 3e-4, batches of 32."""
    model = copy.deepcopy(encoder.model).float().train()
    loss_fn = SigmoidContrastiveLoss()
    optimiser = torch.optim.AdamW([*model.parameters(), *loss_fn.parameters()], lr=3e-4)
    pixels = torch.stack([encoder.preprocess_image(s.image) for s in taught])
    captions = [s.caption for s in taught]
    ids = encoder.tokenize(captions)
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        order = rng.permutation(len(taught))
        for start in range(0, len(order), 32):
            batch = order[start : start + 32]
            images = torch.nn.functional.normalize(model.encode_image(pixels[batch]), dim=-1)
            texts = torch.nn.functional.normalize(model.encode_text(ids[batch]), dim=-1)
            positives = torch.tensor([[captions[i] == captions[j] for j in batch] for i in batch])
            loss = loss_fn(images, texts, positives)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    held = [s.caption for s in held_out]
    with torch.no_grad():
        images = _unit(model.encode_image(torch.stack([encoder.preprocess_image(s.image) for s in held_out])))
        texts = _unit(model.encode_text(encoder.tokenize(sorted(set(held)))))
    return retrieval(images, texts, held)
