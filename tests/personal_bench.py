"""Measurements of personalisation on a held-out personal world, shared by the tests and
benchmarks/personal_tags.py: a library of the world's photos, the user's tags, and the measures
(AP of a tag's name over the untagged photos, generic-query mAP, the pointing game) for the
product and for simple baselines, all on the same data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from personal_world import PersonalWorld, average_precision, pointing_hit, write_world

from engine.heatmaps import compute_heatmap
from engine.search import Query
from engine.tag_scoring import fit_probe, prototype_scores
from engine.tags import Highlight, TagSearchConfig, TagStage, add_tag


@dataclass
class WorldLibrary:
    """A library holding a world's photos, tagged as the user would."""

    world: PersonalWorld
    library: object  # engine.library.Library
    tagged: dict[str, list[str]]
    paths: list[str]  # library (untagged) photos, in world.library order

    def vectors(self, paths: list[str]) -> np.ndarray:
        """The stored vectors of these photos under the library's current model."""
        library = self.library
        hashes = [library.store.photos.by_path(p).hash for p in paths]  # type: ignore[attr-defined]
        from trainer.data import stored_vectors

        found, vectors = stored_vectors(library.store, library.model.key)  # type: ignore[attr-defined]
        row = {h: i for i, h in enumerate(found)}
        return vectors[[row[h] for h in hashes]]

    def search_scores(self, text: str) -> np.ndarray:
        """Score of every untagged photo for `text` through Library.search (tags included): minus its
        place in search's order (matches, then weaker results); photos it does not return -inf."""
        library = self.library
        hits = library.search(Query(text=text, k=len(self.paths) + 200))  # type: ignore[attr-defined]
        score = {h.path: -float(i) for i, h in enumerate(hits)}
        return np.array([score.get(p, -np.inf) for p in self.paths])

    def text_scores(self, text: str) -> np.ndarray:
        """Cosine of every untagged photo with `text` under the current model (no tags)."""
        library = self.library
        vector = library.encoder().encode_texts([text])[0]  # type: ignore[attr-defined]
        return self.vectors(self.paths) @ vector


def build_library(
    world: PersonalWorld, folder: Path, make_library, *, highlights: bool = True
) -> WorldLibrary:
    """Write the world's photos, index them with `make_library()`, and tag each concept's tagged
    photos with its name (and its box as a highlight)."""
    tagged, paths = write_world(world, folder / "photos")
    library = make_library()
    library.add_folders([folder / "photos"])
    library.index()
    boxes = {c: [p.box for p in photos] for c, photos in world.tagged.items()}
    for name, files in tagged.items():
        for path, box in zip(files, boxes[name], strict=True):
            marks = [Highlight(name, box)] if highlights and box else []
            add_tag(library.store, path, name, marks)
    return WorldLibrary(world, library, tagged, paths)


def tag_ap(wl: WorldLibrary, scores: np.ndarray, name: str) -> float:
    return average_precision(scores, wl.world.relevant(name))


def instant_measures(wl: WorldLibrary) -> dict[str, float]:
    """Mean over concepts of the AP of the concept's name over the untagged photos: the product's
    search, and the baselines: text only, the prototype (cosine to the mean of the tagged photos'
    vectors), a linear probe of the tagged photos against the library, and two references for what
    the stored vectors allow: a probe fitted on the answers themselves (the untagged photos of the
    concept against the rest; in-sample, so it overstates), and a supervised probe, cross-fitted:
    each half of the library is scored by a probe that knew the other half's answers and negatives
    besides the tagged photos."""
    out: dict[str, list[float]] = {
        "search": [], "text only": [], "prototype": [], "linear probe": [], "probe on answers": [],
        "supervised, cross-fitted": [],
    }  # fmt: skip
    halves = np.random.default_rng(0).permutation(len(wl.paths)) % 2
    library_vectors = wl.vectors(wl.paths)
    for concept in wl.world.concepts:
        name = concept.name
        keys = wl.vectors(wl.tagged[name])
        out["search"].append(tag_ap(wl, wl.search_scores(name), name))
        out["text only"].append(tag_ap(wl, wl.text_scores(name), name))
        out["prototype"].append(tag_ap(wl, prototype_scores(keys, library_vectors), name))
        probe = fit_probe(keys, library_vectors)
        out["linear probe"].append(tag_ap(wl, probe.logits(library_vectors), name))
        answers = np.isin(np.arange(len(wl.paths)), sorted(wl.world.relevant(name)))
        oracle = fit_probe(library_vectors[answers], library_vectors[~answers], shrinkage=0.01)
        out["probe on answers"].append(tag_ap(wl, oracle.logits(library_vectors), name))
        crossed = np.zeros(len(wl.paths))
        for half in (0, 1):
            known = halves != half
            fitted = fit_probe(
                np.concatenate([keys, library_vectors[known & answers]]), library_vectors[known & ~answers]
            )
            crossed[~known] = fitted.logits(library_vectors[~known])
        out["supervised, cross-fitted"].append(tag_ap(wl, crossed, name))
    return {k: float(np.mean(v)) for k, v in out.items()}


