"""Indexing throughput on camera-size JPEGs, against the model-only ceiling, in one run.

    .venv/bin/python benchmarks/index_throughput.py [--photos 96] [--model ViT-B-32] [--batch-size 32]

Prints photos/s for:
  ceiling   already-preprocessed tensors straight into the same model at the same batch size
  viewfinder  Library.index(): read + hash + draft decode + preprocess in workers, overlapped with the model
  naive     decode at full size, then preprocess, then the model, one after the other (what a simple
            CLIP indexer such as rclip does)
and the ratios viewfinder/ceiling and viewfinder/naive. Model at random init (same cost as pretrained).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import ModelSpec  # noqa: E402
from engine.encoder import Encoder  # noqa: E402
from engine.library import Library  # noqa: E402

SOURCES = [
    ROOT.parent / "shared/data/photos/jpg/mobile/jolla.jpg",
    ROOT.parent / "shared/data/photos/jpg/mobile/HMD_Nokia_8.3_5G.jpg",
]


def make_photos(folder: Path, n: int) -> list[Path]:
    """n distinct 12 MP camera JPEGs (4000x3000, quality 92, with the samples' EXIF, about 4 MB like
    a phone's): the sample photos scaled up once with sensor-like noise added, then copied with a
    unique trailer after the image (distinct content hashes, identical decode cost)."""
    folder.mkdir(parents=True)
    bases = []
    for i, src in enumerate(SOURCES):
        with Image.open(src) as im:
            base = folder / f"base{i}.jpeg.tmp"
            pixels = np.asarray(im.convert("RGB").resize((4000, 3000), Image.Resampling.LANCZOS), np.float32)
            pixels += np.random.default_rng(i).normal(0, 4, pixels.shape).astype(np.float32)
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(
                base, "JPEG", quality=92, exif=im.info.get("exif", b"")
            )
            bases.append(base.read_bytes())
            base.unlink()
    paths = []
    for i in range(n):
        dest = folder / f"IMG_{i:04d}.jpg"
        dest.write_bytes(bases[i % len(bases)] + f"viewfinder-benchmark-{i}".encode())
        paths.append(dest)
    return paths


def ceiling(encoder: Encoder, paths: list[Path], batch_size: int) -> float:
    tensors = []
    for p in paths:
        with Image.open(p) as im:
            tensors.append(encoder.preprocess_image(ImageOps.exif_transpose(im.convert("RGB"))))
    encoder.encode_images(torch.stack(tensors[:batch_size]))  # warm-up
    start = time.perf_counter()
    for i in range(0, len(tensors), batch_size):
        encoder.encode_images(torch.stack(tensors[i : i + batch_size]))
    return len(tensors) / (time.perf_counter() - start)


def naive(encoder: Encoder, paths: list[Path], batch_size: int) -> float:
    start = time.perf_counter()
    batch = []
    for p in paths:
        with Image.open(p) as im:
            batch.append(encoder.preprocess_image(ImageOps.exif_transpose(im.convert("RGB"))))
        if len(batch) == batch_size:
            encoder.encode_images(torch.stack(batch))
            batch = []
    if batch:
        encoder.encode_images(torch.stack(batch))
    return len(paths) / (time.perf_counter() - start)


def viewfinder(encoder: Encoder, folder: Path, library_dir: Path, batch_size: int) -> float:
    library = Library(library_dir, encoder=encoder, batch_size=batch_size)
    library.add_folders([folder])
    library.scan()
    start = time.perf_counter()
    result = library.index(scan=False)
    elapsed = time.perf_counter() - start
    library.close()
    assert result.failed == 0 and result.done > 0
    return result.done / elapsed


def stages(encoder: Encoder, paths: list[Path], batch_size: int) -> dict[str, float]:
    """Per-photo CPU time (ms of one core) of each indexing stage, each run alone on one thread."""
    from engine.indexer import content_hash
    from engine.photos import open_image

    datas, arrays = [], []
    start = time.thread_time()
    for p in paths:
        datas.append(p.read_bytes())
        content_hash(datas[-1])
    read_hash = time.thread_time() - start
    start = time.thread_time()
    for data in datas:
        image, _ = open_image(data, min_size=encoder.image_size)
        arrays.append(encoder.preprocess_array(image))
    decode = time.thread_time() - start
    batch = np.stack(arrays[:batch_size])
    encoder.encode_images(batch)  # warm-up
    start = time.process_time()  # the model's own threads count too
    encoder.encode_images(batch)
    model = (time.process_time() - start) / len(batch)
    n = len(paths)
    return {"read + hash": 1000 * read_hash / n, "decode + preprocess": 1000 * decode / n, "model": 1000 * model}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=96)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", help="auto, fp32, bf16, int8, or torch")
    args = parser.parse_args()
    encoder = Encoder.load(ModelSpec(args.model, None), args.device, precision=args.precision)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photos(Path(tmp) / "photos", args.photos)
        with Image.open(paths[0]) as im:
            print(f"{args.photos} photos of {im.width}x{im.height} ({im.width * im.height / 1e6:.1f} MP,"
                  f" {paths[0].stat().st_size / 1e6:.1f} MB),"
                  f" {args.model}, batch {args.batch_size}, device {encoder.device},"
                  f" runtime {'OpenVINO ' + encoder.towers.precision if encoder.towers else 'torch'},"
                  f" torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}")
        costs = stages(encoder, paths[: min(len(paths), 32)], args.batch_size)
        top = ceiling(encoder, paths, args.batch_size)
        ours = viewfinder(encoder, Path(tmp) / "photos", Path(tmp) / "library", args.batch_size)
        simple = naive(encoder, paths, args.batch_size)
    print(f"ceiling (model only):   {top:6.2f} photos/s")
    print(f"viewfinder index:       {ours:6.2f} photos/s")
    print(f"naive decode-then-embed:{simple:6.2f} photos/s")
    print(f"viewfinder / ceiling:   {ours / top:6.3f}")
    print(f"viewfinder / naive:     {ours / simple:6.3f}")
    print("per-photo core time by stage (ms of one core):")
    for stage, ms in costs.items():
        print(f"  {stage:22} {ms:7.1f}")
    cores = os.cpu_count() or 1
    print(f"  limit on {cores} cores if all overlap: {1000 * cores / sum(costs.values()):6.1f} photos/s")


if __name__ == "__main__":
    main()
