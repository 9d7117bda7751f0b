"""What a query that names a personal tag costs at a real model's sizes, first and again.

    .venv/bin/python benchmarks/tag_query.py [--photos 3000] [--rounds 3]

A library of synthetic photos with vectors and patch grids of ViT-B-32's sizes (512 dimensions,
7 x 7 cells; the cost does not depend on what the numbers mean), 30 of them tagged "rex" with a
highlight box. Times Library.search (k 50) for: the first query that names the tag (the window
cache is fitted and the 500 candidates are matched view by view, engine/tag_windows.py); the same
query again, as when it is re-sorted or filtered; and a refined query ("rex on the beach"). Each
round first tags one more photo, so that its first query fits the cache anew. A query without a
tag beside them. Then one more photo is tagged and the tag prepared as the app does when a tag
changes (Library.prepare_tag, in the background), and the first query after it timed; and the first
query of a new Library on the same folder, as a new process makes it (the fit is kept in the library,
engine/tag_fits.py). Prints p50 of each and the first / again ratio, measured in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# isort: off
import engine  # noqa: E402, F401  (before numpy: it sets numpy's threads up as the app has them)
import numpy as np  # noqa: E402
# isort: on

from synthetic_library import add_vectors  # noqa: E402

from engine.config import ModelSpec  # noqa: E402
from engine.library import Library  # noqa: E402
from engine.search import Query  # noqa: E402
from engine.tags import Highlight, add_tag  # noqa: E402


def timed(library: Library, text: str) -> float:
    began = time.perf_counter()
    library.search(Query(text=text, k=50))
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tagged", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        library = Library(Path(tmp) / "library", model=ModelSpec("ViT-B-32", None), device="cpu")
        folder = Path(tmp) / "photos"
        folder.mkdir()
        library.add_folders([folder])
        paths = [f"{folder}/{i:07d}.jpg" for i in range(args.photos)]
        library.store.photos.apply_scan(str(folder), [(p, 1, 0.0) for p in paths], [], [])
        dim = library.encoder().dim
        add_vectors(library, rng, dim)
        key = library.model.key
        hashes, _ = library.store.vectors.present(key)
        grids = rng.standard_normal((len(hashes), 7, 7, dim)).astype(np.float32)
        library.store.grids.add(key, dict(zip(hashes, grids, strict=True)))
        for path in paths[: args.tagged]:
            x, y, side = (float(v) for v in rng.uniform([0.0, 0.0, 0.3], [0.5, 0.5, 0.5]))
            add_tag(library.store, path, "rex", [Highlight("rex", (x, y, x + side, y + side))])
        timed(library, "a dog")  # the text model and the photo table, once
        times: dict[str, list[float]] = {}
        for round in range(args.rounds):  # each round tags one more photo: a tag the search has not fitted
            extra = paths[args.tagged + round]
            add_tag(library.store, extra, "rex", [Highlight("rex", (0.1, 0.1, 0.5, 0.5))])
            times.setdefault("first query naming the tag (fitted)", []).append(timed(library, "rex"))
            times.setdefault("the same query again", []).append(timed(library, "rex"))
            times.setdefault('refined ("rex on the beach")', []).append(timed(library, "rex on the beach"))
            times.setdefault("a query naming no tag", []).append(timed(library, "a dog on the beach"))
            # the app fits a changed tag in the background (Library.prepare_tag) before it is searched
            extra = paths[args.tagged + args.rounds + round]
            add_tag(library.store, extra, "rex", [Highlight("rex", (0.2, 0.2, 0.6, 0.6))])
            began = time.perf_counter()
            library.prepare_tag("rex")
            times.setdefault("prepare_tag in the background", []).append(time.perf_counter() - began)
            times.setdefault("first query after prepare_tag", []).append(timed(library, "rex"))
            # a new process (a command-line search, the app restarted) reads the fit kept in the library
            library.close()
            library = Library(Path(tmp) / "library", model=ModelSpec("ViT-B-32", None), device="cpu")
            timed(library, "a dog")  # the text model and the photo table, once
            times.setdefault("first query in a new process (fit kept)", []).append(timed(library, "rex"))
        library.close()
    print(f"{args.photos} photos, {args.tagged} tagged with boxes, ViT-B-32 sizes; load {os.getloadavg()[0]:.1f}")
    p50 = {label: statistics.median(values) * 1000 for label, values in times.items()}
    for label, value in p50.items():
        print(f"  {label:40s} p50 {value:7.1f} ms")
    first, again = p50["first query naming the tag (fitted)"], p50["the same query again"]
    print(f"first / again: {first / again:.1f}x")


if __name__ == "__main__":
    main()
