"""Re-indexing a library of N unchanged files: the time `viewfinder index` takes when nothing changed.

    .venv/bin/python benchmarks/reindex_unchanged.py [--files 100000] [--dim 512]

Builds N small photo files in nested folders and a library that already holds them (rows and
vectors written directly, index file saved), then times Library.index() on the unchanged tree, next to
the floor: a bare os.walk + stat of the same tree. Target: under 3 s for 100k files.
"""

from __future__ import annotations

import argparse
import os
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

JPEG = (ROOT / "tests/data/photos/jpg/Canon_40D.jpg").read_bytes()  # attribution: tests/data/ATTRIBUTION.md


def build(folder: Path, library_dir: Path, n: int, dim: int) -> Library:
    for i in range(n):
        sub = folder / f"{i // 10000:02d}" / f"{i // 500:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"IMG_{i:06d}.jpg").write_bytes(JPEG[:2048] + i.to_bytes(4, "little"))
    library = Library(library_dir, model=ModelSpec("synthetic", None))
    library.add_folders([folder])
    library.scan()
    add_vectors(library, np.random.default_rng(0), dim)
    _ = library.vector_index  # builds and saves the index file
    library.close()
    return Library(library_dir)


def walk_floor(folder: Path) -> int:
    count = 0
    for root, _, files in os.walk(folder):
        for name in files:
            os.stat(os.path.join(root, name))
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--keep", type=Path, help="build the files and library here once and reuse them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or Path(scratch)
        if not (Path(tmp) / "library").exists():
            t = time.perf_counter()
            library = build(Path(tmp) / "photos", Path(tmp) / "library", args.files, args.dim)
            print(f"set-up: {args.files} files and a library of them in {time.perf_counter() - t:.0f} s")
            library.close()
        start = time.perf_counter()
        library = Library(Path(tmp) / "library")
        result = library.index()
        library.close()
        ours = time.perf_counter() - start
        assert result.done == 0, "something was re-embedded"
        start = time.perf_counter()
        walked = walk_floor(Path(tmp) / "photos")
        floor = time.perf_counter() - start
    print(f"re-index of {walked} unchanged files (open library, scan, diff, index sync, save): {ours:.2f} s")
    print(f"bare os.walk + stat of the same tree:                                 {floor:.2f} s")
    print(f"ratio: {ours / floor:.1f}x the file-system floor; target < 3 s: {'met' if ours < 3 else 'MISSED'}")
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
