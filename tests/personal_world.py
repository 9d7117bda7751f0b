"""Held-out personal worlds on top of the generic world (tests/world.py).

A personal concept is one particular look (colour, shape, pattern and accent: "a striped red circle
with a green dot") named by a word the pretrained base never saw ("rex"): the base knows the
attributes, as a web-trained CLIP knows dogs and collars, but not that this look is Rex. A world holds, for each concept, photos the user
tags (with the concept's box as a highlight), and a library of untagged photos: more photos of the
concepts (what the tag should find), decoys that share some of a concept's attributes (its colour
and shape, or its accent), and generic scenes. Generic queries ("red circle") with their answers
measure whether personalisation disturbed everything else. Tagged, held-out and generic photos
never overlap.

    world = personal_world(make_concepts(["rex"], seed=3), seed=3)
    paths = write_world(world, tmp_path / "photos")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from world import (
    ACCENTS,
    COLOURS,
    PATTERNS,
    SHAPES,
    SIZE,
    Box,
    Thing,
    random_boxes,
    random_thing,
    render,
)

Fraction4 = tuple[float, float, float, float]


@dataclass(frozen=True)
class Concept:
    """A personal concept: a name and the look it stands for."""

    name: str
    colour: str
    shape: str
    pattern: str
    accent: tuple[str, str]  # (kind, colour)

    def thing(self, box: Box) -> Thing:
        return Thing(self.colour, self.shape, self.pattern, box, self.accent)


@dataclass(frozen=True)
class Photo:
    """One photo of a world. concept: the name of the concept in it (None for decoys and generic
    scenes); box: where that concept is, fractions of the photo (x0, y0, x1, y1)."""

    name: str
    image: Image.Image
    things: tuple[Thing, ...]
    concept: str | None = None
    box: Fraction4 | None = None
    kind: str = "generic"  # "concept", "decoy" or "generic"


@dataclass(frozen=True)
class PersonalWorld:
    concepts: tuple[Concept, ...]
    tagged: dict[str, list[Photo]]  # concept name -> the photos the user tags with it
    library: list[Photo]  # untagged photos: held-out concept photos, decoys, generic scenes
    generic_queries: list[tuple[str, frozenset[int]]]  # (query, indices into library that answer it)

    def relevant(self, name: str) -> set[int]:
        """Indices of library photos that show concept `name`."""
        return {i for i, p in enumerate(self.library) if p.concept == name}


def make_concepts(names: Sequence[str], seed: int) -> list[Concept]:
    """One concept per name, with distinct colour-shape pairs and an accent of another colour."""
    rng = np.random.default_rng(seed)
    used: set[tuple[str, str]] = set()
    concepts = []
    for name in names:
        while True:
            colour, shape = str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES))
            if (colour, shape) not in used:
                break
        used.add((colour, shape))
        accent_colour = str(rng.choice([c for c in COLOURS if c != colour]))
        pattern = str(rng.choice(PATTERNS))
        concepts.append(Concept(name, colour, shape, pattern, (str(rng.choice(ACCENTS)), accent_colour)))
    return concepts


def draw(rng: np.random.Generator, things: Sequence[Thing]) -> Image.Image:
    return render(rng, things)[0]


def _fraction(box: Box, size: int = SIZE) -> Fraction4:
    return (box[0] / size, box[1] / size, box[2] / size, box[3] / size)


def _unlike(rng: np.random.Generator, box: Box, concepts: Sequence[Concept]) -> Thing:
    """A generic object that is not any concept's colour-shape pair."""
    while True:
        thing = random_thing(rng, box)
        if all((thing.colour, thing.shape) != (c.colour, c.shape) for c in concepts):
            return thing


def concept_photo(
    rng: np.random.Generator, concept: Concept, concepts: Sequence[Concept], name: str
) -> Photo:
    """The concept, alone (40%) or beside a generic object."""
    boxes = random_boxes(rng, 1 if rng.random() < 0.4 else 2)
    things = [concept.thing(boxes[0])] + [_unlike(rng, b, concepts) for b in boxes[1:]]
    order = rng.permutation(len(things))
    things = [things[i] for i in order]
    image = draw(rng, things)
    return Photo(name, image, tuple(things), concept.name, _fraction(boxes[0]), "concept")


def decoy_thing(rng: np.random.Generator, concept: Concept, box: Box, concepts: Sequence[Concept]) -> Thing:
    """Something sharing part of the concept's look: its colour and shape in another pattern and
    without its accent (half of the decoys), or its pattern and accent on another colour or shape;
    never exactly another of the `concepts` (that would be a photo of it, counted as not)."""
    while True:
        thing = _decoy_thing(rng, concept, box)
        if all(thing != c.thing(box) for c in concepts):
            return thing


