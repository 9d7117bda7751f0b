"""Text query latency through the whole engine: encode the text, search the index, fetch the rows.

    .venv/bin/python benchmarks/search_latency.py [--photos 100000] [--model ViT-B-32]

A library of N synthetic photo rows with clustered vectors (the model at random init: the same cost
as the pretrained one). Prints p50/p95 of Library.search for short queries, its parts (text encoding,
index search, row fetch) and recall@10 of the index against exact search. Target: p50 <= 25 ms at 100k.
"""

from __future__ import annotations

import argparse
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
        t = time.perf_counter()
        index = library.vector_index
        print(f"{args.photos} photos, {args.model}; index built in {time.perf_counter() - t:.0f} s")
        total, encode, search, fetch = [], [], [], []
        for _ in range(args.rounds):
            for text in QUERIES:
                t0 = time.perf_counter()
                hits = library.search(Query(text=text, k=50))
                total.append(time.perf_counter() - t0)
                assert len(hits) == 50
                t0 = time.perf_counter()
                vector = encoder.encode_texts([text])[0]
                t1 = time.perf_counter()
                found = index.search(vector, 58)
                t2 = time.perf_counter()
                library.store.photos.for_labels([label for label, _ in found], library.model.key)
                t3 = time.perf_counter()
                encode.append(t1 - t0), search.append(t2 - t1), fetch.append(t3 - t2)
        labels = sorted(index.labels())
        vectors = library.store.vectors.by_label(labels, encoder.dim)
        # Recall on queries off the photo distribution, as text queries are: a stored vector plus
        # noise as long as itself (cosine about 0.7 to it). Random-init text vectors would be
        # unrelated to synthetic photo vectors and make every score a tie.
        rng = np.random.default_rng(1)
        noise = rng.standard_normal((200, encoder.dim)).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        queries = vectors[rng.integers(0, len(vectors), 200)] + noise
        exact = [{labels[i] for i in np.argsort(-(vectors @ q))[:10]} for q in queries]
        recall = {}
        for ef in (64, 128, 256, 512):
            index.ef = ef
            t0 = time.perf_counter()
            found = [{label for label, _ in index.search(q, 10)} for q in queries]
            per_query = (time.perf_counter() - t0) / len(queries) * 1000
            recall[ef] = (np.mean([len(e & f) / 10 for e, f in zip(exact, found, strict=True)]), per_query)
        library.close()
    print(f"Library.search (encode + search + rows): {ms(total)}")
    print(f"  text encode:                           {ms(encode)}")
    print(f"  index search (k=58):                   {ms(search)}")
    print(f"  row fetch:                             {ms(fetch)}")
    for ef, (r, t) in recall.items():
        print(f"recall@10 vs exact search at ef {ef}: {r:.3f} ({t:.2f} ms/query)")
    p50 = statistics.median(total) * 1000
    print(f"target p50 <= 25 ms: {'met' if p50 <= 25 else 'MISSED'} ({p50:.1f} ms)")


if __name__ == "__main__":
    main()
