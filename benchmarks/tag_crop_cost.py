"""What training's close look at a tag costs per photo (engine/tag_crops.py), side by side.

Each photo the tag's search ranks first is decoded once and cut at the place the window cache
points at. Cut there only, it costs one encode; cut also around it (`_place`: the first try,
then twice 6 places around the best so far), 13; from a lattice of 9 first tries (no window
cache), 21. A later look at the same photos cut at the same places reads its cut-outs back
(engine/cut_cache.py: "placed again"). Prints the seconds per photo of each, and their ratios, on camera JPEGs with
ViT-B-32 at random init (what a user's ViT-B-32 costs). Usage: python
benchmarks/tag_crop_cost.py [--photos N] [--model ViT-B-32] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a script from any folder

from engine import tag_crops  # noqa: E402
from engine.config import ModelSpec  # noqa: E402
from engine.cut_cache import CutOutCache  # noqa: E402
from engine.encoder import Encoder  # noqa: E402

PHOTOS = sorted((ROOT / "tests" / "data" / "photos" / "jpg").glob("*.jpg"))
BOX = (0.3, 0.25, 0.65, 0.6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    encoder = Encoder.load(ModelSpec(args.model, None), args.device)
    paths = [str(p) for p in (PHOTOS * (args.photos // len(PHOTOS) + 1))[: args.photos]]

    def photos() -> list[tag_crops._Photo]:  # each copy of a file its own photo, as in a library
        return [tag_crops._Photo(p, f"{i}") for i, p in enumerate(paths)]

    def empty() -> CutOutCache:
        return CutOutCache(None, "")

    keys, key_shapes, _ = tag_crops._encode(encoder, [(p, BOX) for p in photos()[:30]], empty())
    looks = [keys] if key_shapes is None else [keys, key_shapes]
    lattice = tag_crops._lattice([BOX])
    seen = empty()  # what a look kept: the next look at the same photos reads it

    def one_cut() -> object:
        return tag_crops._encode(encoder, [(p, BOX) for p in photos()], empty())

    def placed(cache: CutOutCache | None = None) -> object:
        return tag_crops._cut_outs(encoder, [(p, [BOX], None) for p in photos()], looks, cache or empty())

    def from_lattice() -> object:
        return tag_crops._cut_outs(encoder, [(p, lattice, None) for p in photos()], looks, empty())

    one_cut()  # warm-up: the first calls allocate and pick kernels
    placed(seen)
    seconds = {}
    runs = (
        ("one cut-out", one_cut),
        ("placed (13)", placed),
        ("lattice (21)", from_lattice),
        ("placed again", lambda: placed(seen)),  # cut where it was: read back, nothing decoded
    )
    for name, run in runs:
        start = time.perf_counter()
        run()
        seconds[name] = (time.perf_counter() - start) / len(paths)
    base = seconds["one cut-out"]
    print(
        f"{args.model} on {args.device}, {len(paths)} camera JPEGs, decoded at {tag_crops.DECODE_SIZE} pixels"
    )
    for name, s in seconds.items():
        print(
            f"  {name:14s} {s * 1000:7.1f} ms a photo  x{s / base:5.1f}  {np.ceil(250 * s):4.0f} s for 250 photos"
        )


if __name__ == "__main__":
    main()
