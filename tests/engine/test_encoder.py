"""The open_clip encoder on the tiny config: determinism, equivalence with open_clip, token outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

from engine.config import ModelSpec
from engine.encoder import Encoder, pick_device
from engine.errors import ModelUnavailable, ViewfinderError

TEXTS = [
    "a dog",
    "a photo of a labrador retriever playing in the snow at sunset with friends",
    "x",
    "café au lait",
    " ".join(["word"] * 100),  # longer than the context: cut at 77 tokens
]


@pytest.fixture(scope="module")
def encoder(tiny_config: Path) -> Encoder:
    return Encoder.load(ModelSpec(str(tiny_config), None), "cpu")


@pytest.fixture(scope="module")
def images(encoder: Encoder) -> torch.Tensor:
    rng = np.random.default_rng(0)
    pics = [Image.fromarray(rng.integers(0, 256, (80 + 13 * i, 70, 3), dtype=np.uint8)) for i in range(3)]
    return torch.stack([encoder.preprocess_image(p) for p in pics])


@pytest.fixture(scope="module")
def reference_preprocess(tiny_config: Path, encoder: Encoder):
    """open_clip's own eval transform for the tiny model (registered by loading the encoder)."""
    return open_clip.create_model_and_transforms(tiny_config.stem)[2]


def _open_clip_text(encoder: Encoder, texts: list[str]) -> np.ndarray:
    with torch.no_grad():
        return encoder.model.encode_text(encoder.tokenize(texts), normalize=True).numpy()


def _perturbed_state(encoder: Encoder) -> dict[str, torch.Tensor]:
    """Weights that differ from the seed-0 init, so a loaded checkpoint is distinguishable."""
    gen = torch.Generator().manual_seed(1)
    return {
        k: (v + 0.05 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v)
        .contiguous()
        .clone()
        for k, v in encoder.model.state_dict().items()
    }


def test_load_is_deterministic_and_leaves_global_rng_alone(tiny_config: Path, encoder: Encoder) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    again = Encoder.load(ModelSpec(str(tiny_config), None), "cpu")
    assert torch.equal(torch.rand(3), expected)
    first, second = encoder.model.state_dict(), again.model.state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert again.dim == 64
    assert again.image_size == (64, 64)
    assert not again.model.training


def test_encode_shapes_and_unit_norms(encoder: Encoder, images: torch.Tensor) -> None:
    img = encoder.encode_images(images)
    txt = encoder.encode_texts(TEXTS)
    assert img.shape == (3, 64) and img.dtype == np.float32
    assert txt.shape == (len(TEXTS), 64) and txt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1.0, atol=1e-5)
    assert encoder.encode_texts([]).shape == (0, 64)
    # Different photos, different texts: not one constant vector.
    assert np.abs(img[0] - img[1]).max() > 1e-3
    assert np.abs(txt[0] - txt[1]).max() > 1e-3


def test_truncated_text_encoding_equals_open_clip(encoder: Encoder) -> None:
    assert encoder.is_token_truncatable
    ours = encoder.encode_texts(TEXTS)
    np.testing.assert_allclose(ours, _open_clip_text(encoder, TEXTS), atol=1e-5)
    # A text alone gives the same vector as inside a batch padded to a longer neighbour.
    np.testing.assert_allclose(encoder.encode_texts(TEXTS[:1])[0], ours[0], atol=1e-5)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
@pytest.mark.parametrize("size", [(150, 97), (61, 200), (64, 64), (33, 20)])
def test_preprocess_matches_open_clip(
    reference_preprocess, encoder: Encoder, size: tuple[int, int], mode: str
) -> None:
    rng = np.random.default_rng(sum(size))
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)
    ours, theirs = encoder.preprocess_image(img), reference_preprocess(img)
    assert ours.shape == theirs.shape == (3, 64, 64)
    assert ours.dtype == torch.float32
    # Resampling only the crop may round a pixel one level differently (1/255/std ~ 0.015).
    assert float((ours - theirs).abs().max()) < 0.02
    assert float((ours - theirs).abs().mean()) < 1e-3


def test_preprocess_matches_open_clip_on_a_photo(
    reference_preprocess, encoder: Encoder, sample_photos: Path
) -> None:
    with Image.open(sample_photos / "jpg" / "Canon_PowerShot_S40.jpg") as photo:
        img = photo.convert("RGB")
    diff = (encoder.preprocess_image(img) - reference_preprocess(img)).abs()
    assert float(diff.max()) < 0.02 and float(diff.mean()) < 1e-3


