"""Indexing throughput on camera-size JPEGs, against the model-only ceiling, in one run.

    .venv/bin/python benchmarks/index_throughput.py [--photos 96] [--model ViT-B-32] [--batch-size 32]
        [--rclip /tmp/rclip33] [--rounds 2] [--compare-hints]

Prints photos/s for:
  ceiling   already-preprocessed tensors straight into the same model at the same batch size
  viewfinder  Library.index(): read + hash + draft decode + preprocess in workers, overlapped with the model
  naive     decode at full size, then preprocess, then the model, one after the other (what a simple
            CLIP indexer such as rclip does)
  rclip     with --rclip DIR (rclip 3.3 and the one package it needs that Viewfinder lacks, installed
            there: pip install --no-deps --target DIR rclip==3.3 "pi-heif<2"):
            rclip's own indexing (RClip.ensure_index) in a subprocess, on the same photos and the same
            architecture (--model defaults to ViT-B-32-256, rclip's): its ONNX image graph is exported
            here from the same random-init model into its data folder, so it never downloads
and the ratios to viewfinder. Model at random init (same cost as pretrained).

With --device cuda it also indexes with every JPEG decoded on the GPU (nvJPEG) and with every JPEG
decoded by the CPU workers, beside the default split between them, and prints the share of photos
decoded on the GPU and the GPU's own utilisation (NVML) during each run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import indexer, runtime  # noqa: E402
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
    """The model alone: one batch of already-preprocessed photos, already on the model's device,
    embedded len(paths) / batch_size times (decoding every photo at full size would take minutes)."""
    tensors = []
    for p in paths[:batch_size]:
        with Image.open(p) as im:
            tensors.append(encoder.preprocess_image(ImageOps.exif_transpose(im.convert("RGB"))))
    batch = torch.stack(tensors)
    batch = batch if encoder.towers is not None else batch.to(encoder.device)
    encoder.encode_images(batch)  # warm-up
    rounds = max(1, len(paths) // len(tensors))
    start = time.perf_counter()
    for _ in range(rounds):
        encoder.encode_images(batch)
    return rounds * len(tensors) / (time.perf_counter() - start)


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


MODEL_BUSY: list[float] = []  # per viewfinder run: the share of its time the model side was working
DEVICE_DECODE: list[float] = []  # per run: the share of its time spent decoding JPEGs on the device
ON_DEVICE: list[float] = []  # per run: the share of its photos decoded on the device
GPU_BUSY: list[float] = []  # per run on CUDA: the GPU's own utilisation, sampled by NVML


def _sample_gpu(stop: threading.Event, samples: list[int]) -> None:
    while not stop.wait(0.05):
        samples.append(torch.cuda.utilization())


def viewfinder(encoder: Encoder, folder: Path, library_dir: Path, batch_size: int) -> float:
    """Photos/s of Library.index(); records in MODEL_BUSY the share of the run spent in the model
    side (on a GPU: JPEG decoding there plus the model, synchronised), the pipeline's bottleneck
    when near 1."""
    cuda = str(encoder.device).startswith("cuda")
    busy = {"embed": 0.0, "decode": 0.0}
    on_device = [0]
    originals = indexer.embed_batch, indexer.decode_on_device

    def count(encoder: Encoder, batch: list) -> None:
        on_device[0] += sum(item.jpeg is not None for item in batch)
        originals[1](encoder, batch)

    def timer(name: str, work):
        def timed(*args):
            start = time.perf_counter()
            out = work(*args)
            if cuda:
                torch.cuda.synchronize()
            busy[name] += time.perf_counter() - start
            return out

        return timed

    library = Library(library_dir, encoder=encoder, batch_size=batch_size)
    library.add_folders([folder])
    library.scan()
    indexer.embed_batch = timer("embed", originals[0])
    indexer.decode_on_device = timer("decode", count)
    stop, samples = threading.Event(), []
    sampler = threading.Thread(target=_sample_gpu, args=(stop, samples)) if cuda else None
    try:
        if sampler is not None:
            sampler.start()
        start = time.perf_counter()
        result = library.index(scan=False)
        elapsed = time.perf_counter() - start
    finally:
        stop.set()
        if sampler is not None:
            sampler.join()
        indexer.embed_batch, indexer.decode_on_device = originals
    library.close()
    assert result.failed == 0 and result.done > 0
    MODEL_BUSY.append(busy["embed"] / elapsed)
    DEVICE_DECODE.append(busy["decode"] / elapsed)
    ON_DEVICE.append(on_device[0] / result.done)
    if samples:
        GPU_BUSY.append(statistics.mean(samples) / 100)
    return result.done / elapsed


def stages(encoder: Encoder, paths: list[Path], batch_size: int) -> dict[str, float]:
    """Per-photo CPU time (ms of one core) of each indexing stage, each run alone on one thread."""
    from engine.indexer import content_hash
    from engine.phash import perceptual_hash
    from engine.photos import open_image

    n = len(paths)
    datas: list[bytes] = []
    images, arrays = [], []
    costs: dict[str, float] = {}

    def timed(stage: str, work) -> None:
        start = time.thread_time()
        work()
        costs[stage] = 1000 * (time.thread_time() - start) / n

    timed("read + hash", lambda: [content_hash(datas.append(p.read_bytes()) or datas[-1]) for p in paths])
    timed(
        "decode (draft)", lambda: images.extend(open_image(d, min_size=encoder.image_size)[0] for d in datas)
    )
    timed("preprocess", lambda: arrays.extend(encoder.preprocess_array(im) for im in images))
    timed("perceptual hash", lambda: [perceptual_hash(im) for im in images])
    batch = np.stack(arrays[:batch_size])
    encoder.encode_images(batch)  # warm-up
    start = time.process_time()  # the model's own threads count too
    encoder.encode_images(batch)
    costs["model"] = 1000 * (time.process_time() - start) / len(batch)
    return costs


_RCLIP_RUNNER = """
import sys, time
from rclip.main import init_rclip
folder, batch_size = sys.argv[1], int(sys.argv[2])
rclip, model, database = init_rclip(folder, batch_size, no_indexing=True)
model._session_visual  # load the ONNX session before timing, as viewfinder's encoder is loaded
start = time.perf_counter()
rclip.ensure_index(folder)
elapsed = time.perf_counter() - start
indexed = sum(1 for _ in database.get_image_vectors_by_dir_path(folder))
database.close()
print(indexed, elapsed)
"""


def rclip_setup(rclip_dir: Path, work: Path, model_name: str) -> Path:
    """rclip 3.3's data folder with its model files made here (no download): the ONNX image graph of
    the same random-init `model_name`, the tokenizer vocabulary from open_clip."""
    import open_clip

    sys.path.insert(0, str(rclip_dir))
    from rclip import model_download

    data = work / "rclip-data"
    graphs = data / model_download.MODEL_SUBDIR
    graphs.mkdir(parents=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.create_model(model_name, pretrained=None).eval()
    size = model.visual.image_size
    with torch.enable_grad():  # no_grad would take torch's fused attention, which ONNX lacks
        torch.onnx.export(
            model.visual,
            (torch.zeros(2, 3, *size),),
            str(graphs / model_download.VISUAL_ONNX),
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "n"}, "output": {0: "n"}},
        )
    (graphs / model_download.TEXTUAL_ONNX).write_bytes(b"")  # present for its check; indexing never loads it
    vocab = data / model_download.TOKENIZER_VOCAB
    vocab.parent.mkdir(parents=True)
    shutil.copy(Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz", vocab)
    return data


def rclip_index(rclip_dir: Path, data: Path, folder: Path) -> tuple[float, int]:
    """(photos/s, photos indexed) of rclip 3.3's own indexing of `folder` from scratch, with its
    default batch size (8), its threads and ONNX Runtime, in a fresh process."""
    (data / "db.sqlite3").unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(rclip_dir), "RCLIP_DATADIR": str(data), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _RCLIP_RUNNER, str(folder), "8"],
        env=env,
        capture_output=True,
        text=True,
        cwd=folder,
    )
    if done.returncode != 0:
        raise SystemExit(f"rclip failed:\n{done.stderr[-3000:]}")
    count, elapsed = done.stdout.strip().splitlines()[-1].split()
    indexed = int(count)  # counted by rclip's own database
    return indexed / float(elapsed), indexed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=96)
    parser.add_argument("--model", default=None, help="default ViT-B-32; ViT-B-32-256 (rclip's) with --rclip")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", help="auto, fp32, bf16, int8, or torch")
    parser.add_argument("--rclip", type=Path, default=None, help="a folder holding rclip 3.3 (see above)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive pipeline")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the indexers this many times")
    parser.add_argument(
        "--compare-hints",
        action="store_true",
        help="also index with the image graph compiled for latency (all cores on one request)",
    )
    args = parser.parse_args()
    args.model = args.model or ("ViT-B-32-256" if args.rclip else "ViT-B-32")
    encoder = Encoder.load(ModelSpec(args.model, None), args.device, precision=args.precision)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photos(Path(tmp) / "photos", args.photos)
        with Image.open(paths[0]) as im:
            print(
                f"{args.photos} photos of {im.width}x{im.height} ({im.width * im.height / 1e6:.1f} MP,"
                f" {paths[0].stat().st_size / 1e6:.1f} MB),"
                f" {args.model}, batch {args.batch_size}, device {encoder.device},"
                f" runtime {'OpenVINO ' + encoder.towers.precision if encoder.towers else 'torch'},"
                f" torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}"
            )
        costs = stages(encoder, paths[: min(len(paths), 32)], args.batch_size)
        folder, work = Path(tmp) / "photos", Path(tmp)
        rclip_data = rclip_setup(args.rclip, work, args.model) if args.rclip else None
        streams = encoder.towers
        latency_towers = (
            runtime.Towers(streams.folder, streams.precision, streams.meta, image_hint="LATENCY")
            if args.compare_hints and streams is not None
            else None
        )
        rates: dict[str, list[float]] = {}
        for r in range(args.rounds):  # alternate, so that the machine's load drifts over all alike
            rates.setdefault("ceiling (model only)", []).append(ceiling(encoder, paths, args.batch_size))
            rates.setdefault("viewfinder index", []).append(
                viewfinder(encoder, folder, work / f"library-{r}", args.batch_size)
            )
            if rclip_data is not None:
                rates.setdefault("rclip 3.3 index", []).append(rclip_index(args.rclip, rclip_data, folder)[0])
            if latency_towers is not None:
                encoder.towers = latency_towers
                rates.setdefault("ceiling, latency-compiled image graph", []).append(
                    ceiling(encoder, paths, args.batch_size)
                )
                rates.setdefault("index, latency-compiled image graph", []).append(
                    viewfinder(encoder, folder, work / f"library-latency-{r}", args.batch_size)
                )
                encoder.towers = streams
            if str(encoder.device).startswith("cuda"):  # where the JPEGs are decoded, side by side
                queue = indexer.DEVICE_QUEUE_BATCHES
                indexer.DEVICE_QUEUE_BATCHES = 10**6
                rates.setdefault("index, every JPEG decoded on the GPU", []).append(
                    viewfinder(encoder, folder, work / f"library-gpu-{r}", args.batch_size)
                )
                indexer.DEVICE_QUEUE_BATCHES = queue
                decodes = indexer.decodes_on_device
                indexer.decodes_on_device = lambda encoder: False
                rates.setdefault("index, every JPEG decoded by the workers", []).append(
                    viewfinder(encoder, folder, work / f"library-cpu-{r}", args.batch_size)
                )
                indexer.decodes_on_device = decodes
            if not args.no_naive:
                rates.setdefault("naive decode-then-embed", []).append(naive(encoder, paths, args.batch_size))
    for name, values in rates.items():
        each = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:40} {statistics.median(values):6.2f} photos/s  (rounds: {each})")
    ours = rates["viewfinder index"]
    for name, values in rates.items():
        if name != "viewfinder index":
            ratios = [a / b for a, b in zip(ours, values, strict=True)]
            print(
                f"viewfinder / {name:27} {statistics.median(ratios):6.3f}  (rounds: "
                + " ".join(f"{x:.2f}" for x in ratios)
                + ")"
            )
    print("model side busy during viewfinder index runs: " + " ".join(f"{100 * b:.0f}%" for b in MODEL_BUSY))
    if any(ON_DEVICE):
        print("  of which JPEG decoding on the device: " + " ".join(f"{100 * b:.0f}%" for b in DEVICE_DECODE))
        print("photos decoded on the device: " + " ".join(f"{100 * b:.0f}%" for b in ON_DEVICE))
    if GPU_BUSY:
        print("GPU utilisation (NVML) during those runs: " + " ".join(f"{100 * b:.0f}%" for b in GPU_BUSY))
    print("per-photo core time by stage (ms of one core):")
    for stage, ms in costs.items():
        print(f"  {stage:22} {ms:7.1f}")
    cores = os.cpu_count() or 1
    print(f"  limit on {cores} cores if all overlap: {1000 * cores / sum(costs.values()):6.1f} photos/s")
    print(f"load at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
