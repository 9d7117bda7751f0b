"""OpenAI's ResNet image towers (RN50 and kin, open_clip's ModifiedResNet): patch vectors from the
attention pool (MaskCLIP), so heatmaps, the window cache's patch grids and --token-loss work on
them as on ViTs. The tower is shrunk and at random init (tests/conftest.py TINY_RESNET)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from engine import forward, runtime
from engine.encoder import Encoder
from engine.heatmaps import compute_heatmap, squash_input, word_vectors
from engine.library import Library


def _pixels(encoder: Encoder, seed: int, n: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 255, (90 + 20 * i, 120, 3), dtype=np.uint8)) for i in range(n)]
    return np.stack([encoder.preprocess_array(im) for im in images])


def test_a_patch_is_what_the_pool_returns_attending_to_that_location_alone(tiny_resnet):
    pool = tiny_resnet.model.visual.attnpool
    saved = pool.positional_embedding.detach().clone()
    try:
        with torch.no_grad():
            pool.positional_embedding.zero_()
            # Every location alike: attention, whatever its weights, returns that one value.
            alike = torch.randn(2, pool.v_proj.in_features, 1, 1).expand(-1, -1, 4, 4).contiguous()
            patches = forward.attend_alone(pool, alike)
            torch.testing.assert_close(patches, pool(alike)[:, None].expand(-1, 16, -1), rtol=1e-4, atol=1e-4)
            # Different locations, different patches.
            varied = forward.attend_alone(pool, torch.randn(2, pool.v_proj.in_features, 4, 4))
            unit = torch.nn.functional.normalize(varied, dim=-1)
            assert (unit @ unit.transpose(1, 2)).min() < 0.99
    finally:
        with torch.no_grad():
            pool.positional_embedding.copy_(saved)


def test_resnet_patches_beside_the_unchanged_photo_vector(tiny_resnet):
    assert tiny_resnet.supports_patch_tokens
    pixels = torch.from_numpy(_pixels(tiny_resnet, seed=1))
    with torch.inference_mode():
        pooled, patches, grid = forward.image_patches(tiny_resnet.model, pixels)
        want = forward.image_vectors(tiny_resnet.model, pixels)
    assert grid == (4, 4) and patches.shape == (3, 16, 64)  # 128 px / 32
    torch.testing.assert_close(pooled, want)
    torch.testing.assert_close(patches.norm(dim=-1), torch.ones(3, 16))


def test_the_runtime_gives_resnet_grids_as_torch_does(tiny_resnet):
    assert tiny_resnet.towers is not None  # the exported graphs, not torch
    pixels = _pixels(tiny_resnet, seed=2)
    vectors, grids = tiny_resnet.encode_images_and_grids(pixels)
    with torch.inference_mode():
        want_vectors, want_grids = forward.image_grid(tiny_resnet.model, torch.from_numpy(pixels))
    assert grids is not None and grids.shape == (3, 4, 4, 64)
    assert (vectors * want_vectors.numpy()).sum(axis=1).min() >= runtime.MIN_COSINE
    cells = (grids * want_grids.numpy()).sum(axis=-1)
    assert cells.min() >= runtime.MIN_COSINE


def test_heatmap_from_a_resnet(tiny_resnet):
    image = Image.fromarray(np.random.default_rng(3).integers(0, 255, (60, 80, 3), dtype=np.uint8))
    heatmap = compute_heatmap(tiny_resnet, image, "a red circle in the corner")
    assert heatmap.words == ["red", "circle", "corner"] and heatmap.grid == (4, 4)
    _, patches, _ = tiny_resnet.image_tokens(
        tiny_resnet.preprocess_image(squash_input(tiny_resnet, image))[None], clearclip=True
    )
    red = dict(word_vectors(tiny_resnet, "a red circle in the corner"))["red"]
    np.testing.assert_allclose(heatmap.maps["red"].ravel(), patches[0] @ red, atol=1e-5)
    assert not np.allclose(heatmap.maps["red"], heatmap.maps["corner"])


def test_a_resnet_library_keeps_patch_grids_for_the_window_cache(tiny_resnet, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(4)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(photos / f"{i}.jpg")
    library = Library(tmp_path / "library", encoder=tiny_resnet)
    try:
        library.add_folders([photos])
        library.index()
        hashes = [library.store.photos.by_path(str(p)).hash for p in sorted(photos.iterdir())]
        grids = library.store.grids.of(library.model.key, hashes)
    finally:
        library.close()
    assert len(grids) == 3 and all(g.shape == (4, 4, 64) for g in grids.values())
