"""How long one photo's heatmap takes with ViT-B-32 (random init) on this CPU.

Prints the median milliseconds of `compute_heatmap` on an already decoded photo, and of decode +
heatmap for a 12 MP JPEG (decoded at reduced scale, as `viewfinder heatmap --json` does), against
the 300 ms budget. Usage: python benchmarks/heatmap_speed.py [PHOTO] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a script from any folder

from engine.config import ModelSpec  # noqa: E402
from engine.encoder import Encoder  # noqa: E402
from engine.heatmaps import compute_heatmap, overlay  # noqa: E402
from engine.photos import open_image  # noqa: E402

DEFAULT_PHOTO = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos" / "jpg" / "mobile" / "jolla.jpg"
BUDGET_MS = 300.0
TEXT = "a brown dog running on the beach"


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: first calls allocate and pick kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", nargs="?", default=str(DEFAULT_PHOTO))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--model", default="ViT-B-32", help="open_clip model name (random init)")
    args = parser.parse_args()
    encoder = Encoder.load(ModelSpec(args.model, None), "cpu")
    image, meta = open_image(args.photo, min_size=encoder.image_size)
    full, _ = open_image(args.photo)
    print(f"photo {args.photo}: {meta.width}x{meta.height}, decoded at {image.size[0]}x{image.size[1]}")
    for clearclip in (True, False):
        ms = median_ms(lambda c=clearclip: compute_heatmap(encoder, image, TEXT, clearclip=c), args.repeats)
        print(f"heatmap only (clearclip={clearclip}): {ms:7.1f} ms  ({ms / BUDGET_MS:.2f} of budget)")

    def decode_and_map() -> None:
        img, _ = open_image(args.photo, min_size=encoder.image_size)
        compute_heatmap(encoder, img, TEXT)

    ms = median_ms(decode_and_map, args.repeats)
    print(f"decode + heatmap:                 {ms:7.1f} ms  ({ms / BUDGET_MS:.2f} of budget)")
    heatmap = compute_heatmap(encoder, image, TEXT)
    ms = median_ms(lambda: overlay(full, heatmap.text_map, 0.5), max(3, args.repeats // 3))
    print(f"overlay on the full {full.size[0]}x{full.size[1]} photo: {ms:7.1f} ms")


if __name__ == "__main__":
    main()