def search_ap_with_in_sample_trust(wl: WorldLibrary) -> float:
    """instant_measures' search AP with the tag stage trusting a trained name's text as much as it
    separates the tagged photos in-sample (the behaviour before held-out trust): a baseline."""
    stage = next(s for s in wl.library.search_parts()[2] if isinstance(s, TagStage))  # type: ignore[attr-defined]
    kept, stage.held_out = stage.held_out, {}
    try:
        return instant_measures(wl)["search"]
    finally:
        stage.held_out = kept


def search_ap_without_windows(wl: WorldLibrary) -> float:
    """instant_measures' search AP with the tag stage scoring the global vectors only, without the
    window cache over the photos' patch grids (the scorer before grids were kept): a baseline."""
    return _search_ap_with(wl, lambda config: replace(config, windows=None))


def search_ap_without_shape(wl: WorldLibrary) -> float:
    """instant_measures' search AP with the window cache's affinity alone, without its shape probe
    (engine/tag_windows.py WindowScorer): a baseline."""
    return _search_ap_with(
        wl, lambda config: replace(config, windows=config.windows and replace(config.windows, shape_share=0.0))
    )


def search_ap_with_flat_window_weight(wl: WorldLibrary, weight: float) -> float:
    """instant_measures' search AP with the window cache at one `weight`, however many grid cells
    the tagged objects span (before the weight followed them, 0.7): a baseline."""
    return _search_ap_with(
        wl,
        lambda config: replace(
            config, windows=config.windows and replace(config.windows, weight=weight, flat_cells=0.0, full_cells=1e-6)
        ),
    )


def _search_ap_with(wl: WorldLibrary, change: Callable[[TagSearchConfig], TagSearchConfig]) -> float:
    """instant_measures' search AP with the tag stage's settings changed by `change`, then restored."""
    stage = next(s for s in wl.library.search_parts()[2] if isinstance(s, TagStage))  # type: ignore[attr-defined]
    kept = stage.config
    stage.config = change(kept)
    try:
        return instant_measures(wl)["search"]
    finally:
        stage.config = kept


def generic_map(wl: WorldLibrary) -> float:
    """Mean AP of the world's generic queries over the untagged photos, with the current model."""
    return float(
        np.mean([average_precision(wl.text_scores(q), answers) for q, answers in wl.world.generic_queries])
    )


def pointing_game(wl: WorldLibrary, name: str, *, clearclip: bool = False, tags: bool = False) -> float:
    """Share of the untagged photos of concept `name` whose heatmap for the word `name` peaks
    inside the concept's box (the whole photo is the map's extent). tags: the tag map of the name
    (where the tag's window cache finds the object: Library.tag_windows) instead of the model's
    own map of the word, where the tag has one."""
    encoder = wl.library.encoder()  # type: ignore[attr-defined]
    windows = wl.library.tag_windows(name) if tags else {}  # type: ignore[attr-defined]
    hits = []
    for i in sorted(wl.world.relevant(name)):
        photo = wl.world.library[i]
        heat = compute_heatmap(encoder, photo.image, name, clearclip=clearclip, tags=windows)
        assert photo.box is not None
        word = heat.words[0]
        hits.append(pointing_hit(heat.tag_maps.get(word, heat.maps[word]) if tags else heat.maps[word], photo.box))
    return float(np.mean(hits))