def test_image_tokens_pooled_equals_encode_images(encoder: Encoder, images: torch.Tensor) -> None:
    expected = encoder.encode_images(images)
    for clearclip in (False, True):
        pooled, patches, grid = encoder.image_tokens(images, clearclip=clearclip)
        np.testing.assert_allclose(pooled, expected, atol=1e-5)
        assert grid == (8, 8)
        assert patches.shape == (3, 64, 64)
        np.testing.assert_allclose(np.linalg.norm(patches, axis=2), 1.0, atol=1e-5)


def test_raw_patches_equal_open_clip_output_tokens(encoder: Encoder, images: torch.Tensor) -> None:
    _, patches, _ = encoder.image_tokens(images)
    visual = encoder.model.visual
    visual.output_tokens = True
    try:
        with torch.no_grad():
            _, tokens = visual(images)
            tokens = tokens @ visual.proj
    finally:
        visual.output_tokens = False
    expected = F.normalize(tokens, dim=-1).numpy()
    np.testing.assert_allclose(patches, expected, atol=1e-5)


def _clearclip_reference(encoder: Encoder, images: torch.Tensor) -> np.ndarray:
    """ClearCLIP written out head by head, from the block's raw weights."""
    visual = encoder.model.visual
    with torch.no_grad():
        x = visual._embeds(images)
        for block in visual.transformer.resblocks[:-1]:
            x = block(x)
        last = visual.transformer.resblocks[-1]
        attn = last.attn
        h = last.ln_1(x)
        width, heads = h.shape[-1], attn.num_heads
        d = width // heads
        wq, _, wv = attn.in_proj_weight.split(width)
        bq, _, bv = attn.in_proj_bias.split(width)
        q, v = h @ wq.T + bq, h @ wv.T + bv
        outs = []
        for i in range(heads):
            qi, vi = q[..., i * d : (i + 1) * d], v[..., i * d : (i + 1) * d]
            weights = torch.softmax(qi @ qi.transpose(1, 2) / math.sqrt(d), dim=-1)
            outs.append(weights @ vi)
        out = attn.out_proj(torch.cat(outs, dim=-1))
        patches = visual.ln_post(out[:, 1:]) @ visual.proj
    return F.normalize(patches, dim=-1).numpy()


def test_clearclip_patches_follow_the_method_and_differ_from_raw(
    encoder: Encoder, images: torch.Tensor
) -> None:
    _, raw, _ = encoder.image_tokens(images)
    _, clear, _ = encoder.image_tokens(images, clearclip=True)
    np.testing.assert_allclose(clear, _clearclip_reference(encoder, images), atol=1e-5)
    assert np.abs(clear - raw).max() > 0.05


def test_text_tokens_equal_full_context_outputs(encoder: Encoder) -> None:
    text = "a labrador in the snow"
    tokens, vectors = encoder.text_tokens(text)
    assert tokens[0] == "a" and "snow" in tokens
    assert vectors.shape == (len(tokens), 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    model = encoder.model
    ids = encoder.tokenize([text])
    with torch.no_grad():
        x = model.token_embedding(ids) + model.positional_embedding
        x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask)) @ model.text_projection
    expected = F.normalize(x[0, 1 : 1 + len(tokens)], dim=-1).numpy()  # after SOT, before EOT
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_words_merge_sub_word_tokens(encoder: Encoder) -> None:
    text = "an antidisestablishmentarianism labrador, café"
    tokens, _ = encoder.text_tokens(text)
    words = encoder.words(text)
    assert [w for w, _ in words] == ["an", "antidisestablishmentarianism", "labrador", ",", "café"]
    long_word = dict(words)["antidisestablishmentarianism"]
    assert len(long_word) > 1
    assert "".join(tokens[i] for i in long_word) == "antidisestablishmentarianism"
    assert [i for _, idx in words for i in idx] == list(range(len(tokens)))


