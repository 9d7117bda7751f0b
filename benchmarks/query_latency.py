"""Search latency and recall of VectorIndex against exact numpy search, on synthetic clustered vectors.

Photo vectors are modelled as unit vectors around `--clusters` gaussian centres; queries are noisier
vectors around centres, standing in for text queries, which lie off the photo distribution.
Reports per query: hnswlib p50/p95 ms, recall@10 against exact search, exact numpy ms, and the
ratio. Also times save + load (load includes the file check) and, if the encoder is available,
encoding one text query with a randomly initialised ViT-B-32 (same cost as the trained one).

    .venv/bin/python benchmarks/query_latency.py --sizes 100000
    .venv/bin/python benchmarks/query_latency.py --sizes 100000,1000000 --ef 64,128
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.vector_index import VectorIndex  # noqa: E402

log = logging.getLogger("query_latency")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int, centres: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors around random centres; `noise` is the length of the offset before normalising."""
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):  # in chunks: float64 temporaries for 1M x 512 would need 4 GB
        m = min(100_000, n - start)
        offsets = rng.standard_normal((m, dim), dtype=np.float32) * (noise / np.sqrt(dim))
        out[start : start + m] = unit(centres[rng.integers(0, len(centres), m)] + offsets)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k labels (row numbers) per query, by blocks of rows to bound memory."""
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 0), np.int64)
    for start in range(0, len(vectors), 200_000):
        scores = queries @ vectors[start : start + 200_000].T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        best_s = np.concatenate([best_s, np.take_along_axis(scores, top, 1)], axis=1)
        best_i = np.concatenate([best_i, top + start], axis=1)
        keep = np.argsort(-best_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_i


def exact_one(vectors: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """What a brute-force search would do for one query: one matrix-vector product, then top-k."""
    scores = vectors @ query
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def percentile_ms(times: list[float], q: float) -> float:
    return float(np.percentile(times, q) * 1e3)


def bench_size(n: int, args: argparse.Namespace, centres: np.ndarray, rng: np.random.Generator) -> None:
    t = time.perf_counter()
    vectors = clustered(n, args.dim, centres, args.noise, rng)
    queries = clustered(args.queries, args.dim, centres, args.query_noise, rng)
    print(f"\n== {n:,} vectors, dim {args.dim} (generated in {time.perf_counter() - t:.1f} s)", flush=True)

    t = time.perf_counter()
    index = VectorIndex.build(np.arange(n), vectors, args.dim, M=args.M, ef_construction=args.ef_construction)
    build_s = time.perf_counter() - t
    print(
        f"build: {build_s:.1f} s ({n / build_s:,.0f} vectors/s, M={args.M}, ef_construction={args.ef_construction})"
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vectors.hnsw"
        t = time.perf_counter()
        index.save(path)
        save_s = time.perf_counter() - t
        t = time.perf_counter()
        loaded = VectorIndex.load(path, args.dim)
        load_s = time.perf_counter() - t
        assert loaded is not None and len(loaded) == n
        print(
            f"save: {save_s:.2f} s, load (with file check): {load_s:.2f} s, file {path.stat().st_size / 2**20:.0f} MiB"
        )
        del loaded

    truth = exact_top(vectors, queries, 10)
    exact_times = []
    for q in queries[: args.exact_queries]:
        t = time.perf_counter()
        exact_one(vectors, q, 10)
        exact_times.append(time.perf_counter() - t)
    exact_p50 = percentile_ms(exact_times, 50)
    print(f"exact numpy: p50 {exact_p50:.2f} ms, p95 {percentile_ms(exact_times, 95):.2f} ms per query")

    print(f"{'ef':>5} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>10} {'exact/hnsw (p50)':>17}")
    for ef in args.ef:
        index.ef = ef
        times, found = [], 0
        for q, true in zip(queries, truth, strict=True):
            t = time.perf_counter()
            hits = index.search(q, 10)
            times.append(time.perf_counter() - t)
            found += len({label for label, _ in hits} & set(true.tolist()))
        p50 = percentile_ms(times, 50)
        recall = found / truth.size
        print(
            f"{ef:>5} {p50:>8.3f} {percentile_ms(times, 95):>8.3f} {recall:>10.4f} {exact_p50 / p50:>16.1f}x"
        )


def bench_text_encode(n_queries: int) -> None:
    try:
        from engine.config import ModelSpec
        from engine.encoder import Encoder
    except ImportError as e:
        print(f"\n(text encoding skipped: {e})")
        return
    # Random init: the cost is the architecture's, and nothing is downloaded.
    encoder = Encoder.load(ModelSpec(name="ViT-B-32", pretrained=None), device="cpu")
    texts = [f"a dog playing on the beach at sunset number {i}" for i in range(n_queries)]
    encoder.encode_texts(texts[:2])  # warm-up
    times = []
    for text in texts:
        t = time.perf_counter()
        encoder.encode_texts([text])
        times.append(time.perf_counter() - t)
    print(
        f"\ntext encode (ViT-B-32, one query, CPU): p50 {percentile_ms(times, 50):.1f} ms, "
        f"p95 {percentile_ms(times, 95):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated index sizes")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument(
        "--noise", type=float, default=0.8, help="offset length of photo vectors from centres"
    )
    parser.add_argument(
        "--query-noise", type=float, default=1.2, help="offset length of queries from centres"
    )
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--exact-queries", type=int, default=50, help="queries timed with exact search")
    parser.add_argument("--ef", default="32,64,128,256", help="comma-separated ef values to sweep")
    parser.add_argument("--M", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--text-queries", type=int, default=20, help="0 skips text encoding")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.ef = [int(x) for x in args.ef.split(",")]
    logging.basicConfig(level=logging.WARNING)

    rng = np.random.default_rng(args.seed)
    centres = unit(rng.standard_normal((args.clusters, args.dim)))
    for n in (int(float(x)) for x in args.sizes.split(",")):
        bench_size(n, args, centres, rng)
    if args.text_queries:
        bench_text_encode(args.text_queries)


if __name__ == "__main__":
    main()
