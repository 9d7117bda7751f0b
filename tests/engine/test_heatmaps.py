"""Patch-word heatmaps: they point at what the words name, on a tiny model trained on synthetic scenes."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image
from synthetic import make_dataset, make_scene, trained_tiny_encoder

from engine.heatmaps import Heatmap, compute_heatmap, overlay, turbo_palette, word_vectors

log = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def trained(tiny_config):
    return trained_tiny_encoder(str(tiny_config))


def pointing_game(encoder, scenes, *, clearclip: bool) -> tuple[float, float]:
    """Share of (scene, colour or shape word) whose map's best cell centre lies in that shape's box,
    and the share expected by chance (the box's share of the picture)."""
    hits = total = 0
    chance = 0.0
    for scene in scenes:
        size = scene.image.size[0]
        heatmap = compute_heatmap(encoder, scene.image, scene.caption, clearclip=clearclip)
        rows, cols = heatmap.grid
        for word in heatmap.words:
            box = scene.box_of(word)
            r, c = divmod(int(np.argmax(heatmap.maps[word])), cols)
            x, y = (c + 0.5) * size / cols, (r + 0.5) * size / rows
            hits += box[0] <= x < box[2] and box[1] <= y < box[3]
            chance += (box[2] - box[0]) * (box[3] - box[1]) / size**2
            total += 1
    return hits / total, chance / total


def test_word_maps_point_at_the_named_shape(trained):
    scenes = make_dataset(150, seed=99)
    score, chance = pointing_game(trained, scenes, clearclip=False)
    clear, _ = pointing_game(trained, scenes, clearclip=True)
    log.warning("pointing game: %.3f (ClearCLIP %.3f), chance %.3f", score, clear, chance)
    print(f"pointing game {score:.3f} (ClearCLIP path {clear:.3f}), chance {chance:.3f}")
    assert score > chance + 0.35


def test_untrained_model_does_not_point(tiny_encoder):
    # The same measure on the random model stays near chance: the test above measures learning.
    score, chance = pointing_game(tiny_encoder, make_dataset(60, seed=98), clearclip=False)
    assert score < chance + 0.25


def test_heatmap_shape_words_and_stop_words(trained):
    scene = make_scene(np.random.default_rng(0), [("red", "circle", (4, 4, 28, 28))], size=64)
    heatmap = compute_heatmap(trained, scene.image, "a red circle in the corner", clearclip=False)
    assert isinstance(heatmap, Heatmap)
    assert heatmap.words == ["red", "circle", "corner"]
    assert heatmap.grid == (8, 8)
    assert all(m.shape == (8, 8) and m.dtype == np.float32 for m in heatmap.maps.values())
    assert heatmap.text_map.shape == (8, 8)
    assert heatmap.image_size == (64, 64)
    assert np.all(np.abs(heatmap.text_map) <= 1.0 + 1e-5)
    everything = compute_heatmap(trained, scene.image, "a red circle", include_stop_words=True)
    assert everything.words == ["a", "red", "circle"]
    # Only stop words: keep them rather than return nothing.
    assert compute_heatmap(trained, scene.image, "the of").words == ["the", "of"]
    # JSON shape: rows x cols lists.
    data = heatmap.to_json()
    assert set(data) == {"words", "grid", "maps", "text_map", "image_size", "tag_maps"} and data["tag_maps"] == {}
    assert len(data["text_map"]) == 8 and len(data["text_map"][0]) == 8


def test_split_word_gets_one_vector(trained):
    words = word_vectors(trained, "labradoodle")
    assert [w for w, _ in words] == ["labradoodle"]
    assert len(trained.words("labradoodle")[0][1]) > 1  # several BPE pieces merged into one word
    assert abs(float(np.linalg.norm(words[0][1])) - 1.0) < 1e-5


def test_whole_photo_is_covered_top_left_first(trained):
    # A wide photo with the red square at its far left: squashing keeps it on the map (a centre
    # crop would cut it off), and cell (0, 0) is top-left.
    scene = make_scene(np.random.default_rng(1), [("red", "square", (0, 0, 28, 28))], size=64)
    wide = Image.new("RGB", (192, 64), scene.image.getpixel((60, 60)))
    wide.paste(scene.image.crop((0, 0, 32, 64)).resize((32, 64)), (0, 0))
    heatmap = compute_heatmap(trained, wide, "red square", clearclip=False)
    assert heatmap.image_size == (192, 64)
    r, c = divmod(int(np.argmax(heatmap.maps["red"])), heatmap.grid[1])
    assert c <= 2 and r <= 4


def test_clearclip_changes_only_the_dense_maps(trained):
    images = make_dataset(4, seed=5)
    batch = __import__("torch").stack([trained.preprocess_image(s.image) for s in images])
    pooled_clear, patches_clear, _ = trained.image_tokens(batch, clearclip=True)
    pooled_raw, patches_raw, _ = trained.image_tokens(batch, clearclip=False)
    np.testing.assert_allclose(pooled_clear, trained.encode_images(batch), atol=1e-5)
    np.testing.assert_allclose(pooled_raw, pooled_clear, atol=1e-6)
    assert np.abs(patches_clear - patches_raw).max() > 1e-2
    a = compute_heatmap(trained, images[0].image, images[0].caption, clearclip=True)
    b = compute_heatmap(trained, images[0].image, images[0].caption, clearclip=False)
    assert not np.allclose(a.text_map, b.text_map)


def test_overlay_colours_the_hot_region():
    image = Image.new("RGB", (300, 200), (128, 128, 128))
    grid = np.zeros((2, 3), np.float32)
    grid[0, 2] = 1.0  # top-right is hot
    out = overlay(image, grid, 0.5)
    assert out.size == image.size and out.mode == "RGB"
    hot, cold = np.asarray(out.getpixel((290, 10))), np.asarray(out.getpixel((10, 190)))
    expected_hot = (np.array([128] * 3) * 0.5 + turbo_palette()[255] * 0.5).round()
    np.testing.assert_allclose(hot, expected_hot, atol=3)
    assert not np.allclose(hot, cold, atol=20)
    assert np.array_equal(np.asarray(overlay(image, grid, 0.0)), np.asarray(image))
    with pytest.raises(ValueError):
        overlay(image, grid, 1.5)
    flat = overlay(image, np.ones((2, 2)), 0.5)  # a constant map does not divide by zero
    assert flat.size == image.size


def test_words_are_the_texts_own_words_not_tokenizer_pieces(tiny_encoder):
    from engine.heatmaps import word_vectors

    words = [w for w, _ in word_vectors(tiny_encoder, "Canon_40D on a beach, at night")]
    assert words == ["Canon_40D", "beach", "night"]  # stop words left out, punctuation stripped
    assert [w for w, _ in word_vectors(tiny_encoder, "it's a dog's life")] == ["dog's", "life"]
