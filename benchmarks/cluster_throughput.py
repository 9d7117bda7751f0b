"""Indexing through a Ray cluster against local indexing, on the same machine, in one run.

    .venv/bin/python benchmarks/cluster_throughput.py [--photos 64] [--model ViT-B-32] [--batch-size 16]

Starts a local Ray cluster of one-CPU nodes (on the loopback) and indexes the same 12 MP JPEGs:
  local             Library.index() in this process
  cluster, N nodes  Library.index(cluster=...) with one model worker per node, the workers reading
                    the files themselves (path mapping /=/), for N = 1 and 2
  cluster, bytes    2 nodes, this process sending the photos' bytes (no path mapping)
For each: photos/s over the whole run (start-up included: connecting, shipping the model, starting
the actors), its ratio to local indexing, and the seconds until the first batch was written (the
start-up cost a large archive pays once). Model at random init (same cost as pretrained). On a shared 2-core machine the
cluster cannot beat local indexing: this measures the engine's overhead and how it scales.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# Ray then binds and connects on 127.0.0.1 only.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from index_throughput import make_photos  # noqa: E402

from engine.cluster import ClusterConfig  # noqa: E402
from engine.config import ModelSpec  # noqa: E402
from engine.encoder import Encoder  # noqa: E402
from engine.indexer import Progress  # noqa: E402
from engine.library import Library  # noqa: E402


def run(
    encoder: Encoder, folder: Path, library_dir: Path, batch_size: int, cluster: ClusterConfig | None
) -> tuple[float, float]:
    """(photos/s over the whole run, seconds until the first batch was written)."""
    library = Library(library_dir, encoder=encoder, batch_size=batch_size)
    library.add_folders([folder])
    library.scan()
    first: list[float] = []

    def progress(p: Progress) -> None:
        if p.phase == "indexing" and p.done and not first:
            first.append(time.perf_counter())

    start = time.perf_counter()
    result = library.index(progress, scan=False, cluster=cluster)
    elapsed = time.perf_counter() - start
    library.close()
    assert result.failed == 0 and result.done > 0, result
    return result.done / elapsed, first[0] - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=64)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    from ray.cluster_utils import Cluster

    encoder = Encoder.load(ModelSpec(args.model, None), "cpu")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        make_photos(folder, args.photos)
        print(f"{args.photos} photos of 12 MP, {args.model}, batch {args.batch_size}, {os.cpu_count()} cores")
        rows.append(("local", *run(encoder, folder, Path(tmp) / "local", args.batch_size, None)))
        store = 2 << 30  # room for the model's weights (600 MB) and photos in flight
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": store})
        try:
            for n, path_map in [(1, (("/", "/"),)), (2, (("/", "/"),)), (2, ())]:
                while len(nodes.worker_nodes) < n - 1:
                    nodes.add_node(num_cpus=1, object_store_memory=store)
                config = ClusterConfig(nodes.address, path_map=path_map, workers=n, cpus_per_worker=1)
                name = f"cluster, {n} node{'s' * (n > 1)}" + ("" if path_map else ", bytes")
                library_dir = Path(tmp) / name.replace(" ", "").replace(",", "-")
                rows.append((name, *run(encoder, folder, library_dir, args.batch_size, config)))
        finally:
            nodes.shutdown()
    local = rows[0][1]
    print(f"{'':24} {'photos/s':>9} {'vs local':>9} {'first batch after':>18}")
    for name, rate, first in rows:
        print(f"{name:24} {rate:9.2f} {rate / local:9.3f} {first:16.1f} s")


if __name__ == "__main__":
    main()
