"""Calibration's cost per text query at 100k photos: the bank alone, the lexicon as rivals, the
lexicon and 14 past searches; warm, and the first time a query asks about its photos.

Synthetic unit vectors (512 dimensions): half the photos hold one concept (a query above the cut on
many photos), the rest one of 39 others; a text is the generic direction plus noise, plus its
concept for the texts "c0".."c39". Prints the cheapest and the median of 30 runs side by side (the
machine's load moves the medians). Usage: python benchmarks/calibration_latency.py [--photos 100000]
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a script from any folder
sys.path.insert(0, str(ROOT / "tests"))

from relevance import table_of  # noqa: E402

from engine.calibration import Calibrator  # noqa: E402

DIM = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    generic = rng.normal(size=DIM)
    generic /= np.linalg.norm(generic)
    concepts = rng.normal(size=(40, DIM))
    concepts /= np.linalg.norm(concepts, axis=1, keepdims=True)
    which = np.where(rng.random(args.photos) < 0.5, 0, rng.integers(1, 40, args.photos))
    photos = 2 * generic + concepts[which] + 6.4 * rng.normal(size=(args.photos, DIM)) / np.sqrt(DIM)
    photos = (photos / np.linalg.norm(photos, axis=1, keepdims=True)).astype(np.float32)

    def encode(texts: list[str]) -> np.ndarray:
        out = []
        for text in texts:
            noise = np.random.default_rng(zlib.crc32(text.encode())).normal(size=DIM)
            vector = 3 * generic + 3 * noise / np.sqrt(DIM)
            if text[0] == "c" and text[1:].isdigit():
                vector = vector + 1.5 * concepts[int(text[1:])]
            out.append(vector / np.linalg.norm(vector))
        return np.stack(out).astype(np.float32)

    table, rows = table_of(photos), np.arange(args.photos)
    past = tuple(f"c{i}" for i in range(1, 15))
    calibrators = {
        "bank only": Calibrator(encode, lexicon=()),
        "lexicon": Calibrator(encode),
        "lexicon + 14 past searches": Calibrator(encode, rivals=lambda: past),
    }
    for calibrator in calibrators.values():
        calibrator.background(table)
        calibrator.logits(table, rows, encode(["c39"])[0], text="c39")  # the lexicon's vectors encoded
    for query in ("c0", "c3"):
        vector = encode([query])[0]
        above = int((calibrators["bank only"].z(table, rows, vector) > 2).sum())
        print(f"query {query}: {above} photos above the bank's cut of {args.photos}")
        for name, calibrator in calibrators.items():
            start = time.perf_counter()
            calibrator.logits(table, rows, vector, text=query)
            first = time.perf_counter() - start
            times = []
            for _ in range(30):
                start = time.perf_counter()
                calibrator.logits(table, rows, vector, text=query)
                times.append(time.perf_counter() - start)
            print(
                f"  {name:28s} warm: cheapest {min(times) * 1e3:.2f} ms, median {np.median(times) * 1e3:.2f} ms;"
                f" first query {first * 1e3:.1f} ms"
            )


if __name__ == "__main__":
    main()