def _decoy_thing(rng: np.random.Generator, concept: Concept, box: Box) -> Thing:
    roll = rng.random()
    if roll < 0.5:
        pattern = str(rng.choice([p for p in PATTERNS if p != concept.pattern]))
        return Thing(concept.colour, concept.shape, pattern, box)
    if roll < 0.75:
        colour = str(rng.choice([c for c in COLOURS if c not in (concept.colour, concept.accent[1])]))
        return Thing(colour, concept.shape, concept.pattern, box, concept.accent)
    shape = str(rng.choice([s for s in SHAPES if s != concept.shape]))
    return Thing(concept.colour, shape, concept.pattern, box, concept.accent)


def decoy_photo(rng: np.random.Generator, concept: Concept, concepts: Sequence[Concept], name: str) -> Photo:
    boxes = random_boxes(rng, 1 if rng.random() < 0.4 else 2)
    things = [decoy_thing(rng, concept, boxes[0], concepts)] + [_unlike(rng, b, concepts) for b in boxes[1:]]
    return Photo(name, draw(rng, things), tuple(things), None, None, "decoy")


def generic_photo(rng: np.random.Generator, concepts: Sequence[Concept], name: str) -> Photo:
    count = int(rng.choice([0, 1, 2], p=[0.05, 0.55, 0.40]))
    things = [_unlike(rng, b, concepts) for b in random_boxes(rng, count)]
    return Photo(name, draw(rng, things), tuple(things))


def personal_world(
    concepts: Sequence[Concept],
    *,
    seed: int,
    tagged: int = 30,
    held_out: int = 15,
    decoys: int = 30,
    generic: int = 100,
    queries: int = 12,
) -> PersonalWorld:
    """`tagged` photos to tag and `held_out` untagged photos per concept, `decoys` decoys per
    concept, `generic` generic scenes, and up to `queries` generic colour-shape queries with
    at least three answers each."""
    rng = np.random.default_rng(seed)
    tags = {
        c.name: [concept_photo(rng, c, concepts, f"{c.name}-tagged-{i:03d}") for i in range(tagged)]
        for c in concepts
    }
    library: list[Photo] = []
    for c in concepts:
        library += [concept_photo(rng, c, concepts, f"{c.name}-{i:03d}") for i in range(held_out)]
        library += [decoy_photo(rng, c, concepts, f"decoy-{c.name}-{i:03d}") for i in range(decoys)]
    library += [generic_photo(rng, concepts, f"generic-{i:03d}") for i in range(generic)]
    order = rng.permutation(len(library))
    library = [library[i] for i in order]
    answers: dict[str, set[int]] = {}
    for i, photo in enumerate(library):
        for t in photo.things:
            answers.setdefault(f"{t.colour} {t.shape}", set()).add(i)
    usable = sorted(q for q, found in answers.items() if len(found) >= 3)
    pick = sorted(rng.choice(len(usable), size=min(queries, len(usable)), replace=False).tolist())
    generic_queries = [(usable[i], frozenset(answers[usable[i]])) for i in pick]
    return PersonalWorld(tuple(concepts), tags, library, generic_queries)


def write_world(world: PersonalWorld, folder: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Save every photo as PNG under folder: ({concept: tagged photo paths}, library paths).

    The files are numbered, not named after the photos: search matches a query's words against
    file names, and "rex-003.png" or "decoy-rex-007.png" would hand the name's query its answers
    (and their decoys) whatever the model sees."""
    folder.mkdir(parents=True, exist_ok=True)
    count = iter(range(len(world.library) + sum(len(p) for p in world.tagged.values())))

    def save(photo: Photo) -> str:
        path = folder / f"{next(count):05d}.png"
        photo.image.save(path)
        return str(path)

    tagged = {name: [save(p) for p in photos] for name, photos in world.tagged.items()}
    return tagged, [save(p) for p in world.library]


# -- measures ------------------------------------------------------------------------------------


def average_precision(scores: Sequence[float] | np.ndarray, relevant: set[int] | frozenset[int]) -> float:
    """AP of ranking items by descending score (ties broken by index) against the relevant set."""
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores, float)))
    hits, total = 0, 0.0
    for rank, i in enumerate(order, start=1):
        if int(i) in relevant:
            hits += 1
            total += hits / rank
    return total / max(1, len(relevant))


def pointing_hit(heatmap: np.ndarray, box: Fraction4) -> bool:
    """The pointing game: does the heatmap's peak (its cell centre) fall inside the box?"""
    rows, cols = heatmap.shape
    r, c = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    x, y = (c + 0.5) / cols, (r + 0.5) / rows
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]
