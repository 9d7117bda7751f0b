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
    for name in PHOTOS:  # DSCN0010 is large enough to be shrunk first
        data = (sample_photos / name).read_bytes()
        orientation = read_metadata(data).orientation
        small = device_decode.shrink(
            device_decode.decode([data], "cpu")[0], orientation, tiny_encoder.image_size
        )
        upright = device_decode.upright(small, orientation)
        image, _ = open_image(data, min_size=tiny_encoder.image_size)
        got = device_decode.model_input(tiny_encoder, upright).numpy()
        want = tiny_encoder.preprocess_array(image)
        assert got.shape == want.shape and np.abs(got - want).mean() < 0.05
        vectors = tiny_encoder.encode_images(np.stack([got, want]))
        assert vectors[0] @ vectors[1] > 0.99
        on_device = np.array(device_decode.perceptual_hashes([upright]))
        assert hamming(on_device, np.array([perceptual_hash(image)]))[0] <= 4


def _photo_folder(sample_photos: Path, folder: Path) -> Path:
    """The JPEGs above, every EXIF orientation, a HEIC (decoded by the workers as usual) and a JPEG
    cut short (left to the workers, which record the damage that nvJPEG would pass over)."""
    folder.mkdir()
    for name in PHOTOS + ["heic/IMG_5195.HEIC"]:
        shutil.copy(sample_photos / name, folder / Path(name).name)
    for orientation in range(1, 9):
        name = f"landscape_{orientation}.jpg"
        shutil.copy(sample_photos / "jpg" / "orientation" / name, folder / name)
    data = (sample_photos / "jpg" / "exif-org" / "nikon-e950.jpg").read_bytes()
    (folder / "tail.jpg").write_bytes(data[:-15])
    return folder


def _assert_same_library(library, reference, folder: Path) -> None:
    status, want = library.status(), reference.status()
    assert status.photos == want.photos == len(PHOTOS) + 10 and not status.failures
    assert [f.path for f in status.damaged] == [str(folder / "tail.jpg")]
    key = library.model.key
    hashes, vectors = library.store.vectors.present(key)
    ref_hashes, ref_vectors = reference.store.vectors.present(key)
    assert sorted(hashes) == sorted(ref_hashes)
    order = [ref_hashes.index(h) for h in hashes]
    assert (vectors * ref_vectors[order]).sum(axis=1).min() > 0.99


def _indexed(make_library, name: str, folder: Path, **kwargs):
    library = make_library(name, **kwargs)
    library.add_folders([folder])
    library.index()
    return library


def _indexed_on_the_device(make_library, folder: Path, monkeypatch, delay: float = 0.0, **kwargs):
    """A library indexed with JPEGs decoded "on the device" (the CPU here), each call taking `delay`
    seconds longer; and the photos decoded there."""
    import time

    decoded_on_device = []
    original = indexer.decode_on_device

    def spy(encoder, batch):
        decoded_on_device.extend(item.path for item in batch if item.jpeg is not None)
        time.sleep(delay)
        original(encoder, batch)

    monkeypatch.setattr(indexer, "decodes_on_device", lambda encoder: True)
    monkeypatch.setattr(indexer, "decode_on_device", spy)
    return _indexed(make_library, "device", folder, **kwargs), decoded_on_device


def test_library_indexes_with_jpegs_decoded_on_the_device(make_library, sample_photos, tmp_path, monkeypatch):
    folder = _photo_folder(sample_photos, tmp_path / "photos")
    reference = _indexed(make_library, "cpu", folder)
    library, decoded_on_device = _indexed_on_the_device(make_library, folder, monkeypatch)
    assert sorted(Path(p).name for p in decoded_on_device) == sorted(
        p.name for p in folder.iterdir() if p.suffix == ".jpg" and p.name != "tail.jpg"
    )
    _assert_same_library(library, reference, folder)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_library_indexes_on_a_cuda_gpu(make_library, sample_photos, tiny_config, tmp_path):
    """The real GPU path: nvJPEG decoding and the model in half precision on CUDA agree with the CPU."""
    from engine.config import ModelSpec
    from engine.encoder import Encoder

    folder = _photo_folder(sample_photos, tmp_path / "photos")
    reference = _indexed(make_library, "cpu", folder)
    gpu = Encoder.load(ModelSpec(str(tiny_config), None), "cuda")
    assert indexer.decodes_on_device(gpu)
    _assert_same_library(_indexed(make_library, "cuda", folder, encoder=gpu), reference, folder)


def test_a_jpeg_cut_short_is_told_from_a_whole_one(sample_photos):
    for name in PHOTOS:  # some carry a thumbnail, with its own end marker, in their header
        data = (sample_photos / name).read_bytes()
        assert device_decode.is_complete(data) and device_decode.is_complete(data + b"trailer")
        assert not device_decode.is_complete(data[: len(data) // 2])


def test_workers_decode_what_a_busy_device_cannot_take(make_library, sample_photos, tmp_path, monkeypatch):
    """The device decodes at its own fixed rate: once two batches of JPEGs wait for it, the workers
    decode the next ones themselves, and the library comes out the same."""
    folder = _photo_folder(sample_photos, tmp_path / "photos")
    reference = _indexed(make_library, "cpu", folder)
    library, decoded_on_device = _indexed_on_the_device(make_library, folder, monkeypatch, 0.3, batch_size=2)
    jpegs = [p for p in folder.iterdir() if p.suffix == ".jpg" and p.name != "tail.jpg"]
    assert 0 < len(decoded_on_device) < len(jpegs)
    _assert_same_library(library, reference, folder)
