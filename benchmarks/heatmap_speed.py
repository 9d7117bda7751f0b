"""Time to compute one photo's heatmap (every word plus the whole text) with ViT-B-32.

    .venv/bin/python benchmarks/heatmap_speed.py [--model ViT-B-32] [--runs 10]

Prints the median over runs of compute_heatmap alone (one image forward pass with the ClearCLIP last
block, one text pass for the words, one for the whole text), and of decode + compute for a camera
JPEG, the way the viewer does it. Model at random init (same cost as pretrained). Target: 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import ModelSpec  # noqa: E402
from engine.encoder import Encoder  # noqa: E402
from engine.heatmaps import compute_heatmap  # noqa: E402
from engine.photos import open_image  # noqa: E402

PHOTO = ROOT.parent / "shared/data/photos/jpg/mobile/HMD_Nokia_8.3_5G.jpg"
TEXT = "a brown dog asleep on the red sofa"


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    encoder = Encoder.load(ModelSpec(args.model, None), "cpu")
    image, meta = open_image(PHOTO, min_size=encoder.image_size)
    compute = median_ms(lambda: compute_heatmap(encoder, image, TEXT), args.runs)

    def decode_and_compute():
        photo, _ = open_image(PHOTO, min_size=encoder.image_size)
        return compute_heatmap(encoder, photo, TEXT)

    total = median_ms(decode_and_compute, args.runs)
    heatmap = compute_heatmap(encoder, image, TEXT)
    print(f"{args.model}, grid {heatmap.grid}, words {heatmap.words}")
    print(f"heatmap from a decoded photo:             {compute:6.1f} ms")
    print(f"decode {meta.width}x{meta.height} JPEG + heatmap:       {total:6.1f} ms")
    print(f"target <= 300 ms: {'met' if compute <= 300 else 'MISSED'}")


if __name__ == "__main__":
    main()
