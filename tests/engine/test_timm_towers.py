"""MobileCLIP2 and SigLIP2 towers (timm-based in open_clip): vectors, patch tokens for heatmaps, and
the OpenVINO runtime with its check against torch.

The image towers are the real ones (MobileCLIP2-S0's FastViT-MCi0, SigLIP2 B/32's ViT with its
attention-pool head) at random init; the text towers are shrunk to two layers so the tests stay
quick. SigLIP2's tokenizer comes from Hugging Face, which tests never reach: its texts are token ids
made here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from engine import forward, runtime
from engine.config import ModelSpec, default_cache_dir
from engine.encoder import Encoder, _use_published_preprocessing
from engine.errors import ModelUnavailable
from engine.heatmaps import compute_heatmap, squash_input

pytest.importorskip("timm")

MOBILECLIP2 = {
    "embed_dim": 64,
    "vision_cfg": {**open_clip.get_model_config("MobileCLIP2-S0")["vision_cfg"], "image_size": 128},
    "text_cfg": {
        "context_length": 77,
        "vocab_size": 49408,
        "width": 64,
        "heads": 2,
        "layers": 2,
        "no_causal_mask": True,
    },
    "custom_text": True,
}
_SIGLIP2_TEXT = open_clip.get_model_config("ViT-B-32-SigLIP2-256")["text_cfg"]
SIGLIP2 = {
    "embed_dim": 768,
    "init_logit_bias": -10,
    "custom_text": True,
    "vision_cfg": open_clip.get_model_config("ViT-B-32-SigLIP2-256")["vision_cfg"],
    "text_cfg": {
        **{k: v for k, v in _SIGLIP2_TEXT.items() if k not in ("hf_tokenizer_name", "tokenizer_kwargs")},
        "context_length": 16,
        "vocab_size": 1000,
        "width": 64,
        "heads": 2,
        "layers": 2,
    },
}
VOCAB = {
    w: i + 2
    for i, w in enumerate(
        ["a", "red", "blue", "circle", "square", "in", "the", "corner", "dog", "snow", "on", "of"]
    )
}


def siglip_ids(texts: list[str]) -> torch.Tensor:
    """Token ids made here, shaped as SigLIP's tokenizer shapes them: padded to the context length,
    read at the last position (pad id 1, unknown words 0)."""
    ids = torch.ones(len(texts), 16, dtype=torch.long)
    for row, text in enumerate(texts):
        words = [VOCAB.get(w.strip(".,").lower(), 0) for w in text.split()][:15]
        ids[row, : len(words)] = torch.tensor(words, dtype=torch.long)
    return ids


def _register(folder: Path, name: str, cfg: dict) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("configs")
    return {
        "mobileclip2": _register(folder, "mobileclip2-s0-small-text", MOBILECLIP2),
        "siglip2": _register(folder, "siglip2-b32-small-text", SIGLIP2),
    }


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("VIEWFINDER_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def mobileclip2(configs, cache) -> Encoder:
    return Encoder.load(ModelSpec(str(configs["mobileclip2"]), None), "cpu", precision="auto")


@pytest.fixture(scope="module")
def siglip2(configs, cache) -> Encoder:
    return Encoder.load(
        ModelSpec(str(configs["siglip2"]), None), "cpu", precision="auto", tokenizer=siglip_ids
    )


def _photos(encoder: Encoder, seed: int, n: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 255, (90 + 20 * i, 120, 3), dtype=np.uint8)) for i in range(n)]
    return np.stack([encoder.preprocess_array(im) for im in images])


def _torch_vectors(encoder: Encoder, pixels: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return forward.image_vectors(encoder.model, torch.from_numpy(pixels)).numpy()


@pytest.mark.parametrize("which", ["mobileclip2", "siglip2"])
def test_runtime_matches_torch_on_images_and_texts(which, request):
    encoder: Encoder = request.getfixturevalue(which)
    assert encoder.towers is not None and encoder.towers.has_text and not encoder.towers.causal
    pixels = _photos(encoder, seed=5)
    cos = (encoder.encode_images(pixels) * _torch_vectors(encoder, pixels)).sum(axis=1)
    assert cos.min() >= runtime.MIN_COSINE
    texts = ["a red circle", "snow", "a blue square in the corner of the dog"]
    with torch.inference_mode():
        want = forward.text_vectors(encoder.model, encoder.tokenize(texts)).numpy()
    got = encoder.encode_texts(texts)
    assert (got * want).sum(axis=1).min() >= runtime.MIN_COSINE
    assert (got[0] @ got[1]) < 0.999  # different texts differ: the check above is not vacuous
    verdict = runtime.cached_verdict(
        runtime.graph_dir(default_cache_dir(), encoder.spec.cache_key), encoder.towers.precision
    )
    assert verdict is not None and verdict.ok and verdict.text_cosine is not None


def test_mobileclip2_text_search_without_torch_tokenizer(mobileclip2):
    # MobileCLIP2 uses CLIP's tokenizer: the torch-free one and the cached text graph stand in.
    folder = runtime.graph_dir(default_cache_dir(), mobileclip2.spec.cache_key)
    query = runtime.text_query(folder, mobileclip2.towers.precision, lambda: mobileclip2)
    assert query is not None
    texts = ["a dog on the snow", "receipt"]
    np.testing.assert_allclose(query.encode_texts(texts), mobileclip2.encode_texts(texts), atol=1e-5)


def test_mobileclip2_is_reparameterised_without_changing_its_function(configs):
    open_clip.add_model_config(configs["mobileclip2"])
    name = configs["mobileclip2"].stem
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.create_model(name, pretrained=None).eval()
    pixels = torch.from_numpy(np.random.default_rng(1).normal(size=(2, 3, 128, 128)).astype(np.float32))
    with torch.inference_mode():
        before = forward.image_vectors(model, pixels)
        forward.reparameterize(model)
        after = forward.image_vectors(model, pixels)
    branches = [m for m in model.visual.trunk.modules() if hasattr(m, "reparameterize")]
    assert branches and all(getattr(m, "reparam_conv", None) is not None for m in branches)
    assert (before * after).sum(dim=1).min() > 0.9999


def test_mobileclip2_patches_average_to_the_photo_vector(mobileclip2):
    pixels = torch.from_numpy(_photos(mobileclip2, seed=3))
    assert mobileclip2.supports_patch_tokens
    with torch.inference_mode():
        pooled, patches, grid = forward._timm_patches(mobileclip2.model.visual, pixels, clearclip=False)
    assert grid == (4, 4) and patches.shape == (3, 16, 64)  # 128 px / 32
    # the head is linear after average pooling: the mean of the patch vectors is the photo's vector
    torch.testing.assert_close(patches.mean(dim=1), pooled, rtol=1e-4, atol=1e-4)
    got, _, grid2 = mobileclip2.image_tokens(pixels)
    np.testing.assert_allclose(got, _torch_vectors(mobileclip2, pixels.numpy()), atol=1e-5)
    assert grid2 == grid


def test_siglip2_patch_is_the_attention_pool_of_that_patch_alone(siglip2):
    pixels = torch.from_numpy(_photos(siglip2, seed=4, n=2))
    trunk = siglip2.model.visual.trunk
    with torch.inference_mode():
        pooled, patches, grid = forward.image_patches(siglip2.model, pixels)
        tokens = trunk.forward_features(pixels)
        alone = torch.stack([trunk.attn_pool(tokens[:, i : i + 1]) for i in (0, 17, 63)], dim=1)
        clear_pooled, clear, _ = forward.image_patches(siglip2.model, pixels, clearclip=True)
    assert grid == (8, 8) and patches.shape == (2, 64, 768)  # 256 px / 32
    torch.testing.assert_close(
        patches[:, [0, 17, 63]], torch.nn.functional.normalize(alone, dim=-1), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(pooled.numpy(), _torch_vectors(siglip2, pixels.numpy()), atol=1e-5)
    # ClearCLIP's last block changes the patches, never the photo's own vector
    torch.testing.assert_close(clear_pooled, pooled)
    assert (clear * patches).sum(-1).mean() < 0.99


@pytest.mark.parametrize("which", ["mobileclip2", "siglip2"])
def test_heatmap_from_timm_towers(which, request):
    encoder: Encoder = request.getfixturevalue(which)
    image = Image.fromarray(np.random.default_rng(2).integers(0, 255, (60, 80, 3), dtype=np.uint8))
    heatmap = compute_heatmap(encoder, image, "a red circle in the corner")
    rows, cols = heatmap.grid
    assert heatmap.words == ["red", "circle", "corner"] and heatmap.image_size == (80, 60)
    assert heatmap.text_map.shape == (rows, cols) and rows * cols > 1
    # each word's map is its own text vector against the patches: different words, different maps
    _, patches, _ = encoder.image_tokens(
        encoder.preprocess_image(squash_input(encoder, image))[None], clearclip=True
    )
    np.testing.assert_allclose(
        heatmap.maps["red"].ravel(), patches[0] @ encoder.encode_texts(["red"])[0], atol=1e-5
    )
    assert not np.allclose(heatmap.maps["red"], heatmap.maps["corner"])


def test_published_preprocessing_for_weights_without_a_tag(configs):
    model = open_clip.create_model(configs["mobileclip2"].stem, pretrained=None)
    _use_published_preprocessing(model, "MobileCLIP2-S0")  # a local MobileCLIP2-S0 checkpoint
    cfg = open_clip.get_model_preprocess_cfg(model)
    assert tuple(cfg["mean"]) == (0.0, 0.0, 0.0) and cfg["interpolation"] == "bilinear"
    _use_published_preprocessing(model, "ViT-B-32-SigLIP2-256")
    assert tuple(open_clip.get_model_preprocess_cfg(model)["mean"]) == (0.5, 0.5, 0.5)


def test_siglip2_without_its_tokenizer_fails_in_one_sentence_before_building(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    built = []
    monkeypatch.setattr(open_clip, "create_model", lambda *a, **k: built.append(a))
    with pytest.raises(ModelUnavailable, match="tokenizer") as info:
        Encoder.load(ModelSpec("ViT-B-32-SigLIP2-256", None), "cpu")
    assert "\n" not in str(info.value) and not built