@pytest.mark.parametrize("fmt", ["safetensors", "pt"])
def test_local_checkpoint_round_trip(
    tiny_config: Path, encoder: Encoder, images: torch.Tensor, tmp_path: Path, fmt: str
) -> None:
    state = _perturbed_state(encoder)
    path = tmp_path / f"tuned.{fmt}"
    if fmt == "safetensors":
        save_file(state, str(path))
    else:  # the wrapped, DataParallel-prefixed layout training scripts write
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    loaded = Encoder.load(ModelSpec(str(tiny_config), str(path)), "cpu")
    reference = Encoder.load(ModelSpec(str(tiny_config), None), "cpu")
    reference.model.load_state_dict(state)
    np.testing.assert_allclose(loaded.encode_texts(TEXTS), reference.encode_texts(TEXTS), atol=1e-6)
    np.testing.assert_allclose(loaded.encode_images(images), reference.encode_images(images), atol=1e-6)
    assert np.abs(loaded.encode_images(images) - encoder.encode_images(images)).max() > 1e-3


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".bin"])
def test_corrupt_checkpoint_is_model_unavailable(tiny_config: Path, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\x00not a checkpoint" * 64)
    with pytest.raises(ModelUnavailable, match="broken"):
        Encoder.load(ModelSpec(str(tiny_config), str(path)), "cpu")


class _Payload:
    """A pickled object: torch.load(weights_only=True) must refuse to build it."""


def test_pickled_code_in_checkpoint_is_refused(tiny_config: Path, tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": _Payload()}, path)
    with pytest.raises(ModelUnavailable):
        Encoder.load(ModelSpec(str(tiny_config), str(path)), "cpu")


def test_checkpoint_of_another_architecture_is_refused(
    tiny_config: Path, encoder: Encoder, tmp_path: Path
) -> None:
    state = _perturbed_state(encoder)
    state.pop("visual.proj")
    path = tmp_path / "partial.safetensors"
    save_file(state, str(path))
    with pytest.raises(ModelUnavailable, match="does not fit"):
        Encoder.load(ModelSpec(str(tiny_config), str(path)), "cpu")


def test_missing_checkpoint_file(tiny_config: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="does not exist"):
        Encoder.load(ModelSpec(str(tiny_config), str(tmp_path / "nowhere.safetensors")), "cpu")


def test_pretrained_tag_offline_points_to_a_local_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailable) as info:
        Encoder.load(ModelSpec("ViT-B-32", "datacomp_xl_s13b_b90k"), "cpu", cache_dir=str(tmp_path))
    message = str(info.value)
    assert "no network" in message and "local checkpoint" in message
    assert "ViT-B-32" in message and len(message.splitlines()) == 1


def test_unknown_model_name_suggests_valid_ones() -> None:
    with pytest.raises(ModelUnavailable, match="ViT-B-32"):
        Encoder.load(ModelSpec("ViT-B-33", None), "cpu")


def test_unknown_pretrained_tag_lists_tags() -> None:
    with pytest.raises(ModelUnavailable, match="no_such_tag.*openai"):
        Encoder.load(ModelSpec("ViT-B-32", "no_such_tag"), "cpu")


def test_bad_config_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-model.json"
    path.write_text(json.dumps({"embed_dim": 8}))
    with pytest.raises(ModelUnavailable, match="vision_cfg"):
        Encoder.load(ModelSpec(str(path), None), "cpu")


def test_bidirectional_text_tower_and_avg_pool(tiny_config: Path, tmp_path: Path) -> None:
    """A SigLIP-like text tower (no causal mask, last-token pool) must use open_clip's full path."""
    cfg = json.loads(tiny_config.read_text())
    cfg["text_cfg"].update(no_causal_mask=True, pool_type="last")
    cfg["vision_cfg"]["pool_type"] = "avg"
    path = tmp_path / "tiny-clip-bidir.json"
    path.write_text(json.dumps(cfg))
    enc = Encoder.load(ModelSpec(str(path), None), "cpu")
    assert not enc.is_token_truncatable
    np.testing.assert_allclose(enc.encode_texts(TEXTS), _open_clip_text(enc, TEXTS), atol=1e-5)
    batch = torch.stack([enc.preprocess_image(Image.new("RGB", (90, 70), c)) for c in ("red", "navy")])
    pooled, patches, grid = enc.image_tokens(batch, clearclip=True)
    np.testing.assert_allclose(pooled, enc.encode_images(batch), atol=1e-5)
    assert patches.shape == (2, 64, 64) and grid == (8, 8)
    with pytest.raises(ViewfinderError):
        enc.text_tokens("a dog")


def test_pick_device() -> None:
    assert pick_device("cpu") == "cpu"
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert pick_device("auto") == "cpu"
    with pytest.raises(ViewfinderError, match="tpu"):
        pick_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_forced_cuda_without_gpu_is_a_clear_error() -> None:
    with pytest.raises(ViewfinderError, match="cuda") as info:
        pick_device("cuda")
    assert len(str(info.value).splitlines()) == 1
