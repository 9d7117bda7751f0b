"""Text query latency through the whole engine: encode the text, search the index, fetch the rows.

    .venv/bin/python benchmarks/search_latency.py [--photos 100000] [--model ViT-B-32]

A library of N synthetic photo rows with clustered vectors (the model at random init: the same cost
as the pretrained one). Prints p50/p95 of Library.search for short queries, its parts (text encoding,
the scan of every photo vector, the rest of the pipeline: calibration, stages, top-k order, rows).
Search scans every vector, so its recall is 1.0; benchmarks/large_index.py measures the vector
index's graph at a million. Target: p50 <= 12 ms at 100k.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from synthetic_library import add_vectors  # noqa: E402

from engine.config import ModelSpec  # noqa: E402
from engine.library import Library  # noqa: E402
from engine.search import Query  # noqa: E402

QUERIES = [
    "dog on the beach", "sunset", "birthday cake with candles", "red car", "snowy mountains",
    "a cat sleeping on a sofa", "wedding", "city at night", "my kids playing football", "forest trail",
]


def ms(samples: list[float]) -> str:
    s = sorted(samples)
    return f"p50 {statistics.median(s) * 1000:6.1f} ms   p95 {s[int(len(s) * 0.95) - 1] * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        library = Library(Path(tmp) / "library", model=ModelSpec(args.model, None), device="cpu")
        encoder = library.encoder()
        folder = Path(tmp) / "photos"
        folder.mkdir()
        library.add_folders([folder])
        library.store.photos.apply_scan(str(folder), [(f"{folder}/{i:07d}.jpg", 1, 0.0) for i in range(args.photos)], [], [])
        add_vectors(library, np.random.default_rng(0), encoder.dim)
        print(f"{args.photos} photos, {args.model}")
        total, encode, scan = [], [], []
        text_encoder = library.text_encoder()
        table = library.search_parts()[0].current()
        for _ in range(args.rounds):
            for text in QUERIES:
                t0 = time.perf_counter()
                hits = library.search(Query(text=text, k=50))
                total.append(time.perf_counter() - t0)
                assert len(hits) == 50
                t0 = time.perf_counter()
                vector = text_encoder.encode_texts([text])[0]
                t1 = time.perf_counter()
                table.matrix @ vector
                t2 = time.perf_counter()
                encode.append(t1 - t0), scan.append(t2 - t1)
        library.close()
    rest = [t - e - s for t, e, s in zip(total, encode, scan, strict=True)]
    print(f"load {os.getloadavg()[0]:.1f}")
    print(f"Library.search (encode + scan + pipeline + rows): {ms(total)}")
    print(f"  text encode:                                   {ms(encode)}")
    print(f"  scan of every photo vector:                    {ms(scan)}")
    print(f"  the rest (stages, order, rows), by difference:  {ms(rest)}")
    p50 = statistics.median(total) * 1000
    print(f"target p50 <= 12 ms: {'met' if p50 <= 12 else 'MISSED'} ({p50:.1f} ms)")


if __name__ == "__main__":
    main()
