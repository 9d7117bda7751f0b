"""JPEG decoding on the model's device (nvJPEG on a GPU): every step runs on the CPU too, and is
checked here against the CPU indexer's own path. CI has no GPU; the CUDA speed is measured by
benchmarks/index_throughput.py --device cuda where one is lent."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from engine import device_decode, indexer
from engine.phash import hamming, perceptual_hash
from engine.photos import open_image, read_metadata

pytest.importorskip("torchvision")

PHOTOS = ["jpg/Canon_40D.jpg", "jpg/Nikon_D70.jpg", "jpg/gps/DSCN0010.jpg", "jpg/exif-org/kodak-dc240.jpg"]


def _decoded(path: Path) -> tuple[torch.Tensor, int]:
    data = path.read_bytes()
    image = device_decode.decode([data], "cpu")[0]
    return device_decode.upright(image, read_metadata(data).orientation), read_metadata(data).orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_turns_as_exif_says(sample_photos, orientation):
    path = sample_photos / "jpg" / "orientation" / f"landscape_{orientation}.jpg"
    got, seen = _decoded(path)
    with Image.open(path) as im:
        want = np.asarray(ImageOps.exif_transpose(im).convert("RGB")).transpose(2, 0, 1).astype(np.int16)
    assert seen == orientation and tuple(got.shape) == want.shape
    assert np.abs(got.numpy().astype(np.int16) - want).mean() < 3  # two libjpeg builds, same picture


def test_model_input_and_hash_match_the_cpu_path(sample_photos, tiny_encoder):
    for name in PHOTOS:
        upright, _ = _decoded(sample_photos / name)
        image, _ = open_image(sample_photos / name)
        got = device_decode.model_input(tiny_encoder, upright).numpy()
        want = tiny_encoder.preprocess_array(image)
        assert got.shape == want.shape and np.abs(got - want).mean() < 0.05
        vectors = tiny_encoder.encode_images(np.stack([got, want]))
        assert vectors[0] @ vectors[1] > 0.99
        assert (
            hamming(np.array([device_decode.perceptual_hash(upright)]), np.array([perceptual_hash(image)]))[0]
            <= 4
        )


def test_library_indexes_with_jpegs_decoded_on_the_device(make_library, sample_photos, tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS + ["heic/IMG_5195.HEIC"]:  # HEIC: decoded by the workers as usual
        shutil.copy(sample_photos / name, folder / Path(name).name)
    data = (sample_photos / "jpg" / "exif-org" / "nikon-e950.jpg").read_bytes()
    (folder / "tail.jpg").write_bytes(data[:-15])  # cut short: refused on the device, kept on the CPU
    reference = make_library("cpu")
    reference.add_folders([folder])
    reference.index()
    decoded_on_device = []
    original = indexer.decode_on_device

    def spy(encoder, batch):
        decoded_on_device.extend(item.path for item in batch if item.jpeg is not None)
        original(encoder, batch)

    monkeypatch.setattr(indexer, "decodes_on_device", lambda encoder: True)
    monkeypatch.setattr(indexer, "decode_on_device", spy)
    library = make_library("device")
    library.add_folders([folder])
    library.index()
    assert sorted(Path(p).name for p in decoded_on_device) == sorted(
        [Path(n).name for n in PHOTOS] + ["tail.jpg"]
    )
    status, want = library.status(), reference.status()
    assert status.photos == want.photos == len(PHOTOS) + 2 and not status.failures
    assert [f.path for f in status.damaged] == [str(folder / "tail.jpg")]
    key = library.model.key
    hashes, vectors = library.store.vectors.present(key)
    ref_hashes, ref_vectors = reference.store.vectors.present(key)
    assert sorted(hashes) == sorted(ref_hashes)
    order = [ref_hashes.index(h) for h in hashes]
    assert (vectors * ref_vectors[order]).sum(axis=1).min() > 0.99
